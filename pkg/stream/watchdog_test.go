package stream_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/stream"
)

const (
	stalledMsg = "stage partition stalled: records wait to be processed and nothing has moved"
	resumedMsg = "stage partition resumed after a stall"
)

// TestWatchdogRules drives a Watchdog with a hand-set clock and samples:
// only a partition pending at the same offset and steps for the whole
// bound stalls; moving, finishing, a change of steps or losing the
// partition ends the stall; each transition is logged, counted and
// reported once.
func TestWatchdogRules(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var sample []stream.Progress
	var reports []string
	core, logs := observer.New(zapcore.InfoLevel)
	reg := prometheus.NewRegistry()
	m := stream.NewMetrics(reg)
	w := &stream.Watchdog{
		Stage: "enrich", Group: "surge-enrich", Instance: "i-1", After: 10 * time.Second,
		Sample:  func() []stream.Progress { return sample },
		Log:     zap.New(core),
		Metrics: m,
		Now:     func() time.Time { return now },
		Report: func(s stream.Stall, stalled bool) {
			reports = append(reports, fmt.Sprintf("%s/%d@%d %v", s.Topic, s.Partition, s.Offset, stalled))
		},
	}
	at := func(d time.Duration, ps ...stream.Progress) {
		t.Helper()
		now = now.Add(d)
		sample = ps
		w.Check()
	}
	gauge := func() float64 { return testutil.ToFloat64(m.Stalled.WithLabelValues("enrich", "raw")) }
	p := func(part int32, off int64, pending bool, steps int64) stream.Progress {
		return stream.Progress{Topic: "raw", Partition: part, Offset: off, Pending: pending, Steps: steps, Reason: "waiting for state rebuild"}
	}

	at(0, p(0, 5, true, 0), p(1, 7, false, 0))
	at(9*time.Second, p(0, 5, true, 0), p(1, 7, false, 0))
	if w.Err() != nil || gauge() != 0 {
		t.Fatalf("stalled before the bound: %v", w.Err())
	}
	at(time.Second, p(0, 5, true, 0), p(1, 7, false, 0))
	var se *stream.StalledError
	if err := w.Err(); !errors.As(err, &se) || len(se.Stalls) != 1 || se.Stalls[0].Partition != 0 || se.Stalls[0].Offset != 5 {
		t.Fatalf("after the bound: %v", err)
	}
	if !strings.Contains(w.Err().Error(), "raw partition 0 has records to process at offset 5 and has not moved for 10s (--stall-after 10s): waiting for state rebuild") {
		t.Errorf("Err: %v", w.Err())
	}
	at(time.Second, p(0, 5, true, 0)) // still stalled: logged and counted once
	if gauge() != 1 || testutil.ToFloat64(m.Stalls.WithLabelValues("enrich", "raw")) != 1 || logs.FilterMessage(stalledMsg).Len() != 1 {
		t.Fatalf("gauge %v, stalls %v, %d warnings", gauge(), testutil.ToFloat64(m.Stalls.WithLabelValues("enrich", "raw")), logs.FilterMessage(stalledMsg).Len())
	}
	warn := logs.FilterMessage(stalledMsg).All()[0]
	if warn.Level != zapcore.WarnLevel {
		t.Errorf("the stall is logged at %s", warn.Level)
	}
	fields := warn.ContextMap()
	for k, v := range map[string]any{"stage": "enrich", "topic": "raw", "partition": int32(0), "offset": int64(5), "reason": "waiting for state rebuild"} {
		if fields[k] != v {
			t.Errorf("warning field %s = %v, want %v", k, fields[k], v)
		}
	}

	at(time.Second, p(0, 6, true, 0)) // it moved: resumed, and pending anew
	if w.Err() != nil || gauge() != 0 || logs.FilterMessage(resumedMsg).Len() != 1 {
		t.Fatalf("after moving: %v, gauge %v", w.Err(), gauge())
	}
	at(10*time.Second, p(0, 6, true, 0))
	at(time.Second, p(0, 6, false, 0)) // caught up: resumed
	at(time.Second, p(0, 6, true, 1))
	at(9*time.Second, p(0, 6, true, 2)) // steps keep moving: no stall
	at(9*time.Second, p(0, 6, true, 3))
	if w.Err() != nil {
		t.Fatalf("stalled while its steps moved: %v", w.Err())
	}
	at(10*time.Second, p(0, 6, true, 3))
	at(time.Second) // revoked: resumed here
	if w.Err() != nil || gauge() != 0 {
		t.Fatalf("after losing the partition: %v, gauge %v", w.Err(), gauge())
	}
	want := []string{"raw/0@5 true", "raw/0@5 false", "raw/0@6 true", "raw/0@6 false", "raw/0@6 true", "raw/0@6 false"}
	if fmt.Sprint(reports) != fmt.Sprint(want) {
		t.Errorf("reports %v, want %v", reports, want)
	}
	if n := logs.FilterMessage(stalledMsg).Len(); n != 3 {
		t.Errorf("%d stall warnings, want 3", n)
	}
}

