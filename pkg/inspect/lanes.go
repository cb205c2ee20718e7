package inspect

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/position"
	"github.com/surgehq/surge/pkg/topics"
)

// How the lanes are read. The dispatcher parks an entity key of a
// subscription when a delivery of it fails and will be retried: it copies
// the delivery, with its attempt state, to commerce.deliveries.retry, and
// while the key is parked every later delivery of it follows into the
// retry topic in order, so the main topic moves on. Everything in the
// retry topic from the dispatcher group's committed offset to the stable
// end is therefore waiting, except what the commit's metadata
// (pkg/position) says was finished out of order, and the older copy of a
// delivery parked again (each copy carries the offset its delivery first
// had in commerce.deliveries, surge.origin.offset, and the latest copy
// counts). What is left, grouped by entity key in that origin order, is
// the lanes: the head is the delivery whose retry is due next, the rest
// wait behind it.

// MaxLanes bounds the keys Lanes returns; the counts cover every key.
const MaxLanes = 1000

// Lane is one parked entity key of a subscription.
type Lane struct {
	EntityKey string `json:"entity_key"`
	Partition int32  `json:"partition"`
	// ParkedSince is when the head's first attempt failed.
	ParkedSince *time.Time `json:"parked_since"`
	// NextAttemptAt is when the head's next attempt is due.
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	// Head is the delivery at the front of the lane.
	Head LaneDelivery `json:"head"`
	// Waiting counts the deliveries of the key behind the head.
	Waiting int `json:"waiting"`
}

// LaneDelivery is the head of a lane and its attempt state.
type LaneDelivery struct {
	DeliveryID string `json:"delivery_id"`
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	Attempts   int32  `json:"attempts"`
	LastStatus int32  `json:"last_status"`
	LastError  string `json:"last_error,omitempty"`
	Offset     int64  `json:"offset"` // in the retry topic
}

// LaneReport is a subscription's lanes, the oldest parked first.
type LaneReport struct {
	Subscription string `json:"subscription"`
	// ParkedKeys counts the parked keys, Deliveries every delivery waiting
	// in the retry topic for them.
	ParkedKeys int    `json:"parked_keys"`
	Deliveries int    `json:"deliveries"`
	Lanes      []Lane `json:"lanes"`
	Truncated  bool   `json:"truncated"` // more than MaxLanes keys
}

// parked is one waiting delivery read from the retry topic.
type parked struct {
	origin int64
	offset int64
	d      event.Delivery
}

// Lanes reads subscription's parked keys from commerce.deliveries.retry.
func (in *Inspector) Lanes(ctx context.Context, subscription string) (*LaneReport, error) {
	reps, err := in.readLanes(ctx, subscription)
	if err != nil {
		return nil, err
	}
	if rep := reps[subscription]; rep != nil {
		return rep, nil
	}
	return &LaneReport{Subscription: subscription, Lanes: []Lane{}}, nil
}

// ParkedSummary is every subscription's parked keys at once: what
// Lanes counts, from one read of commerce.deliveries.retry.
type ParkedSummary struct {
	// ParkedKeys and Deliveries sum every subscription's.
	ParkedKeys int `json:"parked_keys"`
	Deliveries int `json:"deliveries"`
	// Subscriptions lists those with a parked key, the one parked longest
	// first.
	Subscriptions []ParkedCount `json:"subscriptions"`
}

// ParkedCount is one subscription's parked keys and the deliveries
// waiting for them, and since when its oldest lane is parked.
type ParkedCount struct {
	Subscription string     `json:"subscription"`
	ParkedKeys   int        `json:"parked_keys"`
	Deliveries   int        `json:"deliveries"`
	OldestSince  *time.Time `json:"oldest_parked_since,omitempty"`
}

// Parked reads every subscription's parked keys from
// commerce.deliveries.retry in one pass.
func (in *Inspector) Parked(ctx context.Context) (*ParkedSummary, error) {
	reps, err := in.readLanes(ctx, "")
	if err != nil {
		return nil, err
	}
	out := &ParkedSummary{Subscriptions: []ParkedCount{}}
	for sub, rep := range reps {
		c := ParkedCount{Subscription: sub, ParkedKeys: rep.ParkedKeys, Deliveries: rep.Deliveries}
		if len(rep.Lanes) > 0 {
			c.OldestSince = rep.Lanes[0].ParkedSince
		}
		out.ParkedKeys += c.ParkedKeys
		out.Deliveries += c.Deliveries
		out.Subscriptions = append(out.Subscriptions, c)
	}
	slices.SortFunc(out.Subscriptions, func(a, b ParkedCount) int {
		return cmp.Or(compareTimes(a.OldestSince, b.OldestSince), strings.Compare(a.Subscription, b.Subscription))
	})
	return out, nil
}

