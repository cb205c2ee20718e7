package dispatcher_test

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"net/http/httptest"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surgehq/surge/services/dispatcher"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
)

// BenchmarkDispatchKafka measures the dispatcher end to end on kfake: b.N
// deliveries over 2,000 entity keys of one subscription are produced
// first; the timer runs from starting the dispatcher until a fast local
// endpoint (204, no checks) has answered every one. Run it with a fixed
// count: -bench DispatchKafka -benchtime 50000x.
func BenchmarkDispatchKafka(b *testing.B) {
	h := newHarness(b, 6)
	var n atomic.Int64
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer fast.Close()
	h.subscribe("sub_fast", func(s *event.Subscription) { s.URL = fast.URL + "/hook"; s.MaxInFlight = 512 })
	ds := make([]event.Delivery, 0, b.N)
	version := map[string]int64{}
	for i := range b.N {
		key := "order:O" + strconv.Itoa(i%2000)
		version[key]++
		ds = append(ds, delivery("sub_fast", key, version[key], i))
	}
	h.produce(ds...)
	b.ResetTimer()
	cpu0 := kafkatest.CPUTime()
	start := time.Now()
	h.start()
	kafkatest.WaitFor(b, 10*time.Minute, "every delivery", func() bool { return n.Load() >= int64(b.N) })
	elapsed := time.Since(start)
	cpu := kafkatest.CPUTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/delivery")
}

// BenchmarkParkedKeysMemory parks 10,000 keys (an endpoint answering 503
// to everything, a 1 s in-memory wait) and reports the heap the
// dispatcher holds for them: live heap after a GC, with the keys parked,
// minus before the dispatcher started. Run it once: -benchtime 1x.
func BenchmarkParkedKeysMemory(b *testing.B) {
	const keys = 10000
	h := newHarness(b, 6)
	h.cfg.MemoryWait = time.Second
	var calls atomic.Int64
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	h.subscribe("sub_down", func(s *event.Subscription) {
		s.URL = down.URL + "/hook"
		s.RetrySchedule = []string{"1h"}
		s.MaxInFlight = 512
	})
	ds := make([]event.Delivery, 0, keys)
	for i := range keys {
		ds = append(ds, delivery("sub_down", "order:O"+strconv.Itoa(i), 1, i))
	}
	h.produce(ds...)
	before := liveHeap()
	b.ResetTimer()
	h.start()
	retry := h.Follow(topics.DeliveriesRetry)
	kafkatest.WaitFor(b, 5*time.Minute, "every key parked", func() bool { return retry.Len() >= keys })
	time.Sleep(time.Second) // read back
	after := liveHeap()
	b.StopTimer()
	b.ReportMetric(float64(after-before)/(1<<20), "MiB")
	b.ReportMetric(float64(after-before)/keys, "B/key")
}

// BenchmarkWaitingDeliveriesMemory reports what a delivery waiting in the
// retry topic costs the dispatcher: a paused subscription holds 100,000
// deliveries (over 1,000 keys, then over 100,000 keys: one each), every
// one read, parked and let go of; the live heap after a GC minus before
// the dispatcher started, per waiting delivery. The cluster keeps its log
// on disk (a data dir), so its records are not in the heap. Run it once:
// -benchtime 1x.
func BenchmarkWaitingDeliveriesMemory(b *testing.B) {
	for _, keys := range []int{1000, 100000} {
		b.Run(strconv.Itoa(keys)+"keys", func(b *testing.B) {
			const n = 100000
			h := newHarness(b, 6, kfake.DataDir(b.TempDir()))
			h.subscribe("sub_paused", func(s *event.Subscription) { s.Paused = true })
			ds := make([]event.Delivery, 0, n)
			version := map[string]int64{}
			for i := range n {
				key := "order:O" + strconv.Itoa(i%keys)
				version[key]++
				ds = append(ds, delivery("sub_paused", key, version[key], i))
			}
			h.produce(ds...)
			reg := prometheus.NewRegistry()
			before := liveHeap()
			b.ResetTimer()
			h.startWith(dispatcher.Deps{Metrics: reg})
			kafkatest.WaitFor(b, 10*time.Minute, "every delivery waiting in the retry topic", func() bool {
				return kafkatest.MetricSum(b, reg, "surge_dispatcher_backlog", "where", "retry_topic") >= n
			})
			time.Sleep(2 * time.Second)
			after := liveHeap()
			b.StopTimer()
			b.ReportMetric(float64(after-before)/(1<<20), "MiB")
			b.ReportMetric(float64(after-before)/n, "B/waiting")
		})
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
