package backlog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/backlog"
	"github.com/surgehq/surge/pkg/kafkatest"
)

var t0 = time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)

const every = 5 * time.Second

func sample(sub string, mem, retry int64, oldest time.Time, rate float64) backlog.Report {
	return backlog.Report{Subscription: sub, InMemory: mem, InRetryTopic: retry, Oldest: oldest, PerSecond: rate}
}

func withBreaker(r backlog.Report, state string) backlog.Report {
	r.Breaker = state
	return r
}

// changesText is what a tick writes, one "sub=mem+retry" or "sub=tombstone"
// per change, sorted.
func changesText(cs []backlog.Change) string {
	var out []string
	for _, c := range cs {
		if c.Tombstone {
			out = append(out, c.Report.Subscription+"=tombstone")
		} else {
			out = append(out, fmt.Sprintf("%s=%d+%d", c.Report.Subscription, c.Report.InMemory, c.Report.InRetryTopic))
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func TestChanged(t *testing.T) {
	base := sample("s", 10, 20, t0, 10)
	for _, c := range []struct {
		name string
		in   backlog.Report
		want bool
	}{
		{"same", base, false},
		{"in memory", sample("s", 11, 20, t0, 10), true},
		{"in the retry topic", sample("s", 10, 19, t0, 10), true},
		{"oldest a little later", sample("s", 10, 20, t0.Add(every-time.Millisecond), 10), false},
		{"oldest an interval later", sample("s", 10, 20, t0.Add(every), 10), true},
		{"oldest an interval earlier", sample("s", 10, 20, t0.Add(-every), 10), true},
		{"oldest unknown", sample("s", 10, 20, time.Time{}, 10), true},
		{"rate within a tenth", sample("s", 10, 20, t0, 10.9), false},
		{"rate more than a tenth", sample("s", 10, 20, t0, 11.2), true},
		{"rate to zero", sample("s", 10, 20, t0, 0), true},
		{"breaker opened", withBreaker(base, "open"), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := backlog.Changed(base, c.in, every); got != c.want {
				t.Errorf("Changed = %v, want %v", got, c.want)
			}
		})
	}
}

func TestFreshAndSummarize(t *testing.T) {
	now := t0.Add(time.Minute)
	reports := []backlog.Report{
		{Subscription: "a", Instance: "d1", InMemory: 5, InRetryTopic: 100, Oldest: t0, PerSecond: 2, ReportedAt: now.Add(-time.Second), Every: every, Breaker: "closed"},
		{Subscription: "a", Instance: "d2", InMemory: 7, Oldest: t0.Add(-10 * time.Second), PerSecond: 3, ReportedAt: now.Add(-backlog.StaleAfter(every)), Every: every, Breaker: "open"},
		// A killed instance's last report: past four intervals.
		{Subscription: "a", Instance: "d0", InMemory: 1000, ReportedAt: now.Add(-backlog.StaleAfter(every) - time.Millisecond), Every: every},
		{Subscription: "b", Instance: "d1", InMemory: 0, InRetryTopic: 0, ReportedAt: now, Every: every},
		{Subscription: "c", Instance: "d1", InRetryTopic: 3, ReportedAt: now, Every: every, Breaker: "half-open"},
	}
	got := backlog.Summarize(reports, now)
	if _, ok := got["b"]; ok {
		t.Errorf("b counts nothing and is summarized: %+v", got["b"])
	}
	a := got["a"]
	if a.InMemory != 12 || a.InRetryTopic != 100 || a.DeliveriesPerSecond != 5 || len(a.Instances) != 2 ||
		a.Instances[0].Instance != "d1" || a.Instances[1].Instance != "d2" {
		t.Errorf("a = %+v, want d1 and d2 summed, d0's stale report left out", a)
	}
	if a.Breaker != "open" || a.Instances[0].Breaker != "closed" || got["c"].Breaker != "half-open" {
		t.Errorf("breakers: a %q (d1 %q), c %q; want a open because d2 has it open, c half-open", a.Breaker, a.Instances[0].Breaker, got["c"].Breaker)
	}
	if a.Oldest == nil || !a.Oldest.Equal(t0.Add(-10*time.Second)) || a.OldestAgeSeconds == nil || *a.OldestAgeSeconds != 70 {
		t.Errorf("a's oldest = %v, age %v; want the earliest, 70 s old", a.Oldest, a.OldestAgeSeconds)
	}
	if c := got["c"]; c.Oldest != nil || c.OldestAgeSeconds != nil || c.Waiting() != 3 {
		t.Errorf("c = %+v, want 3 waiting and no oldest", c)
	}
	if s := backlog.Of(reports, "b", now); !s.None() || s.Text() != "none" || s.Instances == nil {
		t.Errorf("Of(b) = %+v (%q), want none with an empty instance list", s, s.Text())
	}
	if s := backlog.Of(reports, "a", now).Text(); s != "112 waiting (12 in memory, 100 in the retry topic), oldest 1m10s, 5.0 deliveries/s on d1, d2" {
		t.Errorf("Of(a).Text() = %q", s)
	}
	// A report with no interval (written by hand) is judged by the default.
	r := backlog.Report{ReportedAt: now.Add(-backlog.StaleAfter(backlog.DefaultEvery))}
	if !r.Fresh(now) || r.Fresh(now.Add(time.Millisecond)) {
		t.Error("a report without an interval is not judged by DefaultEvery")
	}
}

// TestReporterWritesChangesAndTombstones runs a Reporter against Kafka with
// a scripted sample and a scripted clock: a new backlog is written, an
// unchanged one is not until it is KeepAlive old, a change is written at
// once, an emptied subscription gets a tombstone, an idle instance writes
// nothing, and Stop leaves a tombstone for everything still reported.
func TestReporterWritesChangesAndTombstones(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic("commerce.backlog")
	kc.CreateTopics(t, 1, topic)
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	now := t0
	var current []backlog.Report
	r := &backlog.Reporter{
		Client: cl, Topic: topic, Instance: "d1", Every: every,
		Encode: func(r backlog.Report) ([]byte, error) { return json.Marshal(r) },
		Sample: func() []backlog.Report { return current },
		Now:    func() time.Time { return now },
	}
	ctx := context.Background()
	read := 0
	// tick advances the clock, ticks, and returns the records written.
	tick := func(d time.Duration, sample ...backlog.Report) string {
		t.Helper()
		now = now.Add(d)
		current = sample
		r.Tick(ctx)
		recs := kc.ReadCommitted(t, topic)
		var out []string
		for _, rec := range recs[read:] {
			if rec.Value == nil {
				out = append(out, string(rec.Key)+"=tombstone")
				continue
			}
			var got backlog.Report
			if err := json.Unmarshal(rec.Value, &got); err != nil {
				t.Fatal(err)
			}
			if got.Instance != "d1" || !got.ReportedAt.Equal(now) || got.Every != every {
				t.Errorf("report %+v: want instance d1, reported at %s, every %s", got, now, every)
			}
			out = append(out, fmt.Sprintf("%s=%d+%d", rec.Key, got.InMemory, got.InRetryTopic))
		}
		read = len(recs)
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	steps := []struct {
		name   string
		after  time.Duration
		sample []backlog.Report
		want   string
	}{
		{"idle", every, nil, ""},
		{"nothing waits", every, []backlog.Report{sample("a", 0, 0, time.Time{}, 0)}, ""},
		{"new backlog", every, []backlog.Report{sample("a", 10, 20, t0, 1), sample("b", 1, 0, t0, 0)}, "a/d1=10+20 b/d1=1+0"},
		{"unchanged", every, []backlog.Report{sample("a", 10, 20, t0, 1), sample("b", 1, 0, t0, 0)}, ""},
		{"unchanged, keep-alive age", every, []backlog.Report{sample("a", 10, 20, t0, 1), sample("b", 1, 0, t0, 0)}, "a/d1=10+20 b/d1=1+0"},
		{"a changes", every, []backlog.Report{sample("a", 9, 20, t0, 1), sample("b", 1, 0, t0, 0)}, "a/d1=9+20"},
		{"b drains", every, []backlog.Report{sample("a", 9, 20, t0, 1), sample("b", 0, 0, t0, 0)}, "b/d1=tombstone"},
		{"b stays drained, a's keep-alive", every, []backlog.Report{sample("a", 9, 20, t0, 1)}, "a/d1=9+20"},
		{"a's rate moves a little", every, []backlog.Report{sample("a", 9, 20, t0, 1.05)}, ""},
	}
	for _, s := range steps {
		if got := tick(s.after, s.sample...); got != s.want {
			t.Errorf("%s: wrote %q, want %q", s.name, got, s.want)
		}
	}
	r.Stop(ctx)
	recs := kc.ReadCommitted(t, topic)
	var stopped []string
	for _, rec := range recs[read:] {
		stopped = append(stopped, fmt.Sprintf("%s nil=%v", rec.Key, rec.Value == nil))
	}
	if got := strings.Join(stopped, ","); got != "a/d1 nil=true" {
		t.Errorf("Stop wrote %q, want one tombstone for a/d1", got)
	}
	// Stopped twice: nothing is left to remove.
	r.Stop(ctx)
	if n := len(kc.ReadCommitted(t, topic)); n != len(recs) {
		t.Errorf("a second Stop wrote %d records", n-len(recs))
	}
}

// TestChangesWithoutKafka: Changes says what a tick writes and writes
// nothing, so the same state gives the same answer.
func TestChangesWithoutKafka(t *testing.T) {
	r := &backlog.Reporter{Instance: "d1", Every: every}
	cur := []backlog.Report{sample("a", 1, 2, t0, 0), sample("z", 0, 0, t0, 0)}
	for range 2 {
		if got := changesText(r.Changes(cur, t0)); got != "a=1+2" {
			t.Errorf("Changes = %q, want a=1+2", got)
		}
	}
}