// readLanes reads the lanes of subscription ("" for every subscription)
// from commerce.deliveries.retry, by subscription.
func (in *Inspector) readLanes(ctx context.Context, subscription string) (map[string]*LaneReport, error) {
	topic := in.cfg.Names.Name(topics.DeliveriesRetry)
	group := in.cfg.Names.Name(topics.GroupDispatcher)
	committed, err := in.adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("fetching the offsets of %s: %w", group, err)
	}
	resumes := map[int32]*position.Resume{}
	ranges, err := in.ranges(ctx, topic, func(p int32, start, _ int64) int64 {
		c, ok := committed.Lookup(topic, p)
		if !ok || c.Err != nil || c.At < 0 {
			return start
		}
		resumes[p], _ = position.Decode(c.At, c.Metadata) // unreadable metadata: count everything (as a new owner would read it)
		return max(start, c.At)
	})
	if err != nil || ranges == nil {
		return map[string]*LaneReport{}, err
	}
	prefix := ""
	if subscription != "" {
		prefix = event.DeliveryKey(subscription, "")
	}
	type copyKey struct {
		sub, key string
		origin   int64
	}
	type laneKey struct{ sub, key string }
	latest := map[copyKey]parked{}
	partitionOf := map[laneKey]int32{}
	err = kafkax.RangeReader{Opts: in.cfg.ClientOpts}.Read(ctx, ranges, func(r *kgo.Record) error {
		if !strings.HasPrefix(string(r.Key), prefix) || resumes[r.Partition].Skip(r.Offset) {
			return nil
		}
		d, err := in.retries.Decode(ctx, r.Value)
		if err != nil || (subscription != "" && d.SubscriptionID != subscription) {
			return nil // not a delivery this registry knows; the dispatcher dead-letters it
		}
		origin := originOf(r)
		k := copyKey{d.SubscriptionID, d.EntityKey, origin}
		if old, ok := latest[k]; !ok || r.Offset > old.offset {
			latest[k] = parked{origin: origin, offset: r.Offset, d: d}
		}
		partitionOf[laneKey{d.SubscriptionID, d.EntityKey}] = r.Partition
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", topic, err)
	}
	reps := map[string]*LaneReport{}
	byKey := map[laneKey][]parked{}
	for k, p := range latest {
		lk := laneKey{k.sub, k.key}
		byKey[lk] = append(byKey[lk], p)
		rep := reps[k.sub]
		if rep == nil {
			rep = &LaneReport{Subscription: k.sub, Lanes: []Lane{}}
			reps[k.sub] = rep
		}
		rep.Deliveries++
	}
	for lk, ps := range byKey {
		slices.SortFunc(ps, func(a, b parked) int { return cmp.Compare(a.origin, b.origin) })
		h := ps[0].d
		rep := reps[lk.sub]
		rep.Lanes = append(rep.Lanes, Lane{
			EntityKey: lk.key, Partition: partitionOf[lk], ParkedSince: utc(h.FirstFailureAt), NextAttemptAt: utc(h.NextAttemptAt),
			Head: LaneDelivery{DeliveryID: h.ID, EventID: h.EventID, EventType: h.EventType, Attempts: h.Attempts,
				LastStatus: h.LastStatus, LastError: h.LastError, Offset: ps[0].offset},
			Waiting: len(ps) - 1,
		})
	}
	for _, rep := range reps {
		rep.ParkedKeys = len(rep.Lanes)
		slices.SortFunc(rep.Lanes, func(a, b Lane) int {
			return cmp.Or(compareTimes(a.ParkedSince, b.ParkedSince), strings.Compare(a.EntityKey, b.EntityKey))
		})
		if len(rep.Lanes) > MaxLanes {
			rep.Lanes, rep.Truncated = rep.Lanes[:MaxLanes], true
		}
	}
	return reps, nil
}

// originOf is a retry record's surge.origin.offset; without one, its own
// offset (a copy of nothing else).
func originOf(r *kgo.Record) int64 {
	for _, h := range r.Headers {
		if h.Key == topics.HeaderOriginOffset {
			if o, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				return o
			}
		}
	}
	return -1 - r.Offset
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// compareTimes orders nil last.
func compareTimes(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return a.Compare(*b)
}
