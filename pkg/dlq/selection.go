package dlq

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/filter"
)

// Selection says which dead letters a replay takes and how. Every
// criterion given must hold.
type Selection struct {
	// Topic is the dead-letter topic; empty for commerce.deliveries.dlq.
	Topic string `json:"topic,omitempty"`
	// Partitions limits the replay to these partitions; empty for all.
	Partitions []int32 `json:"partitions,omitempty"`
	// FromOffset and ToOffset (inclusive) bound the offsets in every
	// selected partition.
	FromOffset *int64 `json:"from_offset,omitempty"`
	ToOffset   *int64 `json:"to_offset,omitempty"`
	// Since (inclusive) and Until (exclusive) bound the time the record
	// was dead-lettered (its Kafka timestamp).
	Since *time.Time `json:"since,omitempty"`
	Until *time.Time `json:"until,omitempty"`
	// Subscription takes only deliveries of this subscription
	// (commerce.deliveries.dlq only).
	Subscription string `json:"subscription,omitempty"`
	// Filter is a CEL expression (pkg/filter) over the delivered body of a
	// delivery, or over the event of an events dead letter; a record it
	// cannot evaluate (an undecodable value, a missing field without
	// has()) is not taken.
	Filter string `json:"filter,omitempty"`
	// ToSubscription replays deliveries to this subscription instead of
	// their own: subscription id and record key are rewritten, and the
	// delivery id becomes the one fanout gives the (event, subscription)
	// pair, so the new subscription's receiver can de-duplicate against
	// deliveries it already had.
	ToSubscription string `json:"to_subscription,omitempty"`
	// Rate is the most records written per second; 0 for as fast as
	// Kafka takes them.
	Rate float64 `json:"rate,omitempty"`
}

// Reasons a record in the selected offsets is not replayed (Plan.Skipped).
const (
	SkipTime          = "time"           // outside since/until
	SkipSubscription  = "subscription"   // another subscription's delivery
	SkipFilter        = "filter"         // the filter said false
	SkipFilterError   = "filter_error"   // the filter could not be evaluated on it
	SkipNotReplayable = "not_replayable" // an event whose surge.dlq.topic is not a Surge stage's input
	SkipUndecodable   = "undecodable"    // its value does not decode, and --to-subscription needs it
)

// selector is a checked Selection.
type selector struct {
	sel    Selection
	topic  string
	kind   Kind
	spans  map[int32]span
	filter *filter.Filter
}

// compile checks sel against topic's current offsets.
func (s *Service) compile(ctx context.Context, sel Selection) (*selector, error) {
	full, kind, err := s.Topic(sel.Topic)
	if err != nil {
		return nil, err
	}
	sel.Topic = full
	c := &selector{sel: sel, topic: full, kind: kind}
	switch {
	case sel.FromOffset != nil && *sel.FromOffset < 0:
		return nil, invalid("from_offset", "must not be negative, got %d", *sel.FromOffset)
	case sel.ToOffset != nil && *sel.ToOffset < 0:
		return nil, invalid("to_offset", "must not be negative, got %d", *sel.ToOffset)
	case sel.FromOffset != nil && sel.ToOffset != nil && *sel.ToOffset < *sel.FromOffset:
		return nil, invalid("to_offset", "%d is before from_offset %d", *sel.ToOffset, *sel.FromOffset)
	case sel.Since != nil && sel.Until != nil && !sel.Until.After(*sel.Since):
		return nil, invalid("until", "%s is not after since %s", sel.Until.Format(time.RFC3339), sel.Since.Format(time.RFC3339))
	case sel.Rate < 0 || math.IsNaN(sel.Rate) || math.IsInf(sel.Rate, 0):
		return nil, invalid("rate", "must be a positive number of records per second, or 0 for no limit")
	case kind == KindEvents && sel.Subscription != "":
		return nil, invalid("subscription", "selects deliveries; %s holds events", full)
	case kind == KindEvents && sel.ToSubscription != "":
		return nil, invalid("to_subscription", "rewrites deliveries; %s holds events", full)
	}
	if strings.TrimSpace(sel.Filter) != "" {
		if c.filter, err = filter.Compile(sel.Filter); err != nil {
			return nil, invalid("filter", "%v", err)
		}
	}
	if sel.ToSubscription != "" {
		if s.cfg.Subscriptions == nil {
			return nil, fmt.Errorf("checking subscription %s: no subscriptions table", sel.ToSubscription)
		}
		if err := s.syncSubscriptions(ctx); err != nil {
			return nil, err
		}
		if _, ok := s.cfg.Subscriptions.Get(sel.ToSubscription); !ok {
			return nil, invalid("to_subscription", "subscription %s does not exist", sel.ToSubscription)
		}
	}
	all, err := s.bounds(ctx, full)
	if err != nil {
		return nil, err
	}
	c.spans = map[int32]span{}
	parts := sel.Partitions
	if len(parts) == 0 {
		for p := range all {
			parts = append(parts, p)
		}
	}
	for _, p := range parts {
		sp, ok := all[p]
		if !ok {
			return nil, invalid("partitions", "%s has no partition %d (it has %d)", full, p, len(all))
		}
		if sel.FromOffset != nil {
			sp.from = max(sp.from, *sel.FromOffset)
		}
		if sel.ToOffset != nil && *sel.ToOffset < math.MaxInt64 {
			sp.end = min(sp.end, *sel.ToOffset+1)
		}
		if sp.end < sp.from {
			sp.end = sp.from
		}
		c.spans[p] = sp
	}
	return c, nil
}

