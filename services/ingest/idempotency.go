package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/topics"
)

// idempotencySchema names schemas/idempotency_record.avsc.
const idempotencySchema = "idempotency_record"

// dedupRecord is the value of a commerce.ingest.dedup record.
type dedupRecord struct {
	Source     string
	Key        string
	EventID    string
	AcceptedAt time.Time
}

func dedupKey(source, key string) string { return source + "/" + key }

func newDedupCodec(reg *avroserde.Registry, topic string) *avroserde.Codec[dedupRecord] {
	return avroserde.NewCodec(reg, topic, idempotencySchema,
		func(d dedupRecord) map[string]any {
			return map[string]any{
				"source":          d.Source,
				"idempotency_key": d.Key,
				"event_id":        d.EventID,
				"accepted_at":     d.AcceptedAt,
			}
		},
		func(v any) (dedupRecord, error) {
			m, ok := v.(map[string]any)
			if !ok {
				return dedupRecord{}, fmt.Errorf("decoding IdempotencyRecord: want a record, got %T", v)
			}
			var d dedupRecord
			d.Source, _ = m["source"].(string)
			d.Key, _ = m["idempotency_key"].(string)
			d.EventID, _ = m["event_id"].(string)
			d.AcceptedAt, _ = m["accepted_at"].(time.Time)
			if d.EventID == "" {
				return d, fmt.Errorf("decoding IdempotencyRecord: event_id is empty")
			}
			return d, nil
		})
}

// loadDedup reads the idempotency topic to its end into the index, then
// keeps tailing it in the background so keys accepted by other instances
// are known here too.
func (s *Service) loadDedup(ctx context.Context) error {
	topic := s.names.Name(topics.IngestDedup)
	cl, err := kgo.NewClient(kafkax.ClientOpts(s.cfg.Kafka, s.log,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return fmt.Errorf("creating idempotency reader: %w", err)
	}
	apply := func(r *kgo.Record) {
		d, err := s.dedups.Decode(ctx, r.Value)
		if err != nil {
			// An unreadable record only weakens dedup for one key; it is
			// not an event, so there is nothing to dead-letter.
			s.log.Warn("skipping unreadable idempotency record", zap.String("topic", topic),
				zap.Int32("partition", r.Partition), zap.Int64("offset", r.Offset), zap.Error(err))
			return
		}
		s.dedup.observe(dedupKey(d.Source, d.Key), d.EventID, d.AcceptedAt)
	}
	start := time.Now()
	if err := kafkax.CatchUp(ctx, cl, topic, apply); err != nil {
		cl.Close()
		return err
	}
	s.log.Info("idempotency index loaded", zap.Int("keys", s.dedup.size()), zap.Duration("took", time.Since(start)))
	s.tail = cl
	tailCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		expire := time.NewTicker(time.Minute)
		defer expire.Stop()
		for {
			fetches := cl.PollFetches(tailCtx)
			if tailCtx.Err() != nil || fetches.IsClientClosed() {
				return
			}
			fetches.EachRecord(func(r *kgo.Record) {
				if !r.Attrs.IsControl() {
					apply(r)
				}
			})
			select {
			case <-expire.C:
				s.dedup.expire()
			default:
			}
		}
	}()
	return nil
}
