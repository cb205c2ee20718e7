package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metric names of the ingest service.
const (
	metricRequests      = "surge_ingest_requests_total"
	metricEvents        = "surge_ingest_events_accepted_total"
	metricDuplicates    = "surge_ingest_events_duplicate_total"
	metricRejected      = "surge_ingest_events_rejected_total"
	metricInFlight      = "surge_ingest_events_in_flight"
	metricCommitSeconds = "surge_ingest_commit_seconds"
	metricCommitErrors  = "surge_ingest_commit_errors_total"
	metricBatchRecords  = "surge_ingest_commit_records"
	metricDedupKeys     = "surge_ingest_dedup_keys"
)

type metrics struct {
	requests      *prometheus.CounterVec // by endpoint and status
	accepted      prometheus.Counter
	duplicates    prometheus.Counter
	rejected      *prometheus.CounterVec // by code
	inFlight      prometheus.Gauge
	commitSeconds prometheus.Histogram
	commitErrors  prometheus.Counter
	batchRecords  prometheus.Histogram
	dedupKeys     prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, dedupSize func() float64) *metrics {
	m := &metrics{
		requests:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricRequests, Help: "HTTP requests by endpoint and status."}, []string{"endpoint", "status"}),
		accepted:      prometheus.NewCounter(prometheus.CounterOpts{Name: metricEvents, Help: "Events written to Kafka."}),
		duplicates:    prometheus.NewCounter(prometheus.CounterOpts{Name: metricDuplicates, Help: "Events answered from the idempotency index, not written again."}),
		rejected:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricRejected, Help: "Requests rejected, by error code."}, []string{"code"}),
		inFlight:      prometheus.NewGauge(prometheus.GaugeOpts{Name: metricInFlight, Help: "Events accepted by HTTP and not yet committed."}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: metricCommitSeconds, Help: "Time to write and commit one ingest transaction.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		commitErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: metricCommitErrors, Help: "Ingest transactions that failed."}),
		batchRecords:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: metricBatchRecords, Help: "Records per ingest transaction.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		dedupKeys:     prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: metricDedupKeys, Help: "Idempotency keys remembered."}, dedupSize),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.accepted, m.duplicates, m.rejected, m.inFlight, m.commitSeconds, m.commitErrors, m.batchRecords, m.dedupKeys)
	}
	return m
}