func (s *Service) syncSubscriptions(ctx context.Context) error {
	if sy, ok := s.cfg.Subscriptions.(syncer); ok {
		if err := sy.Sync(ctx); err != nil {
			return fmt.Errorf("reading the subscriptions: %w", err)
		}
	}
	return nil
}

// match says whether l is selected, and if not why (a Skip* reason).
func (s *Service) match(c *selector, l *letter) (bool, string) {
	ts := l.rec.Timestamp
	if (c.sel.Since != nil && ts.Before(*c.sel.Since)) || (c.sel.Until != nil && !ts.Before(*c.sel.Until)) {
		return false, SkipTime
	}
	if c.sel.Subscription != "" && l.subscription() != c.sel.Subscription {
		return false, SkipSubscription
	}
	if _, ok := s.target(c.kind, l.rec); !ok {
		return false, SkipNotReplayable
	}
	if c.sel.ToSubscription != "" && l.delivery == nil {
		return false, SkipUndecodable
	}
	if c.filter != nil {
		b, err := filterBody(l)
		if err != nil {
			return false, SkipFilterError
		}
		ok, err := c.filter.Match(b)
		if err != nil {
			return false, SkipFilterError
		}
		if !ok {
			return false, SkipFilter
		}
	}
	return true, ""
}

// filterBody is what a filter sees of a dead letter: a delivery's JSON
// body as fanout's filters see it, or the event.
func filterBody(l *letter) (*filter.Body, error) {
	switch {
	case l.delivery != nil:
		var b struct {
			ID     string    `json:"id"`
			Type   string    `json:"type"`
			Source string    `json:"source"`
			Time   time.Time `json:"time"`
			Entity struct {
				Type    string `json:"type"`
				ID      string `json:"id"`
				Version int64  `json:"version"`
			} `json:"entity"`
			Data    any      `json:"data"`
			Changes []string `json:"changes"`
		}
		if err := json.Unmarshal(l.delivery.Body, &b); err != nil {
			return nil, fmt.Errorf("delivery %s: the body is not the JSON of an event: %w", l.delivery.ID, err)
		}
		return &filter.Body{ID: b.ID, Type: b.Type, Source: b.Source, Time: b.Time,
			Entity: filter.Entity{Type: b.Entity.Type, ID: b.Entity.ID, Version: b.Entity.Version},
			Data:   b.Data, Changes: nonNil(b.Changes)}, nil
	case l.enriched != nil:
		e := l.enriched
		return eventBody(e.ID, e.Type, e.Source, e.Time, e.Entity, e.EntityVersion, e.Data, e.Changes)
	case l.raw != nil:
		e := l.raw
		return eventBody(e.ID, e.Type, e.Source, e.Time, e.Entity, 0, e.Data, nil)
	}
	return nil, fmt.Errorf("the value does not decode: %w", l.err)
}

func eventBody(id, typ, source string, t time.Time, ent event.EntityRef, version int64, data json.RawMessage, changes []string) (*filter.Body, error) {
	var d any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("event %s: data is not JSON: %w", id, err)
		}
	}
	return &filter.Body{ID: id, Type: typ, Source: source, Time: t,
		Entity: filter.Entity{Type: ent.Type, ID: ent.ID, Version: version}, Data: d, Changes: nonNil(changes)}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// partitions returns the selected partitions, sorted.
func (c *selector) partitions() []int32 {
	out := make([]int32, 0, len(c.spans))
	for p := range c.spans {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
