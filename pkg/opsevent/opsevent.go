// Package opsevent is Surge's operator events: what an operator must hear
// about without reading logs (an endpoint disabled after a 410 Gone or by
// its auto-disable rule, its circuit breaker opening or closing, a
// delivery dead-lettered after its last retry, a stage's partition
// stalling and moving again, a dead-letter topic passing a threshold), written as ordinary events into commerce.events.raw, so
// they pass enrich and fanout like any other and reach the operators'
// own subscriptions (to Slack, PagerDuty or n8n webhooks) signed, retried
// and in order, and a data team sees them on the topics.
//
// Each is an event of a reserved type (the constants below; no catalog type may take
// the namespace, so ingest refuses them from senders) from source
// "surge". An endpoint event is about the entity endpoint:<subscription
// id>, so one endpoint's events keep their order; an exhausted delivery is
// about delivery:<webhook-id>. Enrich merges an event's data into its
// entity's, so every body sets all its fields (null when not applicable)
// and a receiver reads exactly this event's state. No operator event is
// written about a delivery of an operator event, so a failing operators'
// endpoint cannot feed itself.
package opsevent

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/segmentio/ksuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/topics"
)

// The operator event types.
const (
	// EndpointDisabled: the endpoint answered 410 Gone and the
	// subscription was disabled; its deliveries are held.
	EndpointDisabled = "surge.endpoint.disabled"
	// BreakerOpened: the endpoint failed often enough in a row that
	// its circuit breaker opened; deliveries wait for its cool-down.
	BreakerOpened = "surge.endpoint.breaker_opened"
	// BreakerClosed: a probe after the cool-down succeeded and the
	// breaker closed again.
	BreakerClosed = "surge.endpoint.breaker_closed"
	// DeliveryExhausted: a delivery used its last retry and was
	// dead-lettered.
	DeliveryExhausted = "surge.delivery.exhausted"
	// StageStalled: a stage's input partition had records to process and
	// made no progress for longer than the stage's --stall-after.
	StageStalled = "surge.stage.stalled"
	// StageRecovered: a stalled partition moved again (or its instance
	// let go of it).
	StageRecovered = "surge.stage.recovered"
	// DLQThresholdCrossed: a dead-letter topic passed another multiple of
	// the admin's --dlq-alert-every dead letters.
	DLQThresholdCrossed = "surge.dlq.threshold_crossed"
)

// Reserved reports whether typ is in the operator events' namespace
// (catalog.ReservedPrefix), which only Surge writes.
func Reserved(typ string) bool { return strings.HasPrefix(typ, catalog.ReservedPrefix) }

// Source is the source id of every operator event.
const Source = "surge"

// The entity types of operator events.
const (
	EntityEndpoint = "endpoint" // id: the subscription id
	EntityDelivery = "delivery" // id: the delivery id (webhook-id)
	EntityStage    = "stage"    // id: "<consumer group>/<topic>/<partition>", the key in commerce.stalls
	EntityDLQ      = "dlq"      // id: the dead-letter topic's full name
)

// Endpoint is the body of the endpoint events.
type Endpoint struct {
	SubscriptionID string `json:"subscription_id"`
	URL            string `json:"url"`
	// Reason says why: the disabled_reason, or the breaker's failures.
	Reason string `json:"reason"`
	// Until is when an open breaker lets a probe through; null for the
	// other endpoint events.
	Until *time.Time `json:"until"`
}

// Exhausted is the body of surge.delivery.exhausted.
type Exhausted struct {
	SubscriptionID string `json:"subscription_id"`
	DeliveryID     string `json:"delivery_id"` // the webhook-id
	EventID        string `json:"event_id"`
	EventType      string `json:"event_type"`
	EntityKey      string `json:"entity_key"`
	Attempts       int32  `json:"attempts"`
	LastStatus     int32  `json:"last_status"` // 0 when the endpoint never answered
	LastError      string `json:"last_error"`
	// DeadLetterTopic is where the delivery now is, for a replay.
	DeadLetterTopic string `json:"dead_letter_topic"`
}

// Stall is the body of surge.stage.stalled and surge.stage.recovered:
// the stall as commerce.stalls holds it, and when it ended.
type Stall struct {
	Stage     string `json:"stage"`
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Offset is the next offset the stage had to process when it
	// stalled.
	Offset       int64     `json:"offset"`
	Reason       string    `json:"reason"`
	Since        time.Time `json:"since"` // the last progress before the stall
	DetectedAt   time.Time `json:"detected_at"`
	StallAfterMS int64     `json:"stall_after_ms"`
	Instance     string    `json:"instance"`
	// RecoveredAt is when the partition moved again; null in
	// surge.stage.stalled.
	RecoveredAt *time.Time `json:"recovered_at"`
}

// DLQThreshold is the body of surge.dlq.threshold_crossed.
type DLQThreshold struct {
	Topic string `json:"topic"`
	// DeadLetters is how many the topic holds, counted from its first
	// retained record; a multiple of Every when the event is written.
	DeadLetters int64 `json:"dead_letters"`
	Every       int64 `json:"every"`
	// Last is the dead letter that passed the mark.
	Last DeadLetter `json:"last"`
}

// DeadLetter names one dead letter and what its surge.dlq.* headers say.
type DeadLetter struct {
	Partition  int32  `json:"partition"`
	Offset     int64  `json:"offset"`
	Stage      string `json:"stage"`
	ErrorClass string `json:"error_class"`
	Error      string `json:"error"`
}

// Emitter writes operator events to commerce.events.raw.
type Emitter struct {
	// Client produces the events; its partitioner must be Kafka's
	// murmur2 (kafkax.ClientOpts), as for every keyed topic.
	Client *kgo.Client
	// Codec encodes them for the raw topic.
	Codec *avroserde.Codec[event.Event]
	Log   *zap.Logger
	Now   func() time.Time
}

// Emit writes one operator event of type typ about entity with body as
// its data, without waiting: a failed write is logged (the state it
// reports is also in the metrics and the logs). It returns the event's
// id.
func (e *Emitter) Emit(typ string, entity event.EntityRef, body any) string {
	now := e.Now().UTC().Truncate(time.Millisecond)
	id := ksuid.New().String()
	data, err := json.Marshal(body)
	if err != nil {
		e.Log.Error("could not encode an operator event", zap.String(observe.KeyEventType, typ), zap.Error(err))
		return ""
	}
	ev := event.Event{
		ID: id, Type: typ, Source: Source, Time: now, ReceivedAt: now,
		Entity: entity, Data: data,
		CorrelationID: id, Format: "canonical",
	}
	v, err := e.Codec.Encode(ev)
	if err != nil {
		e.Log.Error("could not encode an operator event", zap.String(observe.KeyEventType, typ), zap.Error(err))
		return ""
	}
	rec := &kgo.Record{Topic: e.Codec.Topic(), Key: []byte(ev.Entity.Key()), Value: v, Headers: []kgo.RecordHeader{
		{Key: topics.HeaderEventID, Value: []byte(id)},
		{Key: topics.HeaderCorrelationID, Value: []byte(id)},
		{Key: topics.HeaderEventType, Value: []byte(typ)},
		{Key: topics.HeaderSource, Value: []byte(Source)},
	}}
	e.Client.Produce(context.Background(), rec, func(_ *kgo.Record, err error) {
		if err != nil {
			e.Log.Error("could not write an operator event", zap.String(observe.KeyEventType, typ),
				zap.String(observe.KeyEntity, entity.Key()), zap.Error(err))
		}
	})
	return id
}