// stallHarness runs a stage whose handler the test makes stall, with a
// short bound, logs observed, metrics registered, /readyz served from
// Stalled and stall reports kept.
type stallHarness struct {
	t       *testing.T
	st      *stream.Stage
	logs    *observer.ObservedLogs
	metrics *stream.Metrics
	readyz  *httptest.Server

	mu      sync.Mutex
	reports []stream.Stall
	ended   []stream.Stall
}

func newStallHarness(t *testing.T, brokers []string, h stream.Handler) *stallHarness {
	core, logs := observer.New(zapcore.InfoLevel)
	reg := prometheus.NewRegistry()
	sh := &stallHarness{t: t, logs: logs, metrics: stream.NewMetrics(reg)}
	st := stage(brokers, h)
	st.StallAfter = 500 * time.Millisecond
	st.DeferBackoff = 20 * time.Millisecond
	st.Instance = "test-1"
	st.Log = zap.New(core)
	st.Metrics = sh.metrics
	st.ReportStall = func(s stream.Stall, stalled bool) {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if stalled {
			sh.reports = append(sh.reports, s)
		} else {
			sh.ended = append(sh.ended, s)
		}
	}
	sh.st = st
	mux := http.NewServeMux()
	observe.Mount(mux, st.Stalled, reg)
	sh.readyz = httptest.NewServer(mux)
	t.Cleanup(sh.readyz.Close)
	return sh
}

func (sh *stallHarness) get(path string) (int, string) {
	sh.t.Helper()
	return kafkatest.MustGet(sh.t, sh.readyz.URL+path)
}

func (sh *stallHarness) gauge() float64 {
	return testutil.ToFloat64(sh.metrics.Stalled.WithLabelValues("test", inTopic))
}

