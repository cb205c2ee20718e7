package console

import (
	"time"

	"github.com/surgehq/surge/pkg/inspect"
)

// What the console reads of the admin API's answers: the fields it shows,
// decoded from the JSON a client gets.

type subscriptionView struct {
	ID             string    `json:"id"`
	URL            string    `json:"url"`
	EventTypes     []string  `json:"event_types"`
	Filter         string    `json:"filter"`
	RetrySchedule  []string  `json:"retry_schedule"`
	Enabled        bool      `json:"enabled"`
	Paused         bool      `json:"paused"`
	DisabledReason string    `json:"disabled_reason"`
	Description    string    `json:"description"`
	CreatedAt      time.Time `json:"created_at"`
	// SignatureScheme is "v1" (HMAC) or "v1a" (Ed25519).
	SignatureScheme    string `json:"signature_scheme"`
	AutoDisableAfterMS int64  `json:"auto_disable_after_ms"`
	Destination        *struct {
		SQS *struct {
			QueueURL string `json:"queue_url"`
		} `json:"sqs"`
		EventBridge *struct {
			EventBus string `json:"event_bus"`
		} `json:"eventbridge"`
	} `json:"destination"`
	Secrets []struct {
		Fingerprint string     `json:"fingerprint"`
		CreatedAt   time.Time  `json:"created_at"`
		ExpiresAt   *time.Time `json:"expires_at"`
		PublicKey   string     `json:"public_key"`
	} `json:"secrets"`
	Backlog *struct {
		InMemory            int64      `json:"in_memory"`
		InRetryTopic        int64      `json:"in_retry_topic"`
		Oldest              *time.Time `json:"oldest"`
		DeliveriesPerSecond float64    `json:"deliveries_per_second"`
		Breaker             string     `json:"breaker"`
	} `json:"backlog"`
	// Secret (a v1 subscription's) or PublicKey (a v1a one's, whose
	// signing key is never shown) is set only in the answer to a create
	// or a rotation.
	Secret    string `json:"secret"`
	PublicKey string `json:"public_key"`
}

// Target is where the deliveries go, as the attempt log names it: the URL,
// an SQS queue's URL, or "eventbridge:<bus>".
func (s subscriptionView) Target() string {
	switch d := s.Destination; {
	case d != nil && d.SQS != nil:
		return d.SQS.QueueURL
	case d != nil && d.EventBridge != nil:
		return "eventbridge:" + d.EventBridge.EventBus
	}
	return s.URL
}

// Kind is the destination kind: http, sqs or eventbridge.
func (s subscriptionView) Kind() string {
	switch d := s.Destination; {
	case d != nil && d.SQS != nil:
		return "sqs"
	case d != nil && d.EventBridge != nil:
		return "eventbridge"
	}
	return "http"
}

// State is the subscription's state in words; the pages colour it, and
// the words carry it without colour.
func (s subscriptionView) State() string {
	switch {
	case !s.Enabled:
		return "disabled"
	case s.Paused:
		return "paused"
	}
	return "active"
}

type subscriptionList struct {
	Subscriptions []subscriptionView `json:"subscriptions"`
}

type attemptList struct {
	Attempts []inspect.Attempt `json:"attempts"`
}

type dlqStats struct {
	Topic string `json:"topic"`
	Total int64  `json:"total"`
}
