package dlq

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/topics"
)

// Plan is what a replay of a selection writes; a dry run shows it and
// writes nothing.
type Plan struct {
	Topic string `json:"topic"`
	// Examined counts the dead letters read in the selected offsets.
	Examined int64 `json:"examined"`
	// Selected counts the records the replay writes.
	Selected   int64           `json:"selected"`
	Partitions []PlanPartition `json:"partitions"`
	// ByTarget counts selected records by the topic they go back to.
	ByTarget map[string]int64 `json:"by_target"`
	// BySubscription counts selected deliveries by the subscription
	// they were for.
	BySubscription map[string]int64 `json:"by_subscription"`
	// Skipped counts examined records left out, by reason (Skip*).
	Skipped map[string]int64 `json:"skipped"`
	// DeletedSubscriptions counts selected deliveries whose subscription
	// no longer exists; a replay with any is refused.
	DeletedSubscriptions map[string]int64 `json:"deleted_subscriptions,omitempty"`
}

// PlanPartition is one selected partition: the offsets [from, end) read
// and the records selected there.
type PlanPartition struct {
	Partition int32 `json:"partition"`
	From      int64 `json:"from"`
	End       int64 `json:"end"`
	Selected  int64 `json:"selected"`
}

// Planned is one record a replay writes.
type Planned struct {
	Partition    int32     `json:"partition"`
	Offset       int64     `json:"offset"`
	Timestamp    time.Time `json:"timestamp"`
	Key          string    `json:"key"`
	EventID      string    `json:"event_id,omitempty"`
	Subscription string    `json:"subscription,omitempty"`
	Class        string    `json:"class,omitempty"`
	Target       string    `json:"target"`
	ReplayCount  int       `json:"replay_count"` // the __surge.replay.count the replayed record carries
}

// Plan reads the selection and says what a replay would write, without
// writing anything: the dry run. each, when set, is called with every
// selected record in offset order per partition. A plan that a replay
// would refuse comes with a *RefusedError.
func (s *Service) Plan(ctx context.Context, sel Selection, each func(Planned), tick func(Progress)) (*Plan, error) {
	c, err := s.compile(ctx, sel)
	if err != nil {
		return nil, err
	}
	return s.plan(ctx, c, each, tick)
}

func (s *Service) plan(ctx context.Context, c *selector, each func(Planned), tick func(Progress)) (*Plan, error) {
	pl := &Plan{
		Topic:          c.topic,
		ByTarget:       map[string]int64{},
		BySubscription: map[string]int64{},
		Skipped:        map[string]int64{},
	}
	parts := map[int32]*PlanPartition{}
	for _, p := range c.partitions() {
		sp := c.spans[p]
		parts[p] = &PlanPartition{Partition: p, From: sp.from, End: sp.end}
	}
	subs := map[string]int64{}
	err := s.scan(ctx, c.topic, c.spans, func(r *kgo.Record) error {
		if r.Attrs.IsControl() {
			return nil
		}
		l, err := s.decode(ctx, c.kind, r)
		if err != nil {
			return err
		}
		pl.Examined++
		ok, why := s.match(c, l)
		if !ok {
			pl.Skipped[why]++
			return nil
		}
		pl.Selected++
		parts[r.Partition].Selected++
		target, _ := s.target(c.kind, r)
		pl.ByTarget[target]++
		sub := l.subscription()
		if c.kind == KindDeliveries {
			k := sub
			if k == "" {
				k = None
			}
			pl.BySubscription[k]++
			if sub != "" {
				subs[sub]++
			}
		}
		if each != nil {
			each(Planned{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UTC(), Key: string(r.Key),
				EventID: l.eventID(), Subscription: sub, Class: header(r, topics.HeaderDLQErrorClass),
				Target: target, ReplayCount: replayCount(r) + 1})
		}
		return nil
	}, tick)
	if err != nil {
		return nil, err
	}
	for _, p := range c.partitions() {
		pl.Partitions = append(pl.Partitions, *parts[p])
	}
	if c.kind == KindDeliveries && c.sel.ToSubscription == "" && len(subs) > 0 {
		if s.cfg.Subscriptions == nil {
			return nil, errNoSubscriptions
		}
		if err := s.syncSubscriptions(ctx); err != nil {
			return nil, err
		}
		for sub, n := range subs {
			if _, ok := s.cfg.Subscriptions.Get(sub); !ok {
				if pl.DeletedSubscriptions == nil {
					pl.DeletedSubscriptions = map[string]int64{}
				}
				pl.DeletedSubscriptions[sub] = n
			}
		}
		if len(pl.DeletedSubscriptions) > 0 {
			return pl, &RefusedError{Deleted: pl.DeletedSubscriptions}
		}
	}
	return pl, nil
}

// DeliveryID is the delivery id (webhook-id) fanout gives event eventID
// delivered to subscription subID (event.DeliveryID).
func DeliveryID(eventID, subID string) string { return event.DeliveryID(eventID, subID) }

// replayHeaders are r's headers for its replayed copy: without the
// surge.dlq.* headers and any earlier replay mark, with the
// subscription header rewritten when sub is set, and the replay's id and
// count (the record's count plus one) last.
func replayHeaders(r *kgo.Record, id, sub string) []kgo.RecordHeader {
	out := make([]kgo.RecordHeader, 0, len(r.Headers)+2)
	for _, h := range r.Headers {
		switch {
		case len(h.Key) > len(dlqHeaderPrefix) && h.Key[:len(dlqHeaderPrefix)] == dlqHeaderPrefix,
			h.Key == topics.HeaderReplayID, h.Key == topics.HeaderReplayCount:
			continue
		case sub != "" && h.Key == topics.HeaderSubscriptionID:
			h.Value = []byte(sub)
		}
		out = append(out, h)
	}
	return append(out,
		kgo.RecordHeader{Key: topics.HeaderReplayID, Value: []byte(id)},
		kgo.RecordHeader{Key: topics.HeaderReplayCount, Value: []byte(itoa(replayCount(r) + 1))},
	)
}

// dlqHeaderPrefix starts every dead-letter header (topics.HeaderDLQ*).
var dlqHeaderPrefix = topics.HeaderDLQPrefix

// resetAttempts is d as it goes back to commerce.deliveries: the attempt
// state of the failed run cleared, so the retry schedule starts over.
func resetAttempts(d event.Delivery) event.Delivery {
	d.Attempts = 0
	d.NextAttemptAt, d.FirstFailureAt, d.LastFailureAt = nil, nil, nil
	d.LastStatus, d.LastError = 0, ""
	return d
}
