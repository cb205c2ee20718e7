package dispatcher

import (
	"fmt"
	"time"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/opsevent"
	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/webhook"
)

// The dispatcher's operator events (pkg/opsevent): what it tells an
// operator's subscription about an endpoint or a delivery.

// disabledEvent reports a subscription disabled after a 410 Gone or by
// its auto-disable rule; the reason says which.
func (s *Service) disabledEvent(sub event.Subscription) {
	s.ops.Emit(opsevent.EndpointDisabled, endpointOf(sub.ID), opsevent.Endpoint{SubscriptionID: sub.ID, URL: subscription.Target(sub), Reason: sub.DisabledReason})
}

// exhaustedEvent reports a delivery dead-lettered after its last retry,
// unless it delivered an operator event itself: an operators' endpoint
// that fails must not feed itself.
func (s *Service) exhaustedEvent(d event.Delivery) {
	if opsevent.Reserved(d.EventType) {
		return
	}
	s.ops.Emit(opsevent.DeliveryExhausted, event.EntityRef{Type: opsevent.EntityDelivery, ID: d.ID}, opsevent.Exhausted{
		SubscriptionID: d.SubscriptionID, DeliveryID: d.ID, EventID: d.EventID, EventType: d.EventType, EntityKey: d.EntityKey,
		Attempts: d.Attempts, LastStatus: d.LastStatus, LastError: d.LastError, DeadLetterTopic: s.dlqTopic,
	})
}

// breakerChanged is the guards' OnStateChange: a breaker that opens from
// closed, and one that closes again, are reported; the half-open probes
// between are not (an endpoint that stays down is one breaker_opened,
// not one per cool-down). It runs under the breaker's lock, and Emit does
// not wait.
func (s *Service) breakerChanged(subID string, from, to webhook.BreakerState) {
	sub, _ := s.subs.Get(subID)
	switch {
	case from == webhook.Closed && to == webhook.Open:
		until := s.now().Add(s.cfg.BreakerCoolDown).UTC().Truncate(time.Millisecond)
		s.ops.Emit(opsevent.BreakerOpened, endpointOf(subID), opsevent.Endpoint{SubscriptionID: subID, URL: subscription.Target(sub),
			Reason: fmt.Sprintf("%d consecutive failed attempts", s.cfg.BreakerFailures), Until: &until})
	case to == webhook.Closed:
		s.ops.Emit(opsevent.BreakerClosed, endpointOf(subID), opsevent.Endpoint{SubscriptionID: subID, URL: subscription.Target(sub), Reason: "a probe after the cool-down succeeded"})
	}
}

// endpointOf is the entity of a subscription's endpoint events.
func endpointOf(subID string) event.EntityRef {
	return event.EntityRef{Type: opsevent.EntityEndpoint, ID: subID}
}
