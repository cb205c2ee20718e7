// Package event holds Surge's domain records — Event, EnrichedEvent,
// Subscription, Delivery and DeliveryAttempt — as plain Go values, and their
// conversion to and from the generic ("native") form goavro encodes with the
// schemas in the repository's schemas/ directory.
//
// The Avro schemas are the source of truth; these types mirror them field by
// field. Free-form commerce payloads (an event's data, a webhook body) are
// carried as JSON text inside the Avro record, so a schema change is never
// needed for a new shop attribute.
package event

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// EntityRef names the business entity an event is about.
type EntityRef struct {
	Type string // "order", "product", "customer", "stock", ...
	ID   string // the platform's identifier, e.g. "100012" or "SKU-1"
}

// Key is the Kafka record key of every topic keyed by entity:
// "<entity_type>:<entity_id>".
func (e EntityRef) Key() string { return e.Type + ":" + e.ID }

// Formats an event can arrive in at ingest.
const (
	FormatCanonical   = "canonical"
	FormatAdobe       = "adobe"
	FormatCloudEvents = "cloudevents"
)

// Event is one accepted commerce event as ingest writes it to
// commerce.events.raw.
type Event struct {
	ID             string            // ksuid minted at ingest (or the sender's id when it gave one)
	Type           string            // canonical event type, e.g. "order.placed"
	Source         string            // source id the event came through, e.g. "default"
	Time           time.Time         // when it happened, per the sender; ReceivedAt when absent
	ReceivedAt     time.Time         // when ingest accepted it
	Entity         EntityRef         // what it is about
	Data           json.RawMessage   // payload as JSON; nil for a thin event (type + id only)
	IdempotencyKey string            // sender's dedup key; empty when none
	CorrelationID  string            // trace id carried through every stage
	Format         string            // one of the Format* constants
	OriginalType   string            // the type as the sender named it (e.g. "be-observer.sales_order_status_update")
	Attributes     map[string]string // sender metadata kept verbatim (CloudEvents extensions, Adobe uid)
	Origin         Origin            // how the sender identified the event; zero for events Surge made itself
}

// Origin is the sender's own identity of an event, kept from ingest to the
// webhook so a receiver can tell which event of the PIM or the shop a
// delivery is. Surge's own ids (the ksuid event id, the entity key) are
// elsewhere; these are the sender's.
type Origin struct {
	Format string // the format it arrived in: one of the Format* constants
	// ID is the sender's id of the event: the CloudEvent id, the Adobe
	// uid, the canonical envelope's "id"; empty when it gave none.
	ID string
	// Type is the event type as the sender named it, e.g.
	// "com.akeneo.pim.v1.product.deleted".
	Type string
	// Source is who sent it in the sender's own words: the CloudEvent
	// source, the canonical envelope's "source"; empty when it gave none
	// (Adobe's format has none).
	Source string
	// EntityID is the entity id as the sender gave it, when the source's
	// identity rules made Surge's entity id a different one (an Akeneo
	// product uuid mapped to its SKU); empty when they are the same.
	EntityID string
}

// IsZero reports whether o says nothing: an event Surge made itself, or
// one written before origins were recorded.
func (o Origin) IsZero() bool { return o == Origin{} }

// EnrichedEvent is an Event after enrich: the whole entity, what changed, and
// a per-entity version. It is written to commerce.events.enriched.
type EnrichedEvent struct {
	ID            string
	Type          string
	Source        string
	Time          time.Time
	ReceivedAt    time.Time
	EnrichedAt    time.Time
	Entity        EntityRef
	EntityVersion int64           // 1 for the first event of an entity, +1 per accepted event
	Data          json.RawMessage // the whole entity after this event; after a delete, its last known state merged with the deletion's data
	Changes       []string        // top-level field names this event changed
	Deleted       bool            // the entity was deleted by this event
	Flags         []string        // derived conditions, e.g. "oversold"
	CorrelationID string
	Attributes    map[string]string
	Warnings      []Warning // parts of the event enrich could not use; the event was delivered anyway
	Origin        Origin    // the sender's identity of the event, copied from the raw Event; zero for derived events
}

// Warning names one part of an event enrich could not use, and what it did
// instead: a line item it could not read and so did not reserve, a loader
// that failed. The event is enriched and delivered all the same; warnings
// say what it lacks.
type Warning struct {
	Code    string // what happened, e.g. "line_item_skipped" (services/enrich lists the codes)
	Field   string // where, as a path in the event: "data.items[2].qty"; empty when no one field is at fault
	Message string // for people: what is wrong and what enrich did instead
}

// Secret is one webhook signing secret of a subscription.
type Secret struct {
	Value     string // "whsec_" + base64 key (Standard Webhooks format)
	CreatedAt time.Time
	ExpiresAt *time.Time // set on a rotated-out secret; nil while current
}

// Subscription routes matching events to one HTTP endpoint. It lives in the
// compacted topic commerce.subscriptions keyed by ID; a tombstone deletes it.
type Subscription struct {
	ID             string
	URL            string
	EventTypes     []string          // patterns: "order.*", "*", exact names
	Filter         string            // CEL expression over the delivered body; empty = all
	Headers        map[string]string // custom headers added to every delivery
	TimeoutMS      int32
	RateLimitPerS  float64 // 0 = unlimited
	MaxInFlight    int32
	RetrySchedule  []string // Go durations: the wait before each retry
	Enabled        bool     // false: disabled (by an operator or a 410); deliveries are held
	Paused         bool     // deliveries are held until resumed
	DisabledReason string
	AllowPrivate   bool // target may resolve to private/loopback addresses
	Secrets        []Secret
	Description    string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Delivery is one (event, subscription) pair to deliver, written by fanout to
// commerce.deliveries and moved by the dispatcher to the retry and DLQ topics.
type Delivery struct {
	ID             string // the webhook-id: stable for the (event, subscription) pair
	EventID        string
	SubscriptionID string
	EntityKey      string
	EventType      string
	EntityVersion  int64
	Body           json.RawMessage // the exact JSON body that is signed and POSTed
	CreatedAt      time.Time
	CorrelationID  string
	Attempts       int32      // attempts made so far
	NextAttemptAt  *time.Time // earliest time of the next attempt (retry topic)
	FirstFailureAt *time.Time
	LastFailureAt  *time.Time
	LastStatus     int32 // last HTTP status; 0 when none
	LastError      string
}

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

// DeliveryAttempt records one HTTP attempt of a Delivery on
// commerce.delivery-attempts.
type DeliveryAttempt struct {
	DeliveryID      string
	EventID         string
	SubscriptionID  string
	EntityKey       string
	Attempt         int32 // 1-based
	URL             string
	StartedAt       time.Time
	Duration        time.Duration
	StatusCode      int32 // 0 when no response was received
	Outcome         string
	Error           string
	ResponseHeaders map[string]string
	ResponseBody    string // first 4 KiB of the body
	NextAttemptAt   *time.Time
	CorrelationID   string
}
