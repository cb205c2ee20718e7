package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
)

// The heap in use the dispatcher may reach in the slow-endpoint tests: its
// base (clients, buffers, the runtime) plus the deliveries its default
// bounds let it hold in memory for 40 keys — not the 20,000 that wait,
// which cost ~140 MB held in memory.
const slowTestHeapBound = 96 << 20

// TestSlowEndpointNextToAFastOne is issue 20's scenario, scaled for CI:
// two subscriptions get the same 20,000 events over 20 entities; one
// endpoint answers at once, the other after a second. The fast one gets
// everything while the slow one is far behind; the dispatcher's heap stays
// under its bound; its committed offset on commerce.deliveries moves past
// the fast subscription's work; stopped with SIGTERM and then killed with
// SIGKILL mid-backlog, it comes back without delivering the fast
// subscription's events again; and the slow one gets everything in order.
func TestSlowEndpointNextToAFastOne(t *testing.T) {
	testSlowSubscription(t, "slow", answerAfterASecond)
}

// answerAfterASecond is a slow endpoint's gate: each request is answered
// after a second, until released.
func answerAfterASecond(r *http.Request, released *atomic.Bool) bool {
	if released.Load() {
		return true
	}
	select {
	case <-time.After(time.Second):
		return true
	case <-r.Context().Done():
		return false
	}
}

// TestHangingEndpointNextToAHealthyOne: the same with an endpoint that
// accepts and never answers (until the test lets it): its deliveries time
// out, retry and park, and nothing of that reaches the healthy one.
func TestHangingEndpointNextToAHealthyOne(t *testing.T) {
	testSlowSubscription(t, "hanging", func(r *http.Request, released *atomic.Bool) bool {
		for !released.Load() {
			select {
			case <-time.After(50 * time.Millisecond):
			case <-r.Context().Done():
				return false
			}
		}
		return true
	})
}

