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
	Secrets        []struct {
		Fingerprint string     `json:"fingerprint"`
		CreatedAt   time.Time  `json:"created_at"`
		ExpiresAt   *time.Time `json:"expires_at"`
	} `json:"secrets"`
	Backlog *struct {
		InMemory            int64      `json:"in_memory"`
		InRetryTopic        int64      `json:"in_retry_topic"`
		Oldest              *time.Time `json:"oldest"`
		DeliveriesPerSecond float64    `json:"deliveries_per_second"`
		Breaker             string     `json:"breaker"`
	} `json:"backlog"`
	// Secret is set only in the answer to a create or a rotation.
	Secret string `json:"secret"`
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
