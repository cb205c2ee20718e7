package dlq

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/topics"
)

// Bounds of Browse.Limit.
const (
	DefaultBrowseLimit = 50
	MaxBrowseLimit     = 500
)

// Browse says which dead letters Records lists.
type Browse struct {
	// Topic is the dead-letter topic; empty for commerce.deliveries.dlq.
	Topic string
	// Partition limits the listing to one partition; nil for all.
	Partition *int32
	// FromOffset, when set, lists the oldest first from this offset of
	// every listed partition, in partition and offset order; without it
	// the newest dead letters come first (by record time).
	FromOffset *int64
	// Limit is the most records listed; 0 means DefaultBrowseLimit, and
	// it is at most MaxBrowseLimit.
	Limit int
}

// Page is one page of dead letters.
type Page struct {
	Topic   string    `json:"topic"`
	Records []*Record `json:"records"`
	// More is true when the listed partitions hold more dead letters
	// past this page (older ones, or later offsets with FromOffset).
	More bool `json:"more"`
	// NextFromOffset is where the next page starts, with FromOffset and
	// one partition listed.
	NextFromOffset *int64 `json:"next_from_offset,omitempty"`
}

// Records lists dead letters of a topic as b says, each with its
// surge.dlq.* headers spelled out and a delivery's attempts. It reads
// only the offsets it needs: the tail of each partition (newest first),
// or from FromOffset on.
func (s *Service) Records(ctx context.Context, b Browse) (*Page, error) {
	switch {
	case b.Limit < 0 || b.Limit > MaxBrowseLimit:
		return nil, invalid("limit", "must be from 1 to %d, got %d", MaxBrowseLimit, b.Limit)
	case b.FromOffset != nil && *b.FromOffset < 0:
		return nil, invalid("from_offset", "must not be negative, got %d", *b.FromOffset)
	case b.Partition != nil && *b.Partition < 0:
		return nil, invalid("partition", "must not be negative, got %d", *b.Partition)
	}
	if b.Limit == 0 {
		b.Limit = DefaultBrowseLimit
	}
	full, kind, spans, err := s.topicBounds(ctx, b.Topic)
	if err != nil {
		return nil, err
	}
	if b.Partition != nil {
		sp, ok := spans[*b.Partition]
		if !ok {
			return nil, invalid("partition", "%s has no partition %d (it has %d)", full, *b.Partition, len(spans))
		}
		spans = map[int32]span{*b.Partition: sp}
	}
	var (
		recs []*kgo.Record
		more bool
	)
	if b.FromOffset != nil {
		recs, more, err = s.ascending(ctx, full, spans, *b.FromOffset, b.Limit)
	} else {
		recs, more, err = s.newest(ctx, full, spans, b.Limit)
	}
	if err != nil {
		return nil, err
	}
	pg := &Page{Topic: full, Records: make([]*Record, 0, len(recs)), More: more}
	held := make([]*event.Delivery, 0, len(recs)) // the delivery of each record, or nil
	var ds []*event.Delivery
	for _, r := range recs {
		v, d, err := s.describe(ctx, kind, r)
		if err != nil {
			return nil, err
		}
		pg.Records = append(pg.Records, v)
		held = append(held, d)
		if d != nil {
			ds = append(ds, d)
		}
	}
	if len(ds) > 0 {
		atts, err := s.attemptsOfMany(ctx, ds)
		if err != nil {
			return nil, err
		}
		for i, d := range held {
			if d != nil {
				pg.Records[i].Attempts = atts[d.ID]
			}
		}
	}
	if more && b.FromOffset != nil && len(spans) == 1 && len(recs) > 0 {
		next := recs[len(recs)-1].Offset + 1
		pg.NextFromOffset = &next
	}
	return pg, nil
}

// ascending returns up to limit dead letters from offset from of spans,
// in partition and offset order, and whether more follow.
func (s *Service) ascending(ctx context.Context, topic string, spans map[int32]span, from int64, limit int) ([]*kgo.Record, bool, error) {
	var out []*kgo.Record
	for _, p := range sortedPartitions(spans) {
		sp := spans[p]
		sp.from = max(sp.from, from)
		if sp.from >= sp.end {
			continue
		}
		more := false
		err := s.scan(ctx, topic, map[int32]span{p: sp}, func(r *kgo.Record) error {
			if r.Attrs.IsControl() {
				return nil
			}
			if len(out) == limit {
				more = true
				return errStop
			}
			out = append(out, r)
			return nil
		}, nil)
		if err != nil || more {
			return out, more, err
		}
	}
	return out, false, nil
}

