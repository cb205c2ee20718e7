package dispatcher_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
)

// TestTinyBoundsUnderChurnLoseAndReorderNothing: memory bounds so small
// that most deliveries wait in the retry topic and are read back one by
// one, an endpoint that fails a fifth of the attempts (short in-memory
// waits and parked keys), and a restart in the middle: every delivery
// arrives, in order per key.
func TestTinyBoundsUnderChurnLoseAndReorderNothing(t *testing.T) {
	h := newHarness(t, 3)
	h.cfg.MemoryWait = 150 * time.Millisecond
	h.cfg.MaxLoadedPerKey = 2
	h.cfg.MaxLoadedPerSubscription = 24
	h.cfg.MaxLoaded = 40
	for _, s := range []string{"sub_a", "sub_b"} {
		h.subscribe(s, func(s *event.Subscription) {
			s.RetrySchedule = []string{"1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"}
		})
	}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(7, 7))
	h.recv.setRespond(func(r received, n int) (int, http.Header) {
		mu.Lock()
		fail := rng.IntN(5) == 0
		mu.Unlock()
		if fail {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	})
	var ds []event.Delivery
	want := map[string]int64{}
	for i := range 3000 {
		sub := []string{"sub_a", "sub_b"}[i%2]
		key := "order:K" + strconv.Itoa(i%60)
		v := int64(i/60 + 1)
		ds = append(ds, delivery(sub, key, v, i))
		want[sub+"/"+key] = v
	}
	h.produce(ds...)
	first := h.start()
	kafkatest.WaitFor(t, 90*time.Second, "a third of the run", func() bool { return distinct(h.recv.delivered()) >= len(ds)/3 })
	first.stop()
	h.start()
	deadline := time.Now().Add(120 * time.Second)
	for distinct(h.recv.delivered()) < len(ds) {
		if time.Now().After(deadline) {
			ids := map[string]bool{}
			for _, g := range h.recv.delivered() {
				ids[g.id] = true
			}
			missing := map[string][]int64{}
			for _, d := range ds {
				if !ids[d.ID] {
					missing[d.SubscriptionID+"/"+d.EntityKey] = append(missing[d.SubscriptionID+"/"+d.EntityKey], d.EntityVersion)
				}
			}
			t.Fatalf("%d of %d delivered; missing: %v", distinct(h.recv.delivered()), len(ds), missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := h.recv.delivered()
	t.Logf("%d requests for %d deliveries", len(got), len(ds))
	checkOrder(t, got, want)
}

func distinct(got []received) int {
	ids := map[string]bool{}
	for _, g := range got {
		ids[g.id] = true
	}
	return len(ids)
}

// TestOldWaitingDeliveriesAreWrittenAgain: a paused subscription's
// deliveries wait in the retry topic behind their heads; once their
// records are older than RefreshAfter they are written again at the end
// of the topic (so retention never deletes them), and when the
// subscription resumes each arrives once, in order.
func TestOldWaitingDeliveriesAreWrittenAgain(t *testing.T) {
	h := newHarness(t, 1)
	h.cfg.MaxLoadedPerKey = 2
	h.cfg.MaxLoadedPerSubscription = 8
	h.cfg.MaxLoaded = 16
	h.cfg.RefreshAfter = time.Second
	h.cfg.ParkRefresh = time.Hour
	h.subscribe("sub_p", func(s *event.Subscription) { s.Paused = true })
	var ds []event.Delivery
	want := map[string]int64{}
	for i := range 200 {
		key := "order:K" + strconv.Itoa(i%2)
		v := int64(i/2 + 1)
		ds = append(ds, delivery("sub_p", key, v, i))
		want["sub_p/"+key] = v
	}
	h.produce(ds...)
	h.start()
	retry := h.Follow(topics.DeliveriesRetry)
	// Every delivery is copied once when it parks; a refresh copies the
	// old ones again.
	kafkatest.WaitFor(t, 60*time.Second, "the waiting deliveries written again", func() bool { return len(retry.Records()) >= 2*len(ds)-4 })
	s, _ := h.subs.Get("sub_p")
	s.Paused = false
	if err := h.subs.Put(context.Background(), s.ID, s); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 60*time.Second, "every delivery", func() bool { return distinct(h.recv.delivered()) >= len(ds) })
	got := h.recv.delivered()
	if len(got) != len(ds) {
		t.Fatalf("%d requests for %d deliveries", len(got), len(ds))
	}
	checkOrder(t, got, want)
}
