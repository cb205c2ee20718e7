package inspect

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/topics"
)

// Bounds of Attempts.
const (
	// DefaultAttempts is how many attempts Attempts returns when asked
	// for none in particular; MaxAttempts the most it returns.
	DefaultAttempts = 50
	MaxAttempts     = 500
	// AttemptsWindow is how many of the newest records of each partition
	// of commerce.delivery-attempts Attempts reads: the topic is keyed by
	// delivery id, so a subscription's attempts are on every partition,
	// and "recent" means within that window.
	AttemptsWindow = 5000
)

// Attempt is one HTTP attempt of a delivery, as the dispatcher logged it.
type Attempt struct {
	DeliveryID      string            `json:"delivery_id"`
	EventID         string            `json:"event_id"`
	EntityKey       string            `json:"entity_key"`
	Attempt         int32             `json:"attempt"`
	URL             string            `json:"url"`
	StartedAt       time.Time         `json:"started_at"`
	DurationMS      float64           `json:"duration_ms"`
	Status          int32             `json:"status"` // 0: no response
	Outcome         string            `json:"outcome"`
	Error           string            `json:"error,omitempty"`
	ResponseHeaders map[string]string `json:"response_headers"`
	// ResponseBody is the start of the response body (the dispatcher
	// keeps its first 4 KiB).
	ResponseBody  string     `json:"response_body"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	Partition     int32      `json:"partition"`
	Offset        int64      `json:"offset"`
}

// Attempts are subscription's newest attempts, newest first, at most
// limit (DefaultAttempts when limit is 0, never more than MaxAttempts),
// from the last AttemptsWindow records of each partition of
// commerce.delivery-attempts. A topic not created yet holds none.
func (in *Inspector) Attempts(ctx context.Context, subscription string, limit int) ([]Attempt, error) {
	if limit <= 0 {
		limit = DefaultAttempts
	}
	limit = min(limit, MaxAttempts)
	topic := in.cfg.Names.Name(topics.DeliveryAttempts)
	ranges, err := in.tail(ctx, topic, AttemptsWindow)
	if err != nil || ranges == nil {
		return []Attempt{}, err
	}
	out := []Attempt{}
	err = kafkax.RangeReader{Opts: in.cfg.ClientOpts}.Read(ctx, ranges, func(r *kgo.Record) error {
		a, err := in.attempts.Decode(ctx, r.Value)
		if err != nil {
			return nil // not an attempt this registry knows; left out
		}
		if a.SubscriptionID != subscription {
			return nil
		}
		at := Attempt{
			DeliveryID: a.DeliveryID, EventID: a.EventID, EntityKey: a.EntityKey, Attempt: a.Attempt, URL: a.URL,
			StartedAt: a.StartedAt.UTC(), DurationMS: float64(a.Duration.Microseconds()) / 1000, Status: a.StatusCode,
			Outcome: a.Outcome, Error: a.Error, ResponseHeaders: a.ResponseHeaders, ResponseBody: a.ResponseBody,
			Partition: r.Partition, Offset: r.Offset,
		}
		if at.ResponseHeaders == nil {
			at.ResponseHeaders = map[string]string{}
		}
		if a.NextAttemptAt != nil {
			next := a.NextAttemptAt.UTC()
			at.NextAttemptAt = &next
		}
		out = append(out, at)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", topic, err)
	}
	slices.SortFunc(out, func(a, b Attempt) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.Offset, a.Offset))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// tail is the last window records of each partition of topic, up to its
// stable end: nil when the topic does not exist or is empty.
func (in *Inspector) tail(ctx context.Context, topic string, window int64) (kafkax.Ranges, error) {
	return in.ranges(ctx, topic, func(_ int32, start, end int64) int64 { return max(start, end-window) })
}

// ranges is every non-empty partition of topic from the offset from
// picks (given the partition's start and stable end) to its stable end;
// nil when the topic does not exist.
func (in *Inspector) ranges(ctx context.Context, topic string, from func(p int32, start, end int64) int64) (kafkax.Ranges, error) {
	meta, err := in.adm.ListTopics(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing topic %s: %w", topic, err)
	}
	if d, ok := meta[topic]; !ok || d.Err != nil {
		return nil, nil
	}
	parts := PartitionsOf(meta)
	off, err := ReadOffsets(ctx, in.adm, parts, nil, false)
	if err != nil {
		return nil, err
	}
	rs := kafkax.Ranges{topic: {}}
	for _, p := range parts[topic] {
		start, end := Offset(off.Starts, topic, p), Offset(off.Stable, topic, p)
		if f := from(p, start, end); f < end {
			rs[topic][p] = kafkax.Range{From: f, End: end}
		}
	}
	return rs, nil
}
