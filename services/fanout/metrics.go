package fanout

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surgehq/surge/pkg/observe"
)

// Metric names of the fanout service (records in and out, dead-lettered,
// transactions are pkg/stream's). Per-subscription series count only
// committed batches, so for each subscription
// matched = deliveries + filtered (all reasons).
const (
	metricDeliveries    = "surge_fanout_deliveries_total"
	metricFiltered      = "surge_fanout_filtered_total"
	metricSubscriptions = "surge_fanout_subscriptions"
)

type metrics struct {
	deliveries    *prometheus.CounterVec // by subscription
	filtered      *prometheus.CounterVec // by subscription, reason
	subscriptions prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, subscriptions func() float64) *metrics {
	r := observe.Metrics{Registry: reg}
	return &metrics{
		deliveries:    r.CounterVec(metricDeliveries, "Deliveries written to commerce.deliveries, by subscription (committed batches only).", "subscription"),
		filtered:      r.CounterVec(metricFiltered, "Events of a subscription's event types that got no delivery, by subscription and reason: filter, filter_error, disabled, before_created (committed batches only).", "subscription", "reason"),
		subscriptions: r.GaugeFunc(metricSubscriptions, "Subscriptions known to fanout.", subscriptions),
	}
}

// logLimiter allows one log line per key per period.
type logLimiter struct {
	period time.Duration
	mu     sync.Mutex
	last   map[string]time.Time
}

func (l *logLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	if t, ok := l.last[key]; ok && now.Sub(t) < l.period {
		return false
	}
	l.last[key] = now
	return true
}
