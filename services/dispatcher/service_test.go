package dispatcher_test

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// TestEveryDeliveryArrivesSignedAndInOrder: deliveries over 200 entities
// to 3 subscriptions all arrive, each verified with the official Standard
// Webhooks library, in order per (subscription, entity).
func TestEveryDeliveryArrivesSignedAndInOrder(t *testing.T) {
	n := 6000
	if testing.Short() {
		n = 1500
	}
	h := newHarness(t, 6)
	subs := []string{"sub_a", "sub_b", "sub_c"}
	for _, s := range subs {
		h.subscribe(s, nil)
	}
	var ds []event.Delivery
	want := map[string]int64{}
	version := map[string]int64{}
	for i := range n {
		key := "order:O" + strconv.Itoa(i%200)
		version[key]++
		for _, s := range subs {
			ds = append(ds, delivery(s, key, version[key], i))
			want[s+"/"+key] = version[key]
		}
	}
	h.produce(ds...)
	start := time.Now()
	h.start()
	kafkatest.WaitFor(t, 120*time.Second, "every delivery", func() bool { return len(h.recv.delivered()) >= len(ds) })
	t.Logf("%d deliveries in %s", len(ds), time.Since(start).Round(time.Millisecond))
	if bad := h.recv.badSignatures(); len(bad) > 0 {
		t.Fatalf("%d signatures failed the official library, first: %s", len(bad), bad[0])
	}
	got := h.recv.delivered()
	checkOrder(t, got, want)
	ids := map[string]bool{}
	for _, g := range got {
		ids[g.id] = true
	}
	if len(ids) != len(ds) {
		t.Fatalf("%d distinct webhook-ids, want %d", len(ids), len(ds))
	}
}

