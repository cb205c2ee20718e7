package dispatcher_test

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/opsevent"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/webhook/webhooktest"
)

// TestBreakerAndExhaustedOperatorEvents: an endpoint failing twice in a
// row (BreakerFailures 2) opens its breaker and, once a probe after the
// cool-down succeeds, closes it: one breaker_opened and one
// breaker_closed on commerce.events.raw, in that order, keyed by the
// endpoint; a delivery that used its last retry is one
// surge.delivery.exhausted, but an exhausted delivery of an operator
// event is none.
func TestBreakerAndExhaustedOperatorEvents(t *testing.T) {
	h := newHarness(t, 1)
	h.cfg.BreakerFailures = 2
	h.cfg.BreakerCoolDown = 500 * time.Millisecond
	var failures atomic.Int32
	failures.Store(2)
	h.recv.Respond(func(a webhooktest.Arrival) (int, http.Header) {
		if a.Path == "exhausted" || failures.Add(-1) >= 0 {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	})
	h.subscribe("flaky", func(s *event.Subscription) { s.RetrySchedule = []string{"1s", "1s"} })
	h.subscribe("exhausted", func(s *event.Subscription) { s.RetrySchedule = []string{"1s"} })
	raw := h.Follow(topics.EventsRaw)
	h.start()

	ops := delivery("exhausted", "endpoint:sub_x", 1, 2)
	ops.EventType = opsevent.BreakerOpened
	h.produce(delivery("flaky", "order:1", 1, 1), delivery("exhausted", "order:2", 1, 3), ops)

	codec := avroserde.NewEventCodec(h.Registry, h.Topic(topics.EventsRaw))
	var evs []event.Event
	kafkatest.WaitFor(t, 30*time.Second, "breaker_opened, breaker_closed and one exhausted", func() bool {
		evs = evs[:0]
		for _, d := range kafkatest.DecodeAll(t, codec, raw.Records()) {
			evs = append(evs, d.Value)
		}
		n := map[string]int{}
		for _, e := range evs {
			n[e.Type]++
		}
		return n[opsevent.BreakerClosed] == 1 && n[opsevent.DeliveryExhausted] >= 1
	})
	time.Sleep(2 * time.Second) // the operator event's delivery exhausts too: no event may follow
	evs = evs[:0]
	for _, d := range kafkatest.DecodeAll(t, codec, raw.Records()) {
		evs = append(evs, d.Value)
	}

	var flaky []string
	exhausted := 0
	for _, e := range evs {
		if e.Source != opsevent.Source {
			t.Errorf("operator event %s from source %q", e.Type, e.Source)
		}
		switch e.Type {
		case opsevent.BreakerOpened, opsevent.BreakerClosed:
			var b opsevent.Endpoint
			if err := json.Unmarshal(e.Data, &b); err != nil || b.SubscriptionID != e.Entity.ID || e.Entity.Type != opsevent.EntityEndpoint {
				t.Errorf("%s: %s (%v) about %+v", e.Type, e.Data, err, e.Entity)
			}
			if (e.Type == opsevent.BreakerOpened) != (b.Until != nil) {
				t.Errorf("%s: until %v", e.Type, b.Until)
			}
			if b.SubscriptionID == "flaky" {
				flaky = append(flaky, e.Type)
			}
		case opsevent.DeliveryExhausted:
			exhausted++
			var b opsevent.Exhausted
			if err := json.Unmarshal(e.Data, &b); err != nil || b.DeliveryID != "msg_exhausted_000003" || b.EventType != "order.updated" || b.Attempts != 2 || b.LastStatus != 503 {
				t.Errorf("exhausted: %s (%v)", e.Data, err)
			}
		}
	}
	if len(flaky) != 2 || flaky[0] != opsevent.BreakerOpened || flaky[1] != opsevent.BreakerClosed {
		t.Errorf("the flaky endpoint's breaker events: %v, want opened then closed", flaky)
	}
	if exhausted != 1 {
		t.Errorf("%d surge.delivery.exhausted, want 1 (none for the operator event's own delivery)", exhausted)
	}
}
