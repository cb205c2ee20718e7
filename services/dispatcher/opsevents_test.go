package dispatcher_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
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

// TestAutoDisableRule: a subscription whose endpoint only fails
// (503) with auto_disable_after_ms 2500 is disabled once every attempt
// has failed for 2.5 s: its disabled_reason says the rule did it, its
// delivery is held (not dead-lettered, no more attempts), and one
// surge.endpoint.disabled names it. A subscription failing the same way
// without the rule keeps retrying and stays enabled: the rule is off by
// default.
func TestAutoDisableRule(t *testing.T) {
	h := newHarness(t, 1)
	h.recv.Respond(func(webhooktest.Arrival) (int, http.Header) { return http.StatusServiceUnavailable, nil })
	schedule := slices.Repeat([]string{"1s"}, 20)
	h.subscribe("ruled", func(s *event.Subscription) { s.RetrySchedule, s.AutoDisableAfterMS = schedule, 2500 })
	h.subscribe("unruled", func(s *event.Subscription) { s.RetrySchedule = schedule })
	raw := h.Follow(topics.EventsRaw)
	h.produce(delivery("ruled", "order:1", 1, 1), delivery("unruled", "order:1", 1, 2))
	h.start()

	kafkatest.WaitFor(t, 30*time.Second, "the ruled subscription disabled", func() bool {
		s, _ := h.subs.Get("ruled")
		return !s.Enabled
	})
	s, _ := h.subs.Get("ruled")
	if !strings.HasPrefix(s.DisabledReason, "auto-disabled: every attempt to "+s.URL+" failed from ") {
		t.Errorf("disabled_reason %q", s.DisabledReason)
	}
	attemptsOf := func(sub string) int { return len(h.recv.Answered(sub, http.StatusServiceUnavailable)) }
	atDisable := attemptsOf("ruled")
	if atDisable < 3 || atDisable > 5 {
		t.Errorf("%d attempts before the rule disabled it, want 2.5 s of retries 1 s apart", atDisable)
	}
	unruled := attemptsOf("unruled")
	time.Sleep(2 * time.Second)
	if n := attemptsOf("ruled"); n != atDisable {
		t.Errorf("%d attempts after the subscription was disabled", n-atDisable)
	}
	if n := attemptsOf("unruled"); n <= unruled {
		t.Errorf("the subscription without the rule stopped retrying at %d attempts", n)
	}
	if u, _ := h.subs.Get("unruled"); !u.Enabled {
		t.Errorf("the subscription without the rule was disabled: %q", u.DisabledReason)
	}
	if n := len(h.ReadCommitted(t, h.Topic(topics.DeliveriesDLQ))); n != 0 {
		t.Errorf("%d dead letters: an auto-disabled delivery is held", n)
	}

	codec := avroserde.NewEventCodec(h.Registry, h.Topic(topics.EventsRaw))
	var disabled []opsevent.Endpoint
	kafkatest.WaitFor(t, 10*time.Second, "surge.endpoint.disabled", func() bool {
		disabled = disabled[:0]
		for _, d := range kafkatest.DecodeAll(t, codec, raw.Records()) {
			if d.Value.Type != opsevent.EndpointDisabled {
				continue
			}
			var b opsevent.Endpoint
			if err := json.Unmarshal(d.Value.Data, &b); err != nil {
				t.Fatal(err)
			}
			disabled = append(disabled, b)
		}
		return len(disabled) > 0
	})
	if len(disabled) != 1 || disabled[0].SubscriptionID != "ruled" || disabled[0].Reason != s.DisabledReason {
		t.Errorf("surge.endpoint.disabled events %+v, want one for ruled with its disabled_reason", disabled)
	}
}
