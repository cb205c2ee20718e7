package observe

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics makes a component's metrics, each registered with Registry as
// it is made (Register says how). A nil Registry makes them without
// registering them: a component built without a registry still counts,
// and nothing is exported.
type Metrics struct{ Registry prometheus.Registerer }

// Counter makes and registers a counter.
func (m Metrics) Counter(name, help string) prometheus.Counter {
	return Register(m.Registry, prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help}))
}

// CounterVec makes and registers a counter with labels.
func (m Metrics) CounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return Register(m.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
}

// Gauge makes and registers a gauge.
func (m Metrics) Gauge(name, help string) prometheus.Gauge {
	return Register(m.Registry, prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help}))
}

// GaugeFunc makes and registers a gauge whose value is read from value at
// each scrape.
func (m Metrics) GaugeFunc(name, help string, value func() float64) prometheus.GaugeFunc {
	return Register(m.Registry, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, value))
}

// Histogram makes and registers a histogram with the given buckets.
func (m Metrics) Histogram(name, help string, buckets []float64) prometheus.Histogram {
	return Register(m.Registry, prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}))
}

// Register registers c with reg and returns it, or returns the collector
// of the same description that reg already has, so several components of
// one process can share a metric (their series told apart by labels). A
// nil reg returns c unregistered. Like prometheus.MustRegister it panics
// on any other registration error, which is a programming error found at
// start-up.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("registering metric: %v", err))
}
