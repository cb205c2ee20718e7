package dispatcher

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/surgehq/surge/pkg/stream"
)

// Metric names of the dispatcher.
const (
	metricAttempts       = "surge_dispatcher_attempts_total"
	metricDeliveries     = "surge_dispatcher_deliveries_total"
	metricAttemptSeconds = "surge_dispatcher_attempt_seconds"
	metricParked         = "surge_dispatcher_parked_total"
	metricParkedKeys     = "surge_dispatcher_parked_keys"
	metricInFlight       = "surge_dispatcher_requests_in_flight"
)

type metrics struct {
	attempts       *prometheus.CounterVec // by subscription, outcome
	deliveries     *prometheus.CounterVec // by subscription, result: delivered | dead_lettered
	attemptSeconds prometheus.Histogram
	parked         prometheus.Counter
	parkedKeys     prometheus.GaugeFunc
	inFlight       prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, parkedKeys, inFlight func() float64) *metrics {
	m := &metrics{
		attempts:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricAttempts, Help: "HTTP delivery attempts by subscription and outcome: delivered, retry, gone, reject, refused."}, []string{"subscription", "outcome"}),
		deliveries:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricDeliveries, Help: "Deliveries finished, by subscription and result: delivered or dead_lettered."}, []string{"subscription", "result"}),
		attemptSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: metricAttemptSeconds, Help: "Duration of one HTTP attempt.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}),
		parked:         prometheus.NewCounter(prometheus.CounterOpts{Name: metricParked, Help: "Deliveries written to the retry topic (parked, followed, or refreshed)."}),
		parkedKeys:     prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: metricParkedKeys, Help: "Keys with deliveries in the retry topic."}, parkedKeys),
		inFlight:       prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: metricInFlight, Help: "HTTP requests in flight."}, inFlight),
	}
	if reg != nil {
		m.attempts = stream.Register(reg, m.attempts)
		m.deliveries = stream.Register(reg, m.deliveries)
		m.attemptSeconds = stream.Register(reg, m.attemptSeconds)
		m.parked = stream.Register(reg, m.parked)
		m.parkedKeys = stream.Register(reg, m.parkedKeys)
		m.inFlight = stream.Register(reg, m.inFlight)
	}
	return m
}
