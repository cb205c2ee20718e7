package trace

import (
	"time"

	"github.com/surgehq/surge/pkg/event"
)

// Stages of a trace step, in pipeline order.
const (
	StageIngest     = "ingest"
	StageEnrich     = "enrich"
	StageFanout     = "fanout"
	StageDispatcher = "dispatcher"
	StageSummary    = "summary"
)

var stageRank = map[string]int{StageIngest: 0, StageEnrich: 1, StageFanout: 2, StageDispatcher: 3, StageSummary: 4}

// Kinds of a trace step.
const (
	KindEvent      = "event"       // the event itself, raw or enriched
	KindDerived    = "derived"     // an event enrich made from it (surge.causation-id)
	KindDeadLetter = "dead_letter" // on commerce.events.dlq or commerce.deliveries.dlq
	KindDelivery   = "delivery"    // fanout's Delivery
	KindParked     = "parked"      // the dispatcher's copy on the retry topic
	KindAttempt    = "attempt"     // one HTTP attempt
)

// Results of a subscription's summary line.
const (
	ResultDelivered    = "delivered"
	ResultRetrying     = "retrying"
	ResultHeld         = "held"
	ResultDeadLettered = "dead_lettered"
	ResultPending      = "not_delivered_yet"
	ResultNoDeliveries = "no_deliveries"
)

// Step is one record of a trace (a line `surge trace` prints, one JSON
// object of its --json), or a subscription's summary (Stage "summary").
type Step struct {
	Time      time.Time `json:"time"`
	Stage     string    `json:"stage"`
	Kind      string    `json:"kind,omitempty"`
	Topic     string    `json:"topic,omitempty"`
	Partition *int32    `json:"partition,omitempty"`
	Offset    *int64    `json:"offset,omitempty"`

	EventID       string     `json:"event_id,omitempty"`
	EventType     string     `json:"event_type,omitempty"`
	EntityKey     string     `json:"entity_key,omitempty"`
	Source        string     `json:"source,omitempty"`
	ReceivedAt    *time.Time `json:"received_at,omitempty"`
	EntityVersion int64      `json:"entity_version,omitempty"`
	Changes       []string   `json:"changes,omitempty"`
	Flags         []string   `json:"flags,omitempty"`
	Deleted       bool       `json:"deleted,omitempty"`
	Warnings      []string   `json:"warnings,omitempty"` // what enrich could not use: "code field"
	Origin        *Origin    `json:"origin,omitempty"`   // the sender's identity of the event (ingest steps)

	SubscriptionID string     `json:"subscription_id,omitempty"`
	DeliveryID     string     `json:"delivery_id,omitempty"` // the webhook-id
	Attempt        int32      `json:"attempt,omitempty"`     // an attempt's number
	Attempts       int32      `json:"attempts,omitempty"`    // attempts made so far (parked copies, dead letters, summaries)
	Status         int32      `json:"status,omitempty"`      // HTTP status; 0: none
	Outcome        string     `json:"outcome,omitempty"`
	DurationMS     float64    `json:"duration_ms,omitempty"`
	Error          string     `json:"error,omitempty"`
	NextAttemptAt  *time.Time `json:"next_attempt_at,omitempty"`

	DeadLetter *DeadLetter `json:"dead_letter,omitempty"`

	Result string `json:"result,omitempty"` // summary lines
	URL    string `json:"url,omitempty"`
	Detail string `json:"detail,omitempty"`

	ValueError string `json:"value_error,omitempty"` // the value did not decode

	// With Options.Details only: a delivery's body (fanout's steps, at
	// most MaxBody bytes of it), and for an attempt the headers it sent
	// as far as the records tell (RequestHeaders) and the response's
	// headers and the start of its body.
	Body            string            `json:"body,omitempty"`
	BodyTruncated   bool              `json:"body_truncated,omitempty"`
	RequestHeaders  map[string]string `json:"request_headers,omitempty"`
	ResponseHeaders map[string]string `json:"response_headers,omitempty"`
	ResponseBody    string            `json:"response_body,omitempty"`
}

// MaxBody is the most of a delivered body a step holds.
const MaxBody = 64 << 10

// Origin is the sender's identity of an event (event.Origin).
type Origin struct {
	Format   string `json:"format"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Source   string `json:"source"`
	EntityID string `json:"entity_id"`
}

func originOf(o event.Origin) *Origin {
	if o.IsZero() {
		return nil
	}
	return &Origin{Format: o.Format, ID: o.ID, Type: o.Type, Source: o.Source, EntityID: o.EntityID}
}

// DeadLetter is what the surge.dlq.* headers of a dead letter say.
type DeadLetter struct {
	Stage        string `json:"stage,omitempty"`
	Class        string `json:"class,omitempty"`
	Error        string `json:"error,omitempty"`
	Attempts     string `json:"attempts,omitempty"`
	HTTPStatus   string `json:"http_status,omitempty"`
	FromTopic    string `json:"from_topic,omitempty"`
	FromPart     string `json:"from_partition,omitempty"`
	FromOffset   string `json:"from_offset,omitempty"`
	FirstFailure string `json:"first_failure,omitempty"`
	LastFailure  string `json:"last_failure,omitempty"`
}

// subState is a subscription's current state in commerce.subscriptions.
type subState struct {
	Found, Deleted, Enabled, Paused bool
	URL, DisabledReason             string
	Headers                         map[string]string // the custom headers it sends
}
