package dlq

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/topics"
)

// None is the breakdown key of records without the value counted (no
// HTTP status for a failure that was not an HTTP answer, no subscription
// in an undecodable record).
const None = "none"

// Stats describe what a dead-letter topic holds, read up to the end
// offsets seen when the reading started.
type Stats struct {
	Topic  string     `json:"topic"`
	Total  int64      `json:"total"`
	Oldest *time.Time `json:"oldest,omitempty"` // record time of the oldest dead letter
	Newest *time.Time `json:"newest,omitempty"`
	// Partitions lists every partition, empty ones too.
	Partitions []PartitionStats `json:"partitions"`
	// BySubscription counts deliveries per subscription (from the
	// Delivery value; empty for the events DLQ).
	BySubscription map[string]int64 `json:"by_subscription"`
	// ByClass counts by surge.dlq.error-class.
	ByClass map[string]int64 `json:"by_class"`
	// ByHTTPStatus counts by surge.dlq.http-status ("none" without one).
	ByHTTPStatus map[string]int64 `json:"by_http_status"`
	// ByStage counts by the stage that failed the record (surge.dlq.stage).
	ByStage map[string]int64 `json:"by_stage"`
	// BySourceTopic counts by surge.dlq.topic: where a replay sends them.
	BySourceTopic map[string]int64 `json:"by_source_topic"`
	// Replayed counts records that had been replayed before and failed
	// again (they carry __surge.replay.count).
	Replayed int64 `json:"replayed"`
	// Undecodable counts records whose value does not decode.
	Undecodable int64 `json:"undecodable"`
}

// PartitionStats describe one partition of a dead-letter topic.
// StartOffset and EndOffset bound the log as Kafka does (EndOffset is the
// offset after the last one); FirstOffset and LastOffset are the offsets
// of the first and last dead letter in it, both inclusive and absent when
// it has none. They differ because transaction markers take offsets too:
// one dead letter written in a transaction is offset 0, its commit marker
// offset 1, and EndOffset 2.
type PartitionStats struct {
	Partition   int32      `json:"partition"`
	Count       int64      `json:"count"`
	StartOffset int64      `json:"start_offset"`
	EndOffset   int64      `json:"end_offset"`
	FirstOffset *int64     `json:"first_offset,omitempty"`
	LastOffset  *int64     `json:"last_offset,omitempty"`
	Oldest      *time.Time `json:"oldest,omitempty"`
	Newest      *time.Time `json:"newest,omitempty"`
}

// Stats reads the whole of a dead-letter topic (read_committed, up to the
// end offsets at the start) and counts it. tick, when set, is called
// after each fetch with the progress so far.
func (s *Service) Stats(ctx context.Context, topic string, tick func(Progress)) (*Stats, error) {
	full, kind, spans, err := s.topicBounds(ctx, topic)
	if err != nil {
		return nil, err
	}
	st := &Stats{
		Topic:          full,
		BySubscription: map[string]int64{},
		ByClass:        map[string]int64{},
		ByHTTPStatus:   map[string]int64{},
		ByStage:        map[string]int64{},
		BySourceTopic:  map[string]int64{},
	}
	parts := map[int32]*PartitionStats{}
	for p, sp := range spans {
		parts[p] = &PartitionStats{Partition: p, StartOffset: sp.from, EndOffset: sp.end}
	}
	count := func(m map[string]int64, k string) {
		if k == "" {
			k = None
		}
		m[k]++
	}
	err = s.scan(ctx, full, spans, func(r *kgo.Record) error {
		if r.Attrs.IsControl() {
			return nil
		}
		l, err := s.decode(ctx, kind, r)
		if err != nil {
			return err
		}
		ps := parts[r.Partition]
		ps.Count++
		st.Total++
		if ps.FirstOffset == nil {
			first := r.Offset
			ps.FirstOffset = &first
		}
		last := r.Offset
		ps.LastOffset = &last
		ps.Oldest, ps.Newest = widen(ps.Oldest, ps.Newest, r.Timestamp)
		st.Oldest, st.Newest = widen(st.Oldest, st.Newest, r.Timestamp)
		if kind == KindDeliveries {
			count(st.BySubscription, l.subscription())
		}
		count(st.ByClass, header(r, topics.HeaderDLQErrorClass))
		count(st.ByHTTPStatus, header(r, topics.HeaderDLQHTTPStatus))
		count(st.ByStage, header(r, topics.HeaderDLQStage))
		count(st.BySourceTopic, header(r, topics.HeaderDLQTopic))
		if replayCount(r) > 0 {
			st.Replayed++
		}
		if l.err != nil {
			st.Undecodable++
		}
		return nil
	}, tick)
	if err != nil {
		return nil, err
	}
	for _, ps := range parts {
		st.Partitions = append(st.Partitions, *ps)
	}
	slices.SortFunc(st.Partitions, func(a, b PartitionStats) int { return int(a.Partition - b.Partition) })
	return st, nil
}

// widen extends [oldest, newest] to include t.
func widen(oldest, newest *time.Time, t time.Time) (*time.Time, *time.Time) {
	t = t.UTC()
	if oldest == nil || t.Before(*oldest) {
		oldest = &t
	}
	if newest == nil || t.After(*newest) {
		newest = &t
	}
	return oldest, newest
}
