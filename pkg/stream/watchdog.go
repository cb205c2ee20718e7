package stream

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/surgehq/surge/pkg/observe"
	"go.uber.org/zap"
)

// Progress is what a stage says about one input partition it owns each
// time its Watchdog looks.
type Progress struct {
	Topic     string
	Partition int32
	// Offset is the next offset to process there: the group's committed
	// offset is at it, or just below it (transaction markers take
	// offsets too).
	Offset int64
	// Pending says records at Offset or past it wait to be processed and
	// nothing legitimately holds them: a deferral, a failing transaction
	// or a write that never completes do; a retry back-off or a paused
	// subscription does not.
	Pending bool
	// Steps counts work done on the partition that does not move Offset
	// (the dispatcher reading its retry partition before delivering); the
	// watchdog only compares it between two looks.
	Steps int64
	// Reason is why the partition does not move, as the stage last saw
	// it: a deferral's error, a failed transaction's error, what a
	// delivery waits for.
	Reason string
}

// Stall is a partition that was Pending, with the same Offset and Steps,
// for longer than its Watchdog's bound.
type Stall struct {
	Stage     string
	Group     string
	Topic     string
	Partition int32
	Offset    int64
	Reason    string
	// Since is the last time the partition made progress (as far as the
	// watchdog saw), DetectedAt when it was reported stalled.
	Since      time.Time
	DetectedAt time.Time
	After      time.Duration // the bound it broke
	Instance   string
}

// Describe says what is stalled, for how long at now, and why.
func (s Stall) Describe(now time.Time) string {
	return fmt.Sprintf("%s: %s partition %d has records to process at offset %d and has not moved for %s (--stall-after %s): %s",
		s.Stage, s.Topic, s.Partition, s.Offset, now.Sub(s.Since).Round(time.Second), s.After, s.Reason)
}

// StalledError is what Watchdog.Err returns while partitions are stalled;
// its message names every one of them with its reason.
type StalledError struct {
	Stalls []Stall
	At     time.Time
}

func (e *StalledError) Error() string {
	parts := make([]string, len(e.Stalls))
	for i, s := range e.Stalls {
		parts[i] = s.Describe(e.At)
	}
	return "stalled: " + strings.Join(parts, "; ")
}

// Watchdog notices a stage partition that has records to process but makes
// no progress. Every Interval it asks the stage for its partitions'
// Progress; a partition that stays Pending with the same Offset and Steps
// for longer than After is stalled: the watchdog logs a warning once (with
// stage, topic, partition, offset and the reason), counts it in the
// metrics, reports it through Err and calls Report. When the partition
// moves again, or has nothing left to process, or is no longer owned, it
// logs once that it resumed, the gauge drops, Err no longer names it and
// Report is called again.
//
// Sample is called from the watchdog's goroutine and must be safe for
// concurrent use with the stage; Report is called from that goroutine
// too, never with a lock held. Err is safe for concurrent use.
type Watchdog struct {
	Stage    string
	Group    string
	Instance string
	After    time.Duration // default 30s
	Interval time.Duration // how often to look; default After/5, at most 1s
	Sample   func() []Progress
	Log      *zap.Logger
	Metrics  *Metrics
	// Report, when set, is told of each stall (true) and of its end
	// (false), e.g. StallReporter.Report.
	Report func(s Stall, stalled bool)
	Now    func() time.Time

	once  sync.Once
	mu    sync.Mutex
	parts map[topicPartition]*watched
}

type topicPartition struct {
	topic     string
	partition int32
}

// watched is one partition as the watchdog last saw it pending.
type watched struct {
	offset  int64
	steps   int64
	since   time.Time
	stalled *Stall // nil: not (yet) stalled
}

func (w *Watchdog) init() {
	w.once.Do(func() {
		if w.After <= 0 {
			w.After = 30 * time.Second
		}
		if w.Interval <= 0 {
			w.Interval = min(w.After/5, time.Second)
		}
		if w.Log == nil {
			w.Log = zap.NewNop()
		}
		if w.Metrics == nil {
			w.Metrics = NewMetrics(nil)
		}
		if w.Now == nil {
			w.Now = time.Now
		}
		w.parts = map[topicPartition]*watched{}
	})
}

