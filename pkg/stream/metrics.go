package stream

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surgehq/surge/pkg/observe"
)

// Metrics are the runtime's counters, labelled by stage.
type Metrics struct {
	In           *prometheus.CounterVec
	Out          *prometheus.CounterVec
	Filtered     *prometheus.CounterVec
	DeadLettered *prometheus.CounterVec
	Commits      *prometheus.CounterVec
	Aborts       *prometheus.CounterVec
	BatchSeconds *prometheus.HistogramVec
	Deferred     *prometheus.CounterVec
	// Stalled is the number of input partitions stalled now and Stalls
	// the stalls seen, by stage and topic (Watchdog).
	Stalled *prometheus.GaugeVec
	Stalls  *prometheus.CounterVec
	// Misrouted counts input records found on a partition their key does
	// not belong to, by stage and topic (they are dead-lettered too).
	Misrouted *prometheus.CounterVec
}

// Metric names of the runtime.
const (
	MetricRecordsIn    = "surge_stage_records_in_total"
	MetricRecordsOut   = "surge_stage_records_out_total"
	MetricFiltered     = "surge_stage_records_filtered_total"
	MetricDeadLettered = "surge_stage_dead_lettered_total"
	MetricCommits      = "surge_stage_transactions_committed_total"
	MetricAborts       = "surge_stage_transactions_aborted_total"
	MetricBatchSeconds = "surge_stage_batch_seconds"
	MetricDeferred     = "surge_stage_records_deferred_total"
	MetricStalled      = "surge_stage_stalled_partitions"
	MetricStalls       = "surge_stage_stalls_total"
	MetricMisrouted    = "surge_stage_misrouted_total"
)

// NewMetrics creates the runtime metrics and registers them with reg (nil:
// not registered). Every stage of a process can call it with the same
// registry: a metric already registered there is reused, since the series
// are labelled by stage.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		In:           prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRecordsIn, Help: "Input records committed."}, []string{"stage"}),
		Out:          prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRecordsOut, Help: "Output records produced (including aborted batches)."}, []string{"stage"}),
		Filtered:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricFiltered, Help: "Input records that produced no output."}, []string{"stage"}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricDeadLettered, Help: "Input records sent to the dead-letter topic."}, []string{"stage", "class"}),
		Commits:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricCommits, Help: "Transactions committed."}, []string{"stage"}),
		Aborts:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricAborts, Help: "Transactions aborted."}, []string{"stage"}),
		BatchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricBatchSeconds, Help: "Time to process and commit one batch.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"stage"}),
		Deferred:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricDeferred, Help: "Times a handler deferred a record to a later batch."}, []string{"stage"}),
		Stalled:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricStalled, Help: "Input partitions that have records to process and have not moved for longer than --stall-after."}, []string{"stage", "topic"}),
		Stalls:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricStalls, Help: "Stalls of input partitions seen (each counted once, when it started)."}, []string{"stage", "topic"}),
		Misrouted:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricMisrouted, Help: "Input records on a partition their key does not belong to (Kafka's murmur2), dead-lettered with class misrouted."}, []string{"stage", "topic"}),
	}
	if reg != nil {
		m.In = Register(reg, m.In)
		m.Out = Register(reg, m.Out)
		m.Filtered = Register(reg, m.Filtered)
		m.DeadLettered = Register(reg, m.DeadLettered)
		m.Commits = Register(reg, m.Commits)
		m.Aborts = Register(reg, m.Aborts)
		m.BatchSeconds = Register(reg, m.BatchSeconds)
		m.Deferred = Register(reg, m.Deferred)
		m.Stalled = Register(reg, m.Stalled)
		m.Stalls = Register(reg, m.Stalls)
		m.Misrouted = Register(reg, m.Misrouted)
	}
	return m
}

// Register is observe.Register: c registered with reg, or the collector
// of the same description reg already has.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	return observe.Register(reg, c)
}

func (m *Metrics) observeCommit(stage string, n int, d time.Duration) {
	m.In.WithLabelValues(stage).Add(float64(n))
	m.Commits.WithLabelValues(stage).Inc()
	m.BatchSeconds.WithLabelValues(stage).Observe(d.Seconds())
}
