package backlog

import (
	"context"
	"math"
	"time"

	"github.com/surgehq/surge/pkg/observe"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Reporter writes one dispatcher instance's backlog to commerce.backlog.
// Every Every it asks Sample what waits per subscription and writes a
// subscription's report when it is new or changed (Changed), or when the
// one written last is KeepAlive old; it writes a tombstone when a
// subscription it reported has nothing waiting any more. When Run ends
// (a clean stop) it writes a tombstone for every report it wrote. An
// idle instance writes nothing.
//
// Writes are plain produces (not transactional) waited for on the
// reporter's goroutine, never on the delivery path; one that fails is
// logged and tried again on the next tick. Sample is called from that
// goroutine and must be safe for concurrent use with the dispatcher. A
// Reporter is not safe for concurrent use: Run calls Tick and Stop, tests
// call them in turn.
type Reporter struct {
	Client   *kgo.Client // a plain client, open while Run runs
	Topic    string      // full name of commerce.backlog
	Encode   func(Report) ([]byte, error)
	Instance string
	Every    time.Duration // default DefaultEvery
	// Sample is what waits here now, one Report per subscription with
	// Subscription, InMemory, InRetryTopic, Oldest and PerSecond set.
	Sample func() []Report
	Log    *zap.Logger
	Now    func() time.Time

	written map[string]Report // by subscription: what the topic holds from us
}

func (r *Reporter) init() {
	if r.Every <= 0 {
		r.Every = DefaultEvery
	}
	if r.Log == nil {
		r.Log = zap.NewNop()
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.written == nil {
		r.written = map[string]Report{}
	}
}

// Run reports every Every until ctx ends, then writes the tombstones of
// what it reported, within five seconds.
func (r *Reporter) Run(ctx context.Context) {
	r.init()
	t := time.NewTicker(r.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r.Stop(stopCtx)
			cancel()
			return
		case <-t.C:
			tickCtx, cancel := context.WithTimeout(ctx, r.Every)
			r.Tick(tickCtx)
			cancel()
		}
	}
}

// Change is one record a tick writes: a report, or a tombstone (Report
// holds the report it removes).
type Change struct {
	Report    Report
	Tombstone bool
}

// Changes is what a tick at now writes given the current sample; it does
// not write. Reports in current that count nothing are no backlog.
func (r *Reporter) Changes(current []Report, now time.Time) []Change {
	r.init()
	var out []Change
	seen := make(map[string]bool, len(current))
	for _, c := range current {
		if c.Waiting() == 0 {
			continue
		}
		seen[c.Subscription] = true
		c.Instance, c.ReportedAt, c.Every = r.Instance, now, r.Every
		if last, ok := r.written[c.Subscription]; ok && !Changed(last, c, r.Every) && now.Sub(last.ReportedAt) < KeepAlive(r.Every) {
			continue
		}
		out = append(out, Change{Report: c})
	}
	for sub, last := range r.written {
		if !seen[sub] {
			out = append(out, Change{Report: last, Tombstone: true})
		}
	}
	return out
}

// Changed reports whether b says something a reader of a says should
// know: other counts, an oldest delivery at least an interval apart
// (its age is counted by the reader, so a small shift says nothing), or a
// rate more than a tenth apart.
func Changed(a, b Report, every time.Duration) bool {
	if a.InMemory != b.InMemory || a.InRetryTopic != b.InRetryTopic || a.Oldest.IsZero() != b.Oldest.IsZero() || a.Breaker != b.Breaker {
		return true
	}
	if d := a.Oldest.Sub(b.Oldest); d >= every || -d >= every {
		return true
	}
	return math.Abs(a.PerSecond-b.PerSecond) > 0.1*math.Max(a.PerSecond, b.PerSecond)
}

// Tick samples the backlog and writes what changed.
func (r *Reporter) Tick(ctx context.Context) {
	r.init()
	r.write(ctx, r.Changes(r.Sample(), r.Now()))
}

// Stop writes a tombstone for every report this reporter wrote.
func (r *Reporter) Stop(ctx context.Context) {
	r.init()
	var out []Change
	for _, last := range r.written {
		out = append(out, Change{Report: last, Tombstone: true})
	}
	r.write(ctx, out)
}

// write produces changes and remembers those Kafka acknowledged.
func (r *Reporter) write(ctx context.Context, changes []Change) {
	if len(changes) == 0 {
		return
	}
	recs := make([]*kgo.Record, 0, len(changes))
	sent := make(map[*kgo.Record]Change, len(changes))
	for _, c := range changes {
		rec := &kgo.Record{Topic: r.Topic, Key: []byte(Key(c.Report.Subscription, r.Instance))}
		if !c.Tombstone {
			v, err := r.Encode(c.Report)
			if err != nil {
				r.Log.Warn("encoding a backlog report", zap.String(observe.KeySubscriptionID, c.Report.Subscription), zap.Error(err))
				continue
			}
			rec.Value = v
		}
		recs = append(recs, rec)
		sent[rec] = c
	}
	for _, res := range r.Client.ProduceSync(ctx, recs...) {
		c := sent[res.Record]
		if res.Err != nil {
			r.Log.Warn("writing to the backlog topic; trying again on the next tick", zap.String(observe.KeyTopic, r.Topic),
				zap.String(observe.KeySubscriptionID, c.Report.Subscription), zap.Bool("tombstone", c.Tombstone), zap.Error(res.Err))
			continue
		}
		if c.Tombstone {
			delete(r.written, c.Report.Subscription)
		} else {
			r.written[c.Report.Subscription] = c.Report
		}
	}
}