func testSlowSubscription(t *testing.T, kind string, gate func(*http.Request, *atomic.Bool) bool) {
	if testing.Short() {
		t.Skip("runs the stages as processes with 40,000 deliveries")
	}
	const events, entities, inFlight = 20000, 20, 64
	sp := newStagePipeline(t) // its subscription sub_scale → sp.rc is the fast one
	slow, released := sp.slowSubscription(t, gate, func(s *event.Subscription) {
		s.MaxInFlight = entities
		s.TimeoutMS = 2000
		s.RetrySchedule = []string{"1s", "2s", "5s", "5s", "5s", "5s", "5s", "5s", "5s", "5s", "5s", "5s"}
	})
	sp.stage(t, "enrich", "enrich-1")
	sp.stage(t, "fanout", "fanout-1")
	disp := sp.stage(t, "dispatcher", "dispatcher-1", "--allow-loopback")

	var heapMax atomic.Int64
	sample := func(p *stageProcess) func() {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for ctx.Err() == nil {
				if v, ok := scrapeMetric(p.metrics, "go_memstats_heap_inuse_bytes"); ok && int64(v) > heapMax.Load() {
					heapMax.Store(int64(v))
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
		return cancel
	}
	stopSampling := sample(disp)

	batches, versions := paddedOrderBatches(events, entities, 1500)
	for _, b := range batches {
		if status, body := postEvent(t, sp.ingestURL, b.body, nil); status != http.StatusAccepted {
			t.Fatalf("POST: %d %v", status, body)
		}
	}
	start := time.Now()
	deadline := time.Now().Add(3 * time.Minute)
	for sp.rc.distinct() < events {
		if time.Now().After(deadline) {
			backlog, _ := http.Get("http://" + disp.metrics + "/metrics")
			var b strings.Builder
			if backlog != nil {
				sc := bufio.NewScanner(backlog.Body)
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "surge_dispatcher") {
						b.WriteString(sc.Text() + "\n")
					}
				}
				backlog.Body.Close()
			}
			t.Fatalf("the fast endpoint got %d of %d in 3 min (%s: %d); dispatcher metrics:\n%s\nits log:\n%s", sp.rc.distinct(), events, kind, slow.distinct(), b.String(), disp.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	fastTook := time.Since(start)
	slowSoFar := slow.distinct()
	if slowSoFar > events/2 {
		t.Fatalf("the %s endpoint already got %d of %d: the test shows nothing", kind, slowSoFar, events)
	}

	// The committed offset moved past the fast subscription's work: what
	// is left behind it is at most the slow subscription's deliveries in
	// flight, not its backlog.
	var lag int64
	kafkatest.WaitFor(t, 30*time.Second, "the committed offset to pass the fast subscription's work", func() bool {
		lag = deliveriesLag(t, sp)
		return lag <= 10*entities
	})
	t.Logf("fast: %d deliveries in %s; %s: %d of %d so far; commerce.deliveries lag %d; dispatcher heap in use at most %.1f MiB",
		events, fastTook.Round(time.Millisecond), kind, slowSoFar, events, lag, float64(heapMax.Load())/(1<<20))

	// Stop it, then kill it, mid-backlog: the fast endpoint hears nothing
	// again but what was in flight, if anything.
	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		stopSampling()
		fastBefore := sp.rc.requests()
		_ = disp.cmd.Process.Signal(sig)
		_, _ = disp.cmd.Process.Wait()
		disp = sp.stage(t, "dispatcher", "dispatcher-"+strconv.Itoa(i+2), "--allow-loopback")
		stopSampling = sample(disp)
		time.Sleep(5 * time.Second) // the partitions are assigned and resumed
		repeats := sp.rc.requests() - fastBefore
		resumed, _ := scrapeMetric(disp.metrics, `surge_dispatcher_resumed_total{topic="main"}`)
		t.Logf("after %s: the fast endpoint got %d repeats; %d unfinished deliveries read again; %s: %d of %d",
			sig, repeats, int(resumed), kind, slow.distinct(), events)
		if repeats >= inFlight {
			t.Fatalf("after %s the fast endpoint got %d deliveries again, want fewer than the %d that can be in flight", sig, repeats, inFlight)
		}
	}
	if h := heapMax.Load(); h > slowTestHeapBound {
		t.Fatalf("the dispatcher's heap in use reached %.1f MiB, over the %.0f MiB bound", float64(h)/(1<<20), float64(slowTestHeapBound)/(1<<20))
	}
	stopSampling()

	// The endpoint recovers: everything arrives, in order per entity.
	released.Store(true)
	kafkatest.WaitFor(t, 3*time.Minute, "every delivery to the "+kind+" endpoint", func() bool { return slow.distinct() >= events })
	want := map[string]int64{}
	for k, v := range versions {
		want["s0/"+k] = v
	}
	sp.rc.check(t, want)
	wantSlow := map[string]int64{}
	for k, v := range versions {
		wantSlow["slow/"+k] = v
	}
	slow.check(t, wantSlow)
}

// requests counts every arrival, repeats included.
func (rc *hookReceiver) requests() int { return rc.Requests() }

// deliveriesLag is the dispatcher group's lag on commerce.deliveries,
// counted in data records as `surge topics` counts it.
func deliveriesLag(t *testing.T, sp *stagePipeline) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(sp.kc.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	topic := sp.kc.Topic(topics.Deliveries)
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	offs, err := adm.FetchOffsets(ctx, sp.kc.Prefix+topics.GroupDispatcher)
	if err != nil {
		t.Fatal(err)
	}
	var lag int64
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := offs.Lookup(topic, o.Partition)
		at := int64(0)
		if ok && c.At >= 0 {
			at = c.At
		}
		// Each fanout transaction ends in a marker: at most one per
		// transaction is not a record; count records roughly as offsets.
		lag += max(o.Offset-at, 0)
	})
	return lag
}

// scrapeMetric reads one sample from a Prometheus endpoint at addr.
func scrapeMetric(addr, name string) (float64, bool) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			if _, err := fmt.Sscanf(rest, "%g", &v); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}