// Run looks at the stage's partitions every Interval until ctx ends. When
// it returns, the partitions it held stalled are taken off the gauge (the
// process no longer runs them) but their records in commerce.stalls stay:
// until another instance moves them they are still stalled.
func (w *Watchdog) Run(ctx context.Context) {
	w.init()
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			w.mu.Lock()
			for k, st := range w.parts {
				if st.stalled != nil {
					w.Metrics.Stalled.WithLabelValues(w.Stage, k.topic).Dec()
				}
			}
			clear(w.parts)
			w.mu.Unlock()
			return
		case <-t.C:
			w.Check()
		}
	}
}

// transition is a stall starting or ending, reported after w.mu is
// released.
type transition struct {
	s       Stall
	stalled bool
}

// Check looks at the stage's partitions once. Run calls it every
// Interval; tests call it to look at a given moment.
func (w *Watchdog) Check() {
	w.init()
	samples := w.Sample()
	now := w.Now()
	var out []transition

	w.mu.Lock()
	seen := make(map[topicPartition]bool, len(samples))
	for _, p := range samples {
		k := topicPartition{p.Topic, p.Partition}
		seen[k] = true
		st := w.parts[k]
		switch {
		case !p.Pending:
			if st != nil {
				out = w.resumeLocked(k, st, p.Offset, now, "nothing left to process", out)
				delete(w.parts, k)
			}
		case st == nil || st.offset != p.Offset || st.steps != p.Steps:
			if st != nil {
				out = w.resumeLocked(k, st, p.Offset, now, "moved", out)
			}
			w.parts[k] = &watched{offset: p.Offset, steps: p.Steps, since: now}
		case st.stalled != nil:
			st.stalled.Reason = reasonOrDefault(p.Reason) // Err shows the latest
		case now.Sub(st.since) >= w.After:
			s := Stall{
				Stage: w.Stage, Group: w.Group, Topic: p.Topic, Partition: p.Partition, Offset: p.Offset,
				Reason: reasonOrDefault(p.Reason), Since: st.since, DetectedAt: now, After: w.After, Instance: w.Instance,
			}
			st.stalled = &s
			w.Metrics.Stalled.WithLabelValues(w.Stage, p.Topic).Inc()
			w.Metrics.Stalls.WithLabelValues(w.Stage, p.Topic).Inc()
			w.Log.Warn("stage partition stalled: records wait to be processed and nothing has moved",
				zap.String(observe.KeyStage, w.Stage), zap.String(observe.KeyTopic, p.Topic), zap.Int32(observe.KeyPartition, p.Partition),
				zap.Int64(observe.KeyOffset, p.Offset), zap.String(observe.KeyReason, s.Reason), zap.Duration("stalled_for", now.Sub(st.since)),
				zap.Duration("stall_after", w.After))
			out = append(out, transition{s, true})
		}
	}
	for k, st := range w.parts {
		if !seen[k] {
			out = w.resumeLocked(k, st, st.offset, now, "no longer owned by this instance", out)
			delete(w.parts, k)
		}
	}
	w.mu.Unlock()

	if w.Report != nil {
		for _, t := range out {
			w.Report(t.s, t.stalled)
		}
	}
}

// resumeLocked ends st's stall, if it had one; w.mu must be held.
func (w *Watchdog) resumeLocked(k topicPartition, st *watched, offset int64, now time.Time, how string, out []transition) []transition {
	if st.stalled == nil {
		return out
	}
	w.Metrics.Stalled.WithLabelValues(w.Stage, k.topic).Dec()
	w.Log.Info("stage partition resumed after a stall",
		zap.String(observe.KeyStage, w.Stage), zap.String(observe.KeyTopic, k.topic), zap.Int32(observe.KeyPartition, k.partition),
		zap.Int64(observe.KeyOffset, offset), zap.Int64("stalled_at", st.stalled.Offset), zap.String("how", how),
		zap.Duration("stalled_for", now.Sub(st.since)))
	return append(out, transition{*st.stalled, false})
}

func reasonOrDefault(r string) string {
	if r == "" {
		return "no progress"
	}
	return r
}

// Stalls returns the partitions stalled now, by topic and partition.
func (w *Watchdog) Stalls() []Stall {
	w.init()
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Stall
	for _, st := range w.parts {
		if st.stalled != nil {
			out = append(out, *st.stalled)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// Err is nil while no partition is stalled, and a *StalledError naming
// each stalled partition otherwise: what /readyz answers with.
func (w *Watchdog) Err() error {
	stalls := w.Stalls()
	if len(stalls) == 0 {
		return nil
	}
	return &StalledError{Stalls: stalls, At: w.Now()}
}
