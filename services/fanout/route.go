package fanout

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/filter"
	"github.com/surgehq/surge/pkg/observe"
)

// Reasons a subscription whose event types match an event gets no delivery
// for it; the label of surge_fanout_filtered_total.
const (
	ReasonFilter        = "filter"         // the CEL filter said false
	ReasonFilterError   = "filter_error"   // the filter failed on this event (e.g. a missing field without has())
	ReasonDisabled      = "disabled"       // the subscription is disabled (by an operator or a 410 Gone)
	ReasonBeforeCreated = "before_created" // the event was enriched before the subscription was created
)

var reasons = []string{ReasonFilter, ReasonFilterError, ReasonDisabled, ReasonBeforeCreated}

// route is one subscription prepared for matching: patterns and filter
// compiled once per version of the subscription.
type route struct {
	sub     event.Subscription
	types   *filter.Types
	filter  *filter.Filter // nil: every event of a matching type
	invalid error          // the stored patterns or filter do not compile here
	counts  *routeCounts
}

// routeCounts are one subscription's counts in the batch being handled;
// they reach /metrics only when the batch commits, so the counters agree
// with what read_committed consumers see.
type routeCounts struct {
	delivered atomic.Int64
	filtered  [4]atomic.Int64 // by index in reasons
}

// candidate is an event being matched, with the filter's view of its body
// built on first use.
type candidate struct {
	ev     *event.EnrichedEvent
	body   *filter.Body
	parsed bool
	err    error // data is not JSON
}

func (c *candidate) filterBody() (*filter.Body, error) {
	if !c.parsed {
		c.parsed = true
		var data any
		if len(c.ev.Data) > 0 {
			if err := json.Unmarshal(c.ev.Data, &data); err != nil {
				c.err = fmt.Errorf("event %s: data is not JSON: %w", c.ev.ID, err)
			}
		}
		changes := c.ev.Changes
		if changes == nil {
			changes = []string{}
		}
		c.body = &filter.Body{
			ID: c.ev.ID, Type: c.ev.Type, Source: c.ev.Source, Time: c.ev.Time,
			Entity:  filter.Entity{Type: c.ev.Entity.Type, ID: c.ev.Entity.ID, Version: c.ev.EntityVersion},
			Data:    data,
			Changes: changes,
		}
	}
	return c.body, c.err
}

// match decides whether route r, whose event types match c's (routes are
// picked by routes.forType), gets a delivery of c, and counts the outcome.
// The error says why a filter failed, for the log.
func (r *route) match(c *candidate) (bool, error) {
	reason := ""
	var ferr error
	switch {
	case !r.sub.Enabled:
		reason = ReasonDisabled
	case c.ev.EnrichedAt.Before(r.sub.CreatedAt):
		reason = ReasonBeforeCreated
	case r.invalid != nil:
		reason, ferr = ReasonFilterError, r.invalid
	case r.filter != nil:
		body, err := c.filterBody()
		if err != nil {
			reason, ferr = ReasonFilterError, err
			break
		}
		ok, err := r.filter.Match(body)
		switch {
		case err != nil:
			reason, ferr = ReasonFilterError, err
		case !ok:
			reason = ReasonFilter
		}
	}
	if reason == "" {
		r.counts.delivered.Add(1)
		return true, nil
	}
	for i, x := range reasons {
		if x == reason {
			r.counts.filtered[i].Add(1)
		}
	}
	return false, ferr
}

// router holds the prepared routes of the current subscriptions, rebuilt
// when the subscriptions table changes; compiled patterns and filters of
// unchanged subscriptions are reused.
type router struct {
	log  *zap.Logger
	list func() []event.Subscription
	ver  func() uint64

	mu      sync.Mutex
	current atomic.Pointer[routes]
	counts  map[string]*routeCounts // by subscription id, kept across versions
}

type routes struct {
	version uint64
	all     []*route

	// byType caches, per event type, the routes whose patterns match it,
	// so an event visits only its own subscriptions instead of every one.
	mu     sync.RWMutex
	byType map[string][]*route
}

// forType returns the routes whose event-type patterns match eventType.
func (rs *routes) forType(eventType string) []*route {
	rs.mu.RLock()
	m, ok := rs.byType[eventType]
	rs.mu.RUnlock()
	if ok {
		return m
	}
	m = []*route{}
	for _, rt := range rs.all {
		if rt.types != nil && rt.types.Match(eventType) {
			m = append(m, rt)
		}
	}
	rs.mu.Lock()
	if rs.byType == nil {
		rs.byType = map[string][]*route{}
	}
	if len(rs.byType) < maxCachedTypes {
		rs.byType[eventType] = m
	}
	rs.mu.Unlock()
	return m
}

// maxCachedTypes bounds the per-type cache; senders cannot mint event
// types freely (the catalog rejects unknown ones), so it is rarely reached.
const maxCachedTypes = 10000

func newRouter(log *zap.Logger, list func() []event.Subscription, version func() uint64) *router {
	r := &router{log: log, list: list, ver: version, counts: map[string]*routeCounts{}}
	r.current.Store(&routes{version: ^uint64(0)})
	return r
}

