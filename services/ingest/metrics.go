package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/surgehq/surge/pkg/observe"
)

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
	r := observe.Metrics{Registry: reg}
	return &metrics{
		requests:      r.CounterVec(metricRequests, "HTTP requests by endpoint and status.", "endpoint", "status"),
		accepted:      r.Counter(metricEvents, "Events written to Kafka."),
		duplicates:    r.Counter(metricDuplicates, "Events answered from the idempotency index, not written again."),
		rejected:      r.CounterVec(metricRejected, "Requests rejected, by error code.", "code"),
		inFlight:      r.Gauge(metricInFlight, "Events accepted by HTTP and not yet committed."),
		commitSeconds: r.Histogram(metricCommitSeconds, "Time to write and commit one ingest transaction.", prometheus.ExponentialBuckets(0.0005, 2, 16)),
		commitErrors:  r.Counter(metricCommitErrors, "Ingest transactions that failed."),
		batchRecords:  r.Histogram(metricBatchRecords, "Records per ingest transaction.", prometheus.ExponentialBuckets(1, 2, 14)),
		dedupKeys:     r.GaugeFunc(metricDedupKeys, "Idempotency keys remembered.", dedupSize),
	}
}
