package fanout

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// handle is the stage's typed handler (stream.Typed decodes the enriched
// event and dead-letters input that does not decode, a record enrich never
// writes): make sure the subscriptions are current as of the moment the
// event was enriched, and produce one Delivery per matching subscription.
// A subscriptions table that cannot be synced (Kafka trouble) or a
// delivery that does not encode (the stage's schema is not registered:
// its fault, not the event's) aborts the batch for a retry.
func (s *Service) handle(ctx context.Context, in stream.Input[event.EnrichedEvent]) ([]stream.Output, error) {
	// Every subscription change acknowledged before this event was
	// enriched must be visible (one round trip per batch: the sync is
	// shared by every record older than its start).
	if err := s.subs.FreshAsOf(ctx, in.Record.Timestamp); err != nil {
		return nil, fmt.Errorf("syncing subscriptions: %w", err)
	}
	ev := &in.Value
	c := candidate{ev: ev}
	var (
		outs []stream.Output
		body []byte
	)
	for _, rt := range s.router.routes().forType(ev.Type) {
		ok, ferr := rt.match(&c)
		if ferr != nil {
			s.logFilterError(rt.sub.ID, ev.ID, ferr)
		}
		if !ok {
			continue
		}
		if body == nil {
			body = bodyOf(ev)
		}
		rec, err := s.delivery(ev, rt.sub.ID, body)
		if err != nil {
			return nil, err
		}
		outs = append(outs, stream.Carry(rec))
	}
	return outs, nil
}

// delivery builds the commerce.deliveries record of ev for one
// subscription, with its own headers: the subscription and the event type.
func (s *Service) delivery(ev *event.EnrichedEvent, subID string, body []byte) (*kgo.Record, error) {
	key := ev.Entity.Key()
	d := event.Delivery{
		ID:             DeliveryID(ev.ID, subID),
		EventID:        ev.ID,
		SubscriptionID: subID,
		EntityKey:      key,
		EventType:      ev.Type,
		EntityVersion:  ev.EntityVersion,
		Body:           body,
		CreatedAt:      s.now(),
		CorrelationID:  ev.CorrelationID,
	}
	v, err := s.deliveries.Encode(d)
	if err != nil {
		return nil, fmt.Errorf("encoding the delivery of event %s to %s: %w", ev.ID, subID, err)
	}
	h := []kgo.RecordHeader{
		{Key: topics.HeaderSubscriptionID, Value: []byte(subID)},
		{Key: topics.HeaderEventType, Value: []byte(ev.Type)},
	}
	return &kgo.Record{Topic: s.deliveries.Topic(), Key: []byte(event.DeliveryKey(subID, key)), Value: v, Headers: h}, nil
}

// DeliveryID is the webhook-id of event eventID delivered to subscription
// subID (event.DeliveryID).
func DeliveryID(eventID, subID string) string { return event.DeliveryID(eventID, subID) }

// logFilterError logs a filter failure, at most once per subscription per
// logErrorEvery, so a filter failing on every event does not flood logs.
func (s *Service) logFilterError(subID, eventID string, err error) {
	if s.errLog.allow(subID, s.now()) {
		s.log.Warn("subscription filter failed; the event is counted as filtered (filter_error)",
			zap.String(observe.KeySubscriptionID, subID), zap.String(observe.KeyEventID, eventID), zap.Error(err))
	}
}