// TestRetryKeepsKeyOrderWithoutDelayingOthers: one entity's endpoint
// answers 503 three times, then 200. That entity's deliveries arrive after
// the retries, in order; the other entities' deliveries are not held back
// by the retry waits.
func TestRetryKeepsKeyOrderWithoutDelayingOthers(t *testing.T) {
	h := newHarness(t, 3)
	h.subscribe("sub_a", func(s *event.Subscription) { s.RetrySchedule = []string{"1s", "1s", "1s", "1s"} })
	var failures atomic.Int32
	h.recv.setRespond(func(r received, n int) (int, http.Header) {
		if r.key == "order:SLOW" && failures.Load() < 3 {
			failures.Add(1)
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	})
	var ds []event.Delivery
	for v := int64(1); v <= 5; v++ {
		ds = append(ds, delivery("sub_a", "order:SLOW", v, int(v)))
	}
	for i := range 300 {
		ds = append(ds, delivery("sub_a", "order:F"+strconv.Itoa(i%30), int64(i/30+1), 100+i))
	}
	h.produce(ds...)
	start := time.Now()
	h.start()
	kafkatest.WaitFor(t, 60*time.Second, "every delivery", func() bool { return len(h.recv.delivered()) >= len(ds) })
	got := h.recv.delivered()
	want := map[string]int64{"sub_a/order:SLOW": 5}
	for i := range 30 {
		want["sub_a/order:F"+strconv.Itoa(i)] = 10
	}
	checkOrder(t, got, want)
	var lastFast, firstSlow time.Time
	for _, g := range got {
		if g.key == "order:SLOW" && firstSlow.IsZero() {
			firstSlow = g.at
		}
		if g.key != "order:SLOW" {
			lastFast = g.at
		}
	}
	t.Logf("other entities done %s after start; the retried entity's first success %s after start",
		lastFast.Sub(start).Round(time.Millisecond), firstSlow.Sub(start).Round(time.Millisecond))
	// Three retries wait at least ~2.4 s (1 s ± 20% each); the other
	// entities must all be through before the retried one gets its 200.
	if !lastFast.Before(firstSlow) {
		t.Fatalf("other entities finished at %s, after the retried entity's first success at %s: they were held back",
			lastFast.Sub(start), firstSlow.Sub(start))
	}
}

// TestLongFailureParksTheKeyAndTheOffsetMoves: a key failing longer than
// the in-memory wait parks in the retry topic; the group's committed
// offset on commerce.deliveries moves past it while it fails; after the
// endpoint recovers, the parked deliveries arrive in order.
func TestLongFailureParksTheKeyAndTheOffsetMoves(t *testing.T) {
	h := newHarness(t, 2)
	h.cfg.MemoryWait = 200 * time.Millisecond
	h.subscribe("sub_a", func(s *event.Subscription) {
		s.RetrySchedule = []string{"1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"}
	})
	var down atomic.Bool
	down.Store(true)
	h.recv.setRespond(func(r received, n int) (int, http.Header) {
		if r.key == "order:DOWN" && down.Load() {
			return http.StatusBadGateway, nil
		}
		return http.StatusOK, nil
	})
	var ds []event.Delivery
	for v := int64(1); v <= 4; v++ {
		ds = append(ds, delivery("sub_a", "order:DOWN", v, int(v)))
	}
	for i := range 100 {
		ds = append(ds, delivery("sub_a", "order:UP"+strconv.Itoa(i%10), int64(i/10+1), 100+i))
	}
	h.produce(ds...)
	h.start()
	kafkatest.WaitFor(t, 30*time.Second, "the healthy keys", func() bool { return len(h.recv.delivered()) >= 100 })
	// The whole main topic is committed while order:DOWN still fails.
	kafkatest.WaitFor(t, 30*time.Second, "the committed offset to pass the failing key", func() bool {
		return h.committed(topics.Deliveries) >= int64(len(ds))
	})
	if got := len(h.recv.delivered()); got != 100 {
		t.Fatalf("%d delivered while the key is down, want the 100 healthy ones", got)
	}
	down.Store(false)
	kafkatest.WaitFor(t, 30*time.Second, "the parked deliveries", func() bool { return len(h.recv.delivered()) >= len(ds) })
	want := map[string]int64{"sub_a/order:DOWN": 4}
	checkOrder(t, h.recv.delivered(), want)
}

// TestStatusHandling: 400 dead-letters at once with the error headers;
// 410 disables the subscription and holds its deliveries; 429 with
// Retry-After: 2 is retried no earlier than 2 s later.
func TestStatusHandling(t *testing.T) {
	h := newHarness(t, 1)
	h.subscribe("sub_bad", nil)
	h.subscribe("sub_gone", nil)
	h.subscribe("sub_busy", nil)
	h.recv.setRespond(func(r received, n int) (int, http.Header) {
		switch r.sub {
		case "sub_bad":
			return http.StatusBadRequest, nil
		case "sub_gone":
			return http.StatusGone, nil
		case "sub_busy":
			if n == 1 {
				return http.StatusTooManyRequests, http.Header{"Retry-After": {"2"}}
			}
		}
		return http.StatusOK, nil
	})
	dlq := h.Topic(topics.DeliveriesDLQ)
	h.produce(delivery("sub_bad", "order:1", 1, 1), delivery("sub_gone", "order:1", 1, 2), delivery("sub_gone", "order:1", 2, 3), delivery("sub_busy", "order:1", 1, 4))
	h.start()

	kafkatest.WaitFor(t, 30*time.Second, "the 429 retry", func() bool {
		n := 0
		for _, g := range h.recv.all() {
			if g.sub == "sub_busy" {
				n++
			}
		}
		return n >= 2
	})
	var busy []received
	for _, g := range h.recv.all() {
		if g.sub == "sub_busy" {
			busy = append(busy, g)
		}
	}
	if gap := busy[1].at.Sub(busy[0].at); gap < 2*time.Second {
		t.Fatalf("retried %s after a 429 with Retry-After: 2", gap)
	}

	var recs []*struct{}
	_ = recs
	kafkatest.WaitFor(t, 30*time.Second, "the 400 in the DLQ", func() bool { return len(h.ReadCommitted(t, dlq)) >= 1 })
	dl := h.ReadCommitted(t, dlq)
	if len(dl) != 1 {
		t.Fatalf("%d dead letters, want only the 400", len(dl))
	}
	d, err := h.dlq.Decode(context.Background(), dl[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if d.SubscriptionID != "sub_bad" || d.Attempts != 1 || d.LastStatus != 400 ||
		stream.Header(dl[0], topics.HeaderDLQErrorClass) != "rejected" || stream.Header(dl[0], topics.HeaderDLQHTTPStatus) != "400" ||
		stream.Header(dl[0], topics.HeaderDLQStage) != "dispatcher" || stream.Header(dl[0], topics.HeaderDLQFirstFailure) == "" {
		t.Fatalf("dead letter %+v headers %v", d, dl[0].Headers)
	}

	kafkatest.WaitFor(t, 30*time.Second, "the subscription disabled by 410", func() bool {
		s, _ := h.subs.Get("sub_gone")
		return !s.Enabled && s.DisabledReason != ""
	})
	time.Sleep(500 * time.Millisecond)
	gone := 0
	for _, g := range h.recv.all() {
		if g.sub == "sub_gone" {
			gone++
		}
	}
	if gone != 1 {
		t.Fatalf("the 410 endpoint got %d requests, want 1 (the rest held)", gone)
	}
	// Re-enabled, the held deliveries go, in order.
	s, _ := h.subs.Get("sub_gone")
	s.Enabled, s.DisabledReason = true, ""
	if err := h.subs.Put(context.Background(), s.ID, s); err != nil {
		t.Fatal(err)
	}
	h.recv.setRespond(nil)
	kafkatest.WaitFor(t, 30*time.Second, "the held deliveries", func() bool {
		n := 0
		for _, g := range h.recv.delivered() {
			if g.sub == "sub_gone" {
				n++
			}
		}
		return n >= 2
	})
}

// TestPausedSubscriptionHoldsThenDeliversInOrder: nothing is attempted
// while paused; on resume everything arrives, in order.
func TestPausedSubscriptionHoldsThenDeliversInOrder(t *testing.T) {
	h := newHarness(t, 2)
	h.subscribe("sub_p", func(s *event.Subscription) { s.Paused = true })
	var ds []event.Delivery
	for i := range 50 {
		ds = append(ds, delivery("sub_p", "order:"+strconv.Itoa(i%5), int64(i/5+1), i))
	}
	h.produce(ds...)
	h.start()
	kafkatest.WaitFor(t, 30*time.Second, "the held deliveries to leave the main topic", func() bool {
		return h.committed(topics.Deliveries) >= int64(len(ds))
	})
	if n := len(h.recv.all()); n != 0 {
		t.Fatalf("%d requests to a paused subscription", n)
	}
	s, _ := h.subs.Get("sub_p")
	s.Paused = false
	if err := h.subs.Put(context.Background(), s.ID, s); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 30*time.Second, "every delivery after resume", func() bool { return len(h.recv.delivered()) >= len(ds) })
	want := map[string]int64{}
	for i := range 5 {
		want["sub_p/order:"+strconv.Itoa(i)] = 10
	}
	checkOrder(t, h.recv.delivered(), want)
}

// TestRestartLosesNothingAndKeepsOrder: the dispatcher is stopped without
// a goodbye in the middle of a run (retries and parked keys included) and a
// new one takes over: every delivery arrives, in order per key; repeats
// carry the same webhook-id.
func TestRestartLosesNothingAndKeepsOrder(t *testing.T) {
	h := newHarness(t, 3)
	h.cfg.MemoryWait = 100 * time.Millisecond
	h.subscribe("sub_a", func(s *event.Subscription) { s.RetrySchedule = []string{"1s", "1s", "1s", "1s", "1s", "1s"} })
	var k3Failures atomic.Int32
	h.recv.setRespond(func(r received, n int) (int, http.Header) {
		if r.key == "order:K3" && k3Failures.Add(1) <= 2 {
			return http.StatusServiceUnavailable, nil // parks, then succeeds
		}
		return http.StatusOK, nil
	})
	var ds []event.Delivery
	want := map[string]int64{}
	for i := range 3000 {
		key := "order:K" + strconv.Itoa(i%40)
		v := int64(i/40 + 1)
		ds = append(ds, delivery("sub_a", key, v, i))
		want["sub_a/"+key] = v
	}
	h.produce(ds...)
	first := h.start()
	kafkatest.WaitFor(t, 60*time.Second, "a part of the run", func() bool { return len(h.recv.delivered()) >= 800 })
	first.stop()
	h.start()
	deadline := time.Now().Add(120 * time.Second)
	for {
		ids := map[string]bool{}
		for _, g := range h.recv.delivered() {
			ids[g.id] = true
		}
		if len(ids) >= len(ds) {
			break
		}
		if time.Now().After(deadline) {
			missing := map[string]int{}
			for _, d := range ds {
				if !ids[d.ID] {
					missing[d.EntityKey]++
				}
			}
			t.Fatalf("%d of %d delivered; missing per key: %v", len(ids), len(ds), missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := h.recv.delivered()
	t.Logf("%d requests for %d deliveries (%d repeats)", len(got), len(ds), len(got)-len(ds))
	checkOrder(t, got, want)
}
