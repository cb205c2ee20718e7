package enrich

import (
	"slices"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surgehq/surge/pkg/observe"
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
	r := observe.Metrics{Registry: reg}
	m := &metrics{
		events:          r.CounterVec(metricEvents, "Events enriched, by event type (aborted batches included).", "type"),
		derived:         r.CounterVec(metricDerived, "Events enrich derived (inventory movements, changes, oversold), by type.", "type"),
		thinUnloaded:    r.Counter(metricThinUnloaded, "Thin events of an unknown entity whose source has no loader: enriched with empty data."),
		warnings:        r.CounterVec(metricWarnings, "What enrich could not use of the events it enriched and delivered (each skipped line item, failed load...), by warning code; committed batches only.", "code"),
		oversold:        r.Counter(metricOversold, "Reservations that drove a SKU's available stock below zero."),
		loaderCalls:     r.CounterVec(metricLoaderCalls, "Loader HTTP tries by outcome: ok, retry, not_found, rejected, bad_body, exhausted.", "outcome"),
		loaderSeconds:   r.Histogram(metricLoaderSeconds, "Duration of one loader HTTP try.", prometheus.ExponentialBuckets(0.005, 2, 12)),
		restores:        r.Counter(metricRestores, "Partitions whose snapshots were rebuilt from commerce.entities."),
		restoreSeconds:  r.Histogram(metricRestoreSeconds, "Time to rebuild one partition's snapshots.", prometheus.ExponentialBuckets(0.01, 2, 12)),
		snapshots:       r.GaugeFunc(metricSnapshots, "Entity snapshots held in memory.", snapshots),
		alreadyApplied:  r.Counter(metricAlreadyApplied, "Raw events not applied again because their entity's snapshot says they were (a commit cut by a crash of the embedded cluster)."),
		snapshotSkipped: r.Counter(metricSnapshotSkipped, "Records of commerce.entities that could not be decoded while rebuilding state."),
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
