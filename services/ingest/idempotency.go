package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/schemas"
)

func dedupKey(source, key string) string { return source + "/" + key }

// newDedupCodec returns the codec of commerce.ingest.dedup values
// (IdempotencyRecord, generated from schemas/idempotency_record.avsc in
// avro_gen.go); a record without an event id is refused.
func newDedupCodec(reg *avroserde.Registry, topic string) *avroserde.Codec[IdempotencyRecord] {
	return avroserde.NewGeneratedCodec(reg, topic, schemas.IdempotencyRecord, avroserde.Generated[IdempotencyRecord]{
		Native: IdempotencyRecord.Native, FromNative: IdempotencyRecordFromNative,
		Append: AppendIdempotencyRecordAvro, FromAvro: IdempotencyRecordFromAvro,
		Check: func(d IdempotencyRecord) error {
			if d.EventID == "" {
				return errors.New("decoding IdempotencyRecord: event_id is empty")
			}
			return nil
		},
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
			s.log.Warn("skipping unreadable idempotency record", zap.String(observe.KeyTopic, topic),
				zap.Int32(observe.KeyPartition, r.Partition), zap.Int64(observe.KeyOffset, r.Offset), zap.Error(err))
			return
		}
		s.dedup.observe(dedupKey(d.Source, d.IdempotencyKey), d.EventID, d.AcceptedAt)
	}
	start := time.Now()
	if err := kafkax.CatchUp(ctx, cl, topic, apply); err != nil {
		cl.Close()
		return err
	}
	s.log.Info("idempotency index loaded", zap.Int("keys", s.dedup.size()), zap.Duration(observe.KeyTook, time.Since(start)))
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
