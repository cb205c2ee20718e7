package dispatcher

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surgehq/surge/pkg/observe"
)

// Metric names of the dispatcher.
const (
	metricAttempts       = "surge_dispatcher_attempts_total"
	metricDeliveries     = "surge_dispatcher_deliveries_total"
	metricAttemptSeconds = "surge_dispatcher_attempt_seconds"
	metricParked         = "surge_dispatcher_parked_total"
	metricParkedKeys     = "surge_dispatcher_parked_keys"
	metricInFlight       = "surge_dispatcher_requests_in_flight"
	metricSpilled        = "surge_dispatcher_spilled_total"
	metricLoads          = "surge_dispatcher_loaded_back_total"
	metricLost           = "surge_dispatcher_retry_records_missing_total"
	metricResumed        = "surge_dispatcher_resumed_total"
	metricSkipFinished   = "surge_dispatcher_skipped_finished_total"
	metricBacklog        = "surge_dispatcher_backlog"
	metricBacklogAge     = "surge_dispatcher_backlog_oldest_seconds"
	metricRate           = "surge_dispatcher_finished_per_second"
)

type metrics struct {
	attempts        *prometheus.CounterVec // by subscription, outcome
	deliveries      *prometheus.CounterVec // by subscription, result: delivered | dead_lettered
	attemptSeconds  prometheus.Histogram
	parked          prometheus.Counter
	parkedKeys      prometheus.GaugeFunc
	inFlight        prometheus.GaugeFunc
	spilled         prometheus.Counter
	loads           prometheus.Counter
	lost            prometheus.Counter
	resumed         *prometheus.CounterVec // by topic: main | retry
	skippedFinished prometheus.Counter
	backlog         prometheus.Collector
}

// subBacklog is one subscription's deliveries waiting in this instance.
type subBacklog struct {
	sub             string
	loaded, outside int       // in memory; in the retry topic (or on their way)
	oldest          time.Time // when fanout made the oldest delivery at a key's head; zero: unknown
	oldestSeconds   float64   // its age
	rate            float64   // deliveries finished per second, lately
}

func newMetrics(reg prometheus.Registerer, parkedKeys, inFlight func() float64, backlog func() []subBacklog) *metrics {
	r := observe.Metrics{Registry: reg}
	return &metrics{
		attempts:        r.CounterVec(metricAttempts, "HTTP delivery attempts by subscription and outcome: delivered, retry, gone, reject, refused.", "subscription", "outcome"),
		deliveries:      r.CounterVec(metricDeliveries, "Deliveries finished, by subscription and result: delivered or dead_lettered.", "subscription", "result"),
		attemptSeconds:  r.Histogram(metricAttemptSeconds, "Duration of one HTTP attempt.", prometheus.ExponentialBuckets(0.001, 2, 15)),
		parked:          r.Counter(metricParked, "Deliveries written to the retry topic (parked, followed, spilled, or refreshed)."),
		parkedKeys:      r.GaugeFunc(metricParkedKeys, "Keys with deliveries in the retry topic.", parkedKeys),
		inFlight:        r.GaugeFunc(metricInFlight, "HTTP requests in flight.", inFlight),
		spilled:         r.Counter(metricSpilled, "Deliveries moved to the retry topic because the memory bounds were reached (the key's later ones follow)."),
		loads:           r.Counter(metricLoads, "Deliveries read back into memory from the retry topic."),
		lost:            r.Counter(metricLost, "Parked deliveries whose retry-topic record was gone when read back (deleted by retention)."),
		resumed:         r.CounterVec(metricResumed, "Records read again after an assignment that were unfinished when the previous owner last committed (in flight or waiting); finished ones are skipped.", "topic"),
		backlog:         observe.Register(reg, backlogCollector(backlog)),
		skippedFinished: r.Counter(metricSkipFinished, "Retry deliveries read again after an assignment that a finished record said were finished (not repeated)."),
	}
}

var (
	backlogDesc    = prometheus.NewDesc(metricBacklog, "Deliveries waiting in this dispatcher by subscription; where: memory (the whole record) or retry_topic (only its place in memory).", []string{"subscription", "where"}, nil)
	backlogAgeDesc = prometheus.NewDesc(metricBacklogAge, "Age of the oldest delivery waiting in this dispatcher, by subscription (since fanout made it).", []string{"subscription"}, nil)
	rateDesc       = prometheus.NewDesc(metricRate, "Deliveries of a subscription with a backlog here finished per second lately (delivered or dead-lettered): its endpoint's throughput.", []string{"subscription"}, nil)
)

// backlogCollector reads the backlog at each scrape.
type backlogCollector func() []subBacklog

func (c backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- backlogDesc
	ch <- backlogAgeDesc
	ch <- rateDesc
}

func (c backlogCollector) Collect(ch chan<- prometheus.Metric) {
	for _, b := range c() {
		ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(b.loaded), b.sub, "memory")
		ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(b.outside), b.sub, "retry_topic")
		ch <- prometheus.MustNewConstMetric(backlogAgeDesc, prometheus.GaugeValue, b.oldestSeconds, b.sub)
		ch <- prometheus.MustNewConstMetric(rateDesc, prometheus.GaugeValue, b.rate, b.sub)
	}
}
