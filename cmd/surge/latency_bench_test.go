package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/topics"
)

// BenchmarkIngestToDeliveryLatency runs `surge dev` in process with one
// subscription to a local endpoint and posts single order events at a
// fixed rate (default 5,000/s, override with SURGE_BENCH_RATE; one per
// request, or SURGE_BENCH_BATCH per request) for 20 s;
// it reports the percentiles of the time from ingest's acceptance (the
// event's time) to the endpoint receiving the signed webhook. The load
// generator, the pipeline and the endpoint share the machine. Run it once:
// -bench IngestToDeliveryLatency -benchtime 1x. With KAFKA_BROKERS set it
// runs surge dev --brokers on that cluster instead of the embedded one.
func BenchmarkIngestToDeliveryLatency(b *testing.B) {
	rate, duration := 5000, 20*time.Second
	if v, err := strconv.Atoi(os.Getenv("SURGE_BENCH_RATE")); err == nil && v > 0 {
		rate = v
	}
	batch := 1 // events per request
	if v, err := strconv.Atoi(os.Getenv("SURGE_BENCH_BATCH")); err == nil && v > 0 {
		batch = v
	}
	dir := b.TempDir()
	cfg := testDevConfig(dir)
	cfg.Partitions = 6
	if brokers := os.Getenv("KAFKA_BROKERS"); brokers != "" {
		cfg.Brokers = strings.Split(brokers, ",")
	}
	stack, err := startDev(context.Background(), cfg, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer stack.Close()
	rc := newHookReceiver(b)
	subscribeReceiver(b, rc, stack.AdminURL, dir, 1)

	b.ResetTimer()
	var sent, failed atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	jobs := make(chan int, 1024)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				evs := make([]string, batch)
				for j := range evs {
					seq := i*batch + j
					evs[j] = fmt.Sprintf(`{"type":"order.updated","entity":{"type":"order","id":"O%d"},"data":{"seq":%d}}`, seq%2000, seq)
				}
				body := `{"events":[` + strings.Join(evs, ",") + `]}`
				resp, err := client.Post(stack.IngestURL+"/v1/events", "application/json", strings.NewReader(body))
				if err != nil || resp.StatusCode != http.StatusAccepted {
					failed.Add(int64(batch))
				}
				if resp != nil {
					resp.Body.Close()
				}
				sent.Add(int64(batch))
			}
		}()
	}
	start := time.Now()
	interval := time.Second * time.Duration(batch) / time.Duration(rate)
	for i := 0; time.Since(start) < duration; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	n := sent.Load()
	deadline := time.Now().Add(2 * time.Minute)
	for int64(rc.distinct()) < n-failed.Load() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/duration.Seconds(), "events/s")
	b.ReportMetric(float64(failed.Load()), "failed")
	for _, q := range []float64{0.5, 0.9, 0.99} {
		b.ReportMetric(float64(rc.quantile(q).Microseconds())/1000, fmt.Sprintf("p%02.0f-ms", q*100))
	}
	b.Logf("%d events at %d/s for %s: %d delivered; %s", n, rate, duration, rc.distinct(), rc.percentiles())
	b.Log(stageLatencies(b, stack, rc))
}

// stageLatencies splits the end-to-end latency by stage from the times the
// records carry: ingest's received_at and enrich's enriched_at (on the
// enriched event), fanout's created_at (on the delivery), and the
// endpoint's arrival time.
func stageLatencies(b *testing.B, stack *devStack, rc *hookReceiver) string {
	srCl, err := sr.NewClient(sr.URLs(stack.RegistryURL))
	if err != nil {
		b.Fatal(err)
	}
	reg := avroserde.NewRegistry(srCl)
	enriched := avroserde.NewEnrichedEventCodec(reg, topics.EventsEnriched)
	deliveries := avroserde.NewDeliveryCodec(reg, topics.Deliveries)
	read := func(topic string, f func(*kgo.Record)) {
		// Control records are kept so CatchUp sees the commit marker at
		// the end of a transactional topic.
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(stack.KafkaAddr, ",")...), kgo.ConsumeTopics(topic),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords())
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		if err := kafkax.CatchUp(context.Background(), cl, topic, f); err != nil {
			b.Fatal(err)
		}
	}
	enrichedAt := map[string]time.Time{}
	var toEnrich, toFanout, toEndpoint []time.Duration
	read(topics.EventsEnriched, func(r *kgo.Record) {
		e, err := enriched.Decode(context.Background(), r.Value)
		if err == nil {
			enrichedAt[e.ID] = e.EnrichedAt
			toEnrich = append(toEnrich, e.EnrichedAt.Sub(e.ReceivedAt))
		}
	})
	arrived := rc.FirstArrivals()
	read(topics.Deliveries, func(r *kgo.Record) {
		d, err := deliveries.Decode(context.Background(), r.Value)
		if err != nil {
			return
		}
		if at, ok := enrichedAt[d.EventID]; ok {
			toFanout = append(toFanout, d.CreatedAt.Sub(at))
		}
		if at, ok := arrived[d.ID]; ok {
			toEndpoint = append(toEndpoint, at.Sub(d.CreatedAt))
		}
	})
	q := func(l []time.Duration) string {
		if len(l) == 0 {
			return "n/a"
		}
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		p := func(x float64) time.Duration { return l[min(len(l)-1, int(x*float64(len(l))))].Round(time.Millisecond) }
		return fmt.Sprintf("p50 %s p99 %s", p(0.5), p(0.99))
	}
	return fmt.Sprintf("ingest→enriched %s; enriched→delivery written %s; delivery written→endpoint %s", q(toEnrich), q(toFanout), q(toEndpoint))
}