// forceStall runs the stage with the handler stuck on one partition's
// records, checks everything a stall must show — one warning with stage,
// topic, partition, offset and reason; /readyz 503 naming it; the gauge
// and the counter; a report — then unsticks it and checks the recovery.
func forceStall(t *testing.T, wantReason string, h func(stuck *atomic.Bool) stream.Handler) {
	brokers := newCluster(t)
	const n = 40
	produceInputs(t, brokers, n, 1, func(i int) string { return "v-" + strconv.Itoa(i) }) // one key: one partition
	var stuck atomic.Bool
	stuck.Store(true)
	sh := newStallHarness(t, brokers, h(&stuck))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sh.st.Run(ctx) }()

	kafkatest.WaitFor(t, 30*time.Second, "the stall warning", func() bool { return sh.logs.FilterMessage(stalledMsg).Len() > 0 })
	warn := sh.logs.FilterMessage(stalledMsg).All()[0]
	f := warn.ContextMap()
	part := f["partition"].(int32)
	if warn.Level != zapcore.WarnLevel || f["stage"] != "test" || f["topic"] != inTopic || f["offset"] != int64(0) ||
		!strings.Contains(f["reason"].(string), wantReason) {
		t.Errorf("stall warning %s %v", warn.Level, f)
	}
	code, body := sh.get("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, fmt.Sprintf("%s partition %d has records to process at offset 0", inTopic, part)) ||
		!strings.Contains(body, wantReason) {
		t.Errorf("/readyz while stalled: %d %q", code, body)
	}
	_, metrics := sh.get("/metrics")
	if sh.gauge() != 1 || !strings.Contains(metrics, fmt.Sprintf(`surge_stage_stalled_partitions{stage="test",topic=%q} 1`, inTopic)) ||
		!strings.Contains(metrics, fmt.Sprintf(`surge_stage_stalls_total{stage="test",topic=%q} 1`, inTopic)) {
		t.Errorf("metrics while stalled: gauge %v\n%s", sh.gauge(), metrics)
	}
	sh.mu.Lock()
	if len(sh.reports) != 1 || sh.reports[0].Partition != part || sh.reports[0].Group != prefix+"g" || sh.reports[0].Instance != "test-1" {
		t.Errorf("stall reports %+v", sh.reports)
	}
	sh.mu.Unlock()
	// Still stuck a while longer: still one warning.
	time.Sleep(3 * sh.st.StallAfter)
	if n := sh.logs.FilterMessage(stalledMsg).Len(); n != 1 {
		t.Errorf("%d stall warnings for one stall", n)
	}

	stuck.Store(false)
	kafkatest.WaitFor(t, 30*time.Second, "every output", func() bool { return len(readCommitted(t, brokers, outTopic)) == n })
	kafkatest.WaitFor(t, 10*time.Second, "the resume log", func() bool { return sh.logs.FilterMessage(resumedMsg).Len() == 1 })
	if code, body := sh.get("/readyz"); code != http.StatusOK || sh.gauge() != 0 || sh.st.Stalled() != nil {
		t.Errorf("after the recovery: /readyz %d %q, gauge %v, Stalled %v", code, body, sh.gauge(), sh.st.Stalled())
	}
	sh.mu.Lock()
	if len(sh.ended) != 1 || sh.ended[0].Partition != part {
		t.Errorf("end reports %+v", sh.ended)
	}
	sh.mu.Unlock()
	// Caught up and idle for several bounds: no new stall (the commit
	// markers past the last record are no records to process).
	time.Sleep(3 * sh.st.StallAfter)
	if n := sh.logs.FilterMessage(stalledMsg).Len(); n != 1 || sh.st.Stalled() != nil {
		t.Errorf("idle after the recovery: %d stall warnings, %v", n, sh.st.Stalled())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestStallOfAHandlerThatKeepsDeferring is issue 13's case: a partition
// whose records are deferred forever (enrich waiting for a state rebuild
// that does not finish) is reported stalled, with the deferral's error as
// the reason, and recovers when the handler goes on.
func TestStallOfAHandlerThatKeepsDeferring(t *testing.T) {
	forceStall(t, "waiting for state rebuild", func(stuck *atomic.Bool) stream.Handler {
		return func(ctx context.Context, in *kgo.Record) ([]*kgo.Record, error) {
			if stuck.Load() {
				return nil, fmt.Errorf("rebuilding partition %d: waiting for state rebuild: %w", in.Partition, stream.ErrDefer)
			}
			return upper(ctx, in)
		}
	})
}

// TestStallOfATransactionThatKeepsFailing: a batch that aborts every time
// (a transient error that does not go away) is a stall too.
func TestStallOfATransactionThatKeepsFailing(t *testing.T) {
	forceStall(t, "transaction keeps failing: handling", func(stuck *atomic.Bool) stream.Handler {
		return func(ctx context.Context, in *kgo.Record) ([]*kgo.Record, error) {
			if stuck.Load() {
				return nil, errors.New("the registry does not answer")
			}
			return upper(ctx, in)
		}
	})
}

// TestNoStallWhileMoving: a slow stage whose whole run is longer than the
// bound, but whose every batch commits within it, is never stalled.
func TestNoStallWhileMoving(t *testing.T) {
	brokers := newCluster(t)
	const n = 30
	produceInputs(t, brokers, n, 1, func(i int) string { return "v-" + strconv.Itoa(i) })
	sh := newStallHarness(t, brokers, func(ctx context.Context, in *kgo.Record) ([]*kgo.Record, error) {
		time.Sleep(40 * time.Millisecond)
		return upper(ctx, in)
	})
	sh.st.StallAfter = 400 * time.Millisecond
	sh.st.MaxPollRecords = 2
	start := time.Now()
	runUntil(t, sh.st, func() bool { return len(readCommitted(t, brokers, outTopic)) == n })
	if took := time.Since(start); took < sh.st.StallAfter {
		t.Logf("the run took %s, under the bound: the check proves less", took)
	}
	if n := sh.logs.FilterMessage(stalledMsg).Len(); n != 0 || testutil.ToFloat64(sh.metrics.Stalls.WithLabelValues("test", inTopic)) != 0 {
		t.Errorf("a moving stage was reported stalled %d times", n)
	}
}
