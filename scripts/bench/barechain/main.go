// Command barechain is the floor Surge's single-event throughput is
// measured against (issue 18, scripts/bench/singles.sh): the same shape as
// the pipeline with nothing of Surge in it. An HTTP ingest takes one
// canonical event per POST, produces it keyed by its entity to an
// embedded Kafka cluster (kfake with a data directory, as surge dev runs
// it) and answers 202 once the broker acknowledged it; a consumer reads
// the partitions, each in order, and POSTs every record to a sink in this
// process, which measures the latency from the 202's produce to the POST's
// arrival. No transactions, no Avro, no signing, no enrichment, no
// subscriptions.
//
// Drive it with `surge load --ingest-addr <addr> --rate max --batch 1`.
// On SIGTERM or SIGINT it stops taking events, waits until the sink has
// every accepted one (at most --drain-timeout), and prints one JSON line:
// accepted, delivered, events/s end to end (delivered over first accept to
// last arrival), the latency percentiles, and the process's CPU per event.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	topic       = "bare.events"
	stampHeader = "x-accepted-unix-nano"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18180", "HTTP ingest address")
	dataDir := flag.String("data-dir", "", "the embedded cluster's data directory (required)")
	partitions := flag.Int("partitions", 6, "partitions of the topic")
	drain := flag.Duration("drain-timeout", 60*time.Second, "how long to wait for the sink after the signal")
	flag.Parse()
	if *dataDir == "" || *partitions < 1 {
		fmt.Fprintln(os.Stderr, "barechain: --data-dir is required and --partitions must be at least 1")
		os.Exit(2)
	}
	if err := run(*listen, *dataDir, int32(*partitions), *drain); err != nil {
		fmt.Fprintln(os.Stderr, "barechain:", err)
		os.Exit(1)
	}
}

func run(listen, dataDir string, partitions int32, drain time.Duration) error {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dataDir), kfake.SeedTopics(partitions, topic))
	if err != nil {
		return fmt.Errorf("starting kfake: %w", err)
	}
	defer cluster.Close()
	seeds := kgo.SeedBrokers(cluster.ListenAddrs()...)
	producer, err := kgo.NewClient(seeds, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		return err
	}
	defer producer.Close()
	consumer, err := kgo.NewClient(seeds, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer consumer.Close()

	s := newSink()
	sinkLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(sinkLn, s) }()
	in := &ingest{producer: producer}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: in, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go forward(ctx, consumer, "http://"+sinkLn.Addr().String()+"/hook")
	fmt.Fprintf(os.Stderr, "barechain: ingest on http://%s/v1/events, %d partitions\n", ln.Addr(), partitions)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	_ = srv.Shutdown(context.Background())
	deadline := time.Now().Add(drain)
	for s.delivered.Load() < in.accepted.Load() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return json.NewEncoder(os.Stdout).Encode(s.report(in))
}

// ingest is the HTTP front: one event per POST, produced keyed by its
// entity, 202 once acknowledged.
type ingest struct {
	producer *kgo.Client
	accepted atomic.Int64
	first    atomic.Int64 // unix nanos of the first accept
}

func (in *ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var ev struct {
		Entity struct{ Type, ID string } `json:"entity"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.Entity.ID == "" {
		http.Error(w, "want one canonical event with entity.type and entity.id", http.StatusBadRequest)
		return
	}
	now := time.Now().UnixNano()
	rec := &kgo.Record{Topic: topic, Key: []byte(ev.Entity.Type + ":" + ev.Entity.ID), Value: body,
		Headers: []kgo.RecordHeader{{Key: stampHeader, Value: strconv.AppendInt(nil, now, 10)}}}
	if err := in.producer.ProduceSync(r.Context(), rec).FirstErr(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	in.first.CompareAndSwap(0, now)
	in.accepted.Add(1)
	w.WriteHeader(http.StatusAccepted)
}

// forward polls and POSTs each partition's records in order, the
// partitions side by side.
func forward(ctx context.Context, consumer *kgo.Client, url string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	for ctx.Err() == nil {
		fetches := consumer.PollFetches(ctx)
		var wg sync.WaitGroup
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, rec := range p.Records {
					post(ctx, client, url, rec)
				}
			}()
		})
		wg.Wait()
	}
}

// post delivers rec, again until the sink answers 2xx.
func post(ctx context.Context, client *http.Client, url string, rec *kgo.Record) {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(rec.Value))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(stampHeader, string(rec.Headers[0].Value))
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sink is the receiver: it counts deliveries and their latency.
type sink struct {
	delivered atomic.Int64
	mu        sync.Mutex
	latency   *hdrhistogram.Histogram // microseconds
	last      int64
}

func newSink() *sink { return &sink{latency: hdrhistogram.New(1, 120_000_000, 3)} }

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	now := time.Now().UnixNano()
	stamp, err := strconv.ParseInt(r.Header.Get(stampHeader), 10, 64)
	if err != nil {
		http.Error(w, "no "+stampHeader, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	_ = s.latency.RecordValue((now - stamp) / 1e3)
	s.last = now
	s.mu.Unlock()
	s.delivered.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// report is the run's one line.
type report struct {
	Accepted     int64   `json:"accepted"`
	Delivered    int64   `json:"delivered"`
	EventsPerSec float64 `json:"events_per_s"`
	P50MS        float64 `json:"p50_ms"`
	P99MS        float64 `json:"p99_ms"`
	MaxMS        float64 `json:"max_ms"`
	CPUPerEvent  float64 `json:"cpu_us_per_event"`
}

func (s *sink) report(in *ingest) report {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := report{Accepted: in.accepted.Load(), Delivered: s.delivered.Load(),
		P50MS: float64(s.latency.ValueAtQuantile(50)) / 1e3, P99MS: float64(s.latency.ValueAtQuantile(99)) / 1e3,
		MaxMS: float64(s.latency.Max()) / 1e3}
	if span := s.last - in.first.Load(); span > 0 {
		r.EventsPerSec = float64(r.Delivered) / (float64(span) / 1e9)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil && r.Delivered > 0 {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		r.CPUPerEvent = float64(cpu.Microseconds()) / float64(r.Delivered)
	}
	return r
}