// newest returns the limit newest dead letters of spans by record time
// (ties: the later partition and offset first), and whether older ones
// remain. It reads each partition's tail backwards in growing windows,
// since transaction markers take offsets too.
func (s *Service) newest(ctx context.Context, topic string, spans map[int32]span, limit int) ([]*kgo.Record, bool, error) {
	got := map[int32][]*kgo.Record{} // per partition, in offset order
	low := map[int32]int64{}         // the lowest offset read so far
	for p, sp := range spans {
		low[p] = sp.end
	}
	window := int64(2 * limit)
	for {
		todo := map[int32]span{}
		for p, sp := range spans {
			if len(got[p]) < limit && low[p] > sp.from {
				todo[p] = span{max(sp.from, low[p]-window), low[p]}
			}
		}
		if len(todo) == 0 {
			break
		}
		fresh := map[int32][]*kgo.Record{}
		err := s.scan(ctx, topic, todo, func(r *kgo.Record) error {
			if !r.Attrs.IsControl() {
				fresh[r.Partition] = append(fresh[r.Partition], r)
			}
			return nil
		}, nil)
		if err != nil {
			return nil, false, err
		}
		for p, sp := range todo {
			got[p] = append(fresh[p], got[p]...)
			low[p] = sp.from
		}
		window *= 4
	}
	var all []*kgo.Record
	more := false
	for p, rs := range got {
		if len(rs) > limit {
			rs = rs[len(rs)-limit:]
			more = true
		} else if low[p] > spans[p].from {
			more = true
		}
		all = append(all, rs...)
	}
	slices.SortFunc(all, func(a, b *kgo.Record) int {
		if c := b.Timestamp.Compare(a.Timestamp); c != 0 {
			return c
		}
		if a.Partition != b.Partition {
			return int(b.Partition - a.Partition)
		}
		return int(b.Offset - a.Offset)
	})
	if len(all) > limit {
		all, more = all[:limit], true
	}
	return all, more, nil
}

func sortedPartitions(spans map[int32]span) []int32 {
	out := make([]int32, 0, len(spans))
	for p := range spans {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// attemptsOfMany reads the attempts of deliveries ds from
// commerce.delivery-attempts, by delivery id, oldest first. The topic is
// keyed by delivery id, so only the partitions their keys hash to are
// read, in one pass, from a minute before the oldest was created.
func (s *Service) attemptsOfMany(ctx context.Context, ds []*event.Delivery) (map[string][]Attempt, error) {
	topic := s.cfg.Names.Name(topics.DeliveryAttempts)
	spans, err := s.bounds(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[string][]Attempt{}
	if len(spans) == 0 {
		return out, nil
	}
	want := map[string]bool{}
	read := map[int32]span{}
	var oldest time.Time
	part := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	for _, d := range ds {
		want[d.ID] = true
		p := int32(part.Partition(&kgo.Record{Key: []byte(d.ID)}, len(spans)))
		if sp, ok := spans[p]; ok && sp.end > sp.from {
			read[p] = sp
		}
		if !d.CreatedAt.IsZero() && (oldest.IsZero() || d.CreatedAt.Before(oldest)) {
			oldest = d.CreatedAt
		}
	}
	if len(read) == 0 {
		return out, nil
	}
	if !oldest.IsZero() && !slices.ContainsFunc(ds, func(d *event.Delivery) bool { return d.CreatedAt.IsZero() }) {
		after, err := s.adm.ListOffsetsAfterMilli(ctx, oldest.Add(-time.Minute).UnixMilli(), topic)
		if err == nil && after.Error() == nil {
			for p, sp := range read {
				if o, ok := after.Lookup(topic, p); ok && o.Offset > sp.from && o.Offset <= sp.end {
					sp.from = o.Offset
					read[p] = sp
				}
			}
		}
	}
	err = s.scan(ctx, topic, read, func(r *kgo.Record) error {
		if r.Attrs.IsControl() || !want[string(r.Key)] {
			return nil
		}
		a, err := s.attempts.Decode(ctx, r.Value)
		if err != nil {
			var perm error
			return transient(err, &perm) // an undecodable attempt is left out
		}
		if a.DeliveryID != string(r.Key) {
			return nil
		}
		out[a.DeliveryID] = append(out[a.DeliveryID], Attempt{
			Attempt:    a.Attempt,
			StartedAt:  a.StartedAt.UTC(),
			DurationMS: float64(a.Duration.Microseconds()) / 1000,
			Status:     a.StatusCode,
			Outcome:    a.Outcome,
			Error:      a.Error,
			URL:        a.URL,
			ReplayID:   header(r, topics.HeaderReplayID),
		})
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the attempts from %s: %w", topic, err)
	}
	return out, nil
}
