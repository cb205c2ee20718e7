// Package event holds Surge's domain records — Event, EnrichedEvent,
// Subscription, Delivery and DeliveryAttempt — as plain Go values, with the
// keys, ids and constants that go with them (this file).
//
// The structs, their conversion to and from goavro's generic ("native")
// form and their fast binary codecs are generated from schemas/*.avsc into
// avro_gen.go (go generate ./pkg/avrowire/; docs/architecture.md). Free-form commerce payloads (an event's data, a webhook body) are
// carried as JSON text inside the Avro record, so a schema change is never
// needed for a new shop attribute.
package event

import (
	"crypto/sha256"
	"encoding/hex"
)

// Key is the Kafka record key of every topic keyed by entity:
// "<entity_type>:<entity_id>".
func (e EntityRef) Key() string { return e.Type + ":" + e.ID }

// Formats an event can arrive in at ingest.
const (
	FormatCanonical   = "canonical"
	FormatAdobe       = "adobe"
	FormatCloudEvents = "cloudevents"
)

// IsZero reports whether o says nothing: an event Surge made itself, or
// one written before origins were recorded.
func (o Origin) IsZero() bool { return o == Origin{} }

// DeliveryID is the id of event eventID delivered to subscription subID,
// sent as its webhook-id: "msg_" and the first 16 bytes of
// SHA-256(event id, subscription id) in hex. It depends on the pair alone,
// so retries, a re-run transaction and DLQ replays all carry the same id.
func DeliveryID(eventID, subID string) string {
	sum := sha256.Sum256([]byte(eventID + "\x00" + subID))
	return "msg_" + hex.EncodeToString(sum[:16])
}

// DeliveryKey is the record key of commerce.deliveries and its retry and
// dead-letter topics: "<subscription id>/<entity key>". One subscription's
// deliveries for one entity share a partition and stay in order; different
// subscriptions of the same entity spread over partitions.
func DeliveryKey(subscriptionID, entityKey string) string {
	return subscriptionID + "/" + entityKey
}

// Outcomes of a delivery attempt.
const (
	OutcomeDelivered    = "delivered"
	OutcomeRetry        = "retry"
	OutcomeDeadLettered = "dead_lettered"
	OutcomeHeld         = "held"
)
