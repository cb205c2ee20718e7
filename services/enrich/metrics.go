package enrich

import (
	"slices"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surgehq/surge/pkg/stream"
)

// Metric names of the enrich service (the stage's own counters — records
// in and out, dead-lettered by class, transactions — are pkg/stream's).
const (
	metricEvents          = "surge_enrich_events_total"
	metricDerived         = "surge_enrich_derived_events_total"
	metricThinUnloaded    = "surge_enrich_thin_unloaded_total"
	metricWarnings        = "surge_enrich_warnings_total"
	metricOversold        = "surge_enrich_oversold_total"
	metricLoaderCalls     = "surge_enrich_loader_calls_total"
	metricLoaderSeconds   = "surge_enrich_loader_seconds"
	metricRestores        = "surge_enrich_state_restores_total"
	metricRestoreSeconds  = "surge_enrich_state_restore_seconds"
	metricSnapshots       = "surge_enrich_snapshots"
	metricSnapshotSkipped = "surge_enrich_snapshots_unreadable_total"
	metricAlreadyApplied  = "surge_enrich_already_applied_total"
)

type metrics struct {
	events          *prometheus.CounterVec // by event type
	derived         *prometheus.CounterVec // by event type
	thinUnloaded    prometheus.Counter
	warnings        *prometheus.CounterVec // by code
	pending         []atomic.Int64         // warnings of the batch in hand, by index in WarningCodes
	oversold        prometheus.Counter
	loaderCalls     *prometheus.CounterVec // by outcome
	loaderSeconds   prometheus.Histogram
	restores        prometheus.Counter
	restoreSeconds  prometheus.Histogram
	snapshots       prometheus.GaugeFunc
	snapshotSkipped prometheus.Counter
	alreadyApplied  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, snapshots func() float64) *metrics {
	m := &metrics{
		events:          prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricEvents, Help: "Events enriched, by event type (aborted batches included)."}, []string{"type"}),
		derived:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricDerived, Help: "Events enrich derived (inventory movements, changes, oversold), by type."}, []string{"type"}),
		thinUnloaded:    prometheus.NewCounter(prometheus.CounterOpts{Name: metricThinUnloaded, Help: "Thin events of an unknown entity whose source has no loader: enriched with empty data."}),
		warnings:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricWarnings, Help: "What enrich could not use of the events it enriched and delivered (each skipped line item, failed load...), by warning code; committed batches only."}, []string{"code"}),
		oversold:        prometheus.NewCounter(prometheus.CounterOpts{Name: metricOversold, Help: "Reservations that drove a SKU's available stock below zero."}),
		loaderCalls:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricLoaderCalls, Help: "Loader HTTP tries by outcome: ok, retry, not_found, rejected, bad_body, exhausted."}, []string{"outcome"}),
		loaderSeconds:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: metricLoaderSeconds, Help: "Duration of one loader HTTP try.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		restores:        prometheus.NewCounter(prometheus.CounterOpts{Name: metricRestores, Help: "Partitions whose snapshots were rebuilt from commerce.entities."}),
		restoreSeconds:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: metricRestoreSeconds, Help: "Time to rebuild one partition's snapshots.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}),
		snapshots:       prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: metricSnapshots, Help: "Entity snapshots held in memory."}, snapshots),
		alreadyApplied:  prometheus.NewCounter(prometheus.CounterOpts{Name: metricAlreadyApplied, Help: "Raw events not applied again because their entity's snapshot says they were (a commit cut by a crash of the embedded cluster)."}),
		snapshotSkipped: prometheus.NewCounter(prometheus.CounterOpts{Name: metricSnapshotSkipped, Help: "Records of commerce.entities that could not be decoded while rebuilding state."}),
	}
	if reg != nil {
		m.events = stream.Register(reg, m.events)
		m.derived = stream.Register(reg, m.derived)
		m.thinUnloaded = stream.Register(reg, m.thinUnloaded)
		m.warnings = stream.Register(reg, m.warnings)
		m.oversold = stream.Register(reg, m.oversold)
		m.loaderCalls = stream.Register(reg, m.loaderCalls)
		m.loaderSeconds = stream.Register(reg, m.loaderSeconds)
		m.restores = stream.Register(reg, m.restores)
		m.restoreSeconds = stream.Register(reg, m.restoreSeconds)
		m.snapshots = stream.Register(reg, m.snapshots)
		m.snapshotSkipped = stream.Register(reg, m.snapshotSkipped)
		m.alreadyApplied = stream.Register(reg, m.alreadyApplied)
	}
	for _, code := range WarningCodes {
		m.warnings.WithLabelValues(code) // listed at 0 before the first
	}
	m.pending = make([]atomic.Int64, len(WarningCodes))
	return m
}

// countWarnings adds one event's warning counts to the batch in hand. It
// is safe for concurrent use (partitions are handled in parallel).
func (m *metrics) countWarnings(counts map[string]int) {
	for code, n := range counts {
		if i := slices.Index(WarningCodes, code); i >= 0 {
			m.pending[i].Add(int64(n))
		}
	}
}

// endBatch moves the batch's warning counts to the counter when its
// transaction committed and forgets them when it aborted, so the counter
// agrees with what read_committed readers of the enriched topic see.
func (m *metrics) endBatch(committed bool) {
	for i := range m.pending {
		if n := m.pending[i].Swap(0); committed && n > 0 {
			m.warnings.WithLabelValues(WarningCodes[i]).Add(float64(n))
		}
	}
}
