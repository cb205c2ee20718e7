package dlq

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/topics"
)

// Record is one dead letter shown in full.
type Record struct {
	kafkax.RecordMeta
	// DeadLetter spells out the surge.dlq.* headers.
	DeadLetter DeadLetter `json:"dead_letter"`
	// Replay is set when the record had been replayed before.
	Replay *ReplayMark `json:"replay,omitempty"`
	// Value is the value decoded from Avro with its writer's schema, as
	// JSON; null when it does not decode (see ValueError, ValueBase64).
	Value       json.RawMessage `json:"value"`
	ValueError  string          `json:"value_error,omitempty"`
	ValueBase64 string          `json:"value_base64,omitempty"`
	// ReplaysTo is the topic a replay writes this record to ("" when it
	// cannot be replayed: its surge.dlq.topic is not a Surge stage's input).
	ReplaysTo string `json:"replays_to"`
	// Attempts is a delivery's attempt history from
	// commerce.delivery-attempts, oldest first (deliveries DLQ only).
	Attempts []Attempt `json:"attempts,omitempty"`
}

// DeadLetter is what the surge.dlq.* headers say.
type DeadLetter struct {
	Stage         string `json:"stage"`
	Class         string `json:"class"`
	Error         string `json:"error"`
	Attempts      string `json:"attempts"`
	HTTPStatus    string `json:"http_status,omitempty"`
	AWSErrorCode  string `json:"aws_error_code,omitempty"`
	FromTopic     string `json:"from_topic"`
	FromPartition string `json:"from_partition"`
	FromOffset    string `json:"from_offset"`
	FirstFailure  string `json:"first_failure"`
	LastFailure   string `json:"last_failure"`
}

// ReplayMark is the replay a record last came through.
type ReplayMark struct {
	ID    string `json:"id"`
	Count int    `json:"count"`
}