// routes returns the routes of the table's current version.
func (r *router) routes() *routes {
	v := r.ver()
	cur := r.current.Load()
	if cur.version == v {
		return cur
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur = r.current.Load(); cur.version == v {
		return cur
	}
	prev := map[string]*route{}
	for _, rt := range cur.all {
		prev[rt.sub.ID] = rt
	}
	subs := r.list()
	next := &routes{version: v, all: make([]*route, 0, len(subs))}
	for _, s := range subs {
		if old, ok := prev[s.ID]; ok && sameRouting(old.sub, s) {
			rt := *old
			rt.sub = s
			next.all = append(next.all, &rt)
			continue
		}
		next.all = append(next.all, r.prepare(s))
	}
	r.current.Store(next)
	return next
}

// sameRouting reports whether a and b match events the same way, so the
// compiled patterns and filter of a serve b.
func sameRouting(a, b event.Subscription) bool {
	return a.Filter == b.Filter && strings.Join(a.EventTypes, "\x00") == strings.Join(b.EventTypes, "\x00")
}

func (r *router) prepare(s event.Subscription) *route {
	rt := &route{sub: s, counts: r.counts[s.ID]}
	if rt.counts == nil {
		rt.counts = &routeCounts{}
		r.counts[s.ID] = rt.counts
	}
	var err error
	if rt.types, err = filter.CompileTypes(s.EventTypes); err != nil {
		rt.invalid = fmt.Errorf("subscription %s: event types: %w", s.ID, err)
	} else if strings.TrimSpace(s.Filter) != "" {
		if rt.filter, err = filter.Compile(s.Filter); err != nil {
			rt.invalid = fmt.Errorf("subscription %s: filter: %w", s.ID, err)
		}
	}
	if rt.invalid != nil {
		// The admin API compiles both before storing them, so this is a
		// record written by something else or a newer CEL dialect:
		// its matching events are counted as filter errors, not sent.
		r.log.Error("subscription does not compile; its events are counted as filter errors", zap.String(observe.KeySubscriptionID, s.ID), zap.Error(rt.invalid))
	}
	return rt
}

// flush moves the batch's counts to the metrics when it committed, and
// forgets them when it aborted.
func (r *router) flush(committed bool, m *metrics) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, c := range r.counts {
		d := c.delivered.Swap(0)
		if committed && d > 0 {
			m.deliveries.WithLabelValues(id).Add(float64(d))
		}
		for i := range c.filtered {
			n := c.filtered[i].Swap(0)
			if committed && n > 0 {
				m.filtered.WithLabelValues(id, reasons[i]).Add(float64(n))
			}
		}
	}
}

// bodyOf is the JSON body of every delivery of ev, as DESIGN.md fixes it:
// {"id","type","source","time","entity":{"type","id","version"},"data","changes"},
// followed by
//
//   - "deleted":true when the event deleted the entity (then data is its
//     last known state merged with what the deletion carried; absent
//     otherwise);
//   - "origin":{"format","id","type","source","entity_id"}, the sender's
//     own identity of the event (absent for events Surge made itself);
//   - "warnings":[{"code","field","message"}] when enrich could not use
//     all of the event (absent otherwise).
//
// It is written by hand: it runs for every delivered event, and
// encoding/json would also re-validate and compact data, which enrich
// already wrote as JSON. TestBodyIsTheDocumentedJSON pins it to
// encoding/json's reading of it.
func bodyOf(ev *event.EnrichedEvent) []byte {
	data := ev.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	o := ev.Origin
	b := make([]byte, 0, 240+len(data)+len(ev.ID)+16*len(ev.Changes)+len(o.ID)+len(o.Type)+len(o.Source)+len(o.EntityID))
	b = append(b, `{"id":`...)
	b = appendJSONString(b, ev.ID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, ev.Type)
	b = append(b, `,"source":`...)
	b = appendJSONString(b, ev.Source)
	b = append(b, `,"time":"`...)
	b = ev.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","entity":{"type":`...)
	b = appendJSONString(b, ev.Entity.Type)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, ev.Entity.ID)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, ev.EntityVersion, 10)
	b = append(b, `},"data":`...)
	b = append(b, data...)
	b = append(b, `,"changes":[`...)
	for i, c := range ev.Changes {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, c)
	}
	b = append(b, ']')
	if ev.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	if o := ev.Origin; !o.IsZero() {
		b = append(b, `,"origin":{"format":`...)
		b = appendJSONString(b, o.Format)
		b = append(b, `,"id":`...)
		b = appendJSONString(b, o.ID)
		b = append(b, `,"type":`...)
		b = appendJSONString(b, o.Type)
		b = append(b, `,"source":`...)
		b = appendJSONString(b, o.Source)
		b = append(b, `,"entity_id":`...)
		b = appendJSONString(b, o.EntityID)
		b = append(b, '}')
	}
	if len(ev.Warnings) > 0 {
		b = append(b, `,"warnings":[`...)
		for i, w := range ev.Warnings {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"code":`...)
			b = appendJSONString(b, w.Code)
			b = append(b, `,"field":`...)
			b = appendJSONString(b, w.Field)
			b = append(b, `,"message":`...)
			b = appendJSONString(b, w.Message)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