// Attempt is one HTTP attempt of a delivery.
type Attempt struct {
	Attempt    int32     `json:"attempt"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS float64   `json:"duration_ms"`
	Status     int32     `json:"status"`
	Outcome    string    `json:"outcome"`
	Error      string    `json:"error,omitempty"`
	URL        string    `json:"url"`
	ReplayID   string    `json:"replay_id,omitempty"` // the attempt was made for this replay
}

// Record returns the dead letter at partition and offset of topic, with
// its attempt history for a delivery. ErrNotFound when there is none
// (out of range, or a transaction marker).
func (s *Service) Record(ctx context.Context, topic string, partition int32, offset int64) (*Record, error) {
	full, kind, spans, err := s.topicBounds(ctx, topic)
	if err != nil {
		return nil, err
	}
	sp, ok := spans[partition]
	if !ok {
		return nil, fmt.Errorf("%s has no partition %d (it has %d): %w", full, partition, len(spans), ErrNotFound)
	}
	if offset < sp.from || offset >= sp.end {
		return nil, fmt.Errorf("%s/%d has no record at offset %d (it holds offsets %d to %d): %w", full, partition, offset, sp.from, sp.end-1, ErrNotFound)
	}
	var found *kgo.Record
	err = s.scan(ctx, full, map[int32]span{partition: {offset, sp.end}}, func(r *kgo.Record) error {
		if r.Offset == offset && !r.Attrs.IsControl() {
			found = r
		}
		return errStop
	}, nil)
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("%s/%d@%d is a transaction marker or an aborted record, not a dead letter: %w", full, partition, offset, ErrNotFound)
	}
	return s.view(ctx, kind, found)
}

// FindEvent returns every dead letter of topic carrying event id, in
// partition and offset order. It reads the whole topic.
func (s *Service) FindEvent(ctx context.Context, topic, id string, tick func(Progress)) ([]*Record, error) {
	full, kind, spans, err := s.topicBounds(ctx, topic)
	if err != nil {
		return nil, err
	}
	var hits []*kgo.Record
	err = s.scan(ctx, full, spans, func(r *kgo.Record) error {
		if r.Attrs.IsControl() {
			return nil
		}
		if h := header(r, topics.HeaderEventID); h != "" {
			if h == id {
				hits = append(hits, r)
			}
			return nil
		}
		l, err := s.decode(ctx, kind, r)
		if err != nil {
			return err
		}
		if l.eventID() == id {
			hits = append(hits, r)
		}
		return nil
	}, tick)
	if err != nil {
		return nil, err
	}
	if len(hits) == 0 {
		return nil, fmt.Errorf("no dead letter of event %s in %s: %w", id, full, ErrNotFound)
	}
	slices.SortFunc(hits, func(a, b *kgo.Record) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	out := make([]*Record, 0, len(hits))
	for _, r := range hits {
		v, err := s.view(ctx, kind, r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// view builds the Record of r, with a delivery's attempts.
func (s *Service) view(ctx context.Context, kind Kind, r *kgo.Record) (*Record, error) {
	v, d, err := s.describe(ctx, kind, r)
	if err != nil {
		return nil, err
	}
	if d != nil {
		if v.Attempts, err = s.attemptsOf(ctx, d); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// describe builds the Record of r without its attempts, and returns the
// delivery it holds (nil for an event or a value that does not decode).
func (s *Service) describe(ctx context.Context, kind Kind, r *kgo.Record) (*Record, *event.Delivery, error) {
	v := &Record{
		RecordMeta: kafkax.MetaOf(r),
		DeadLetter: DeadLetter{
			Stage:         header(r, topics.HeaderDLQStage),
			Class:         header(r, topics.HeaderDLQErrorClass),
			Error:         header(r, topics.HeaderDLQError),
			Attempts:      header(r, topics.HeaderDLQAttempts),
			HTTPStatus:    header(r, topics.HeaderDLQHTTPStatus),
			AWSErrorCode:  header(r, topics.HeaderDLQAWSErrorCode),
			FromTopic:     header(r, topics.HeaderDLQTopic),
			FromPartition: header(r, topics.HeaderDLQPartition),
			FromOffset:    header(r, topics.HeaderDLQOffset),
			FirstFailure:  header(r, topics.HeaderDLQFirstFailure),
			LastFailure:   header(r, topics.HeaderDLQLastFailure),
		},
	}
	if n := replayCount(r); n > 0 {
		v.Replay = &ReplayMark{ID: header(r, topics.HeaderReplayID), Count: n}
	}
	js, err := s.cfg.Registry.DecodeJSON(ctx, r.Value)
	if err != nil {
		var perm error
		if terr := transient(err, &perm); terr != nil {
			return nil, nil, terr
		}
		v.Value = json.RawMessage("null")
		v.ValueError = err.Error()
		v.ValueBase64 = base64.StdEncoding.EncodeToString(r.Value)
	} else {
		v.Value = js
	}
	v.ReplaysTo, _ = s.target(kind, r)
	if kind != KindDeliveries {
		return v, nil, nil
	}
	l, err := s.decode(ctx, kind, r)
	if err != nil {
		return nil, nil, err
	}
	return v, l.delivery, nil
}

// attemptsOf reads d's attempts from commerce.delivery-attempts.
func (s *Service) attemptsOf(ctx context.Context, d *event.Delivery) ([]Attempt, error) {
	all, err := s.attemptsOfMany(ctx, []*event.Delivery{d})
	return all[d.ID], err
}

// target is the topic a replay writes r to: commerce.deliveries for a
// delivery, the surge.dlq.topic of an event when it is one of the event
// stages' inputs. ok is false when r cannot be replayed.
func (s *Service) target(kind Kind, r *kgo.Record) (string, bool) {
	if kind == KindDeliveries {
		return s.cfg.Names.Name(topics.Deliveries), true
	}
	from := header(r, topics.HeaderDLQTopic)
	for _, base := range []string{topics.EventsRaw, topics.EventsEnriched} {
		if from == s.cfg.Names.Name(base) {
			return from, true
		}
	}
	return "", false
}

// pinnedPartition is the partition number a replayed record keeps when
// its key is unchanged: the one it was dead-lettered from (the DLQ
// mirrors its source's partitions).
func pinnedPartition(r *kgo.Record) int32 {
	if p, err := strconv.ParseInt(strings.TrimSpace(header(r, topics.HeaderDLQPartition)), 10, 32); err == nil && p >= 0 {
		return int32(p)
	}
	return r.Partition
}
