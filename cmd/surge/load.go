package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/spf13/cobra"

	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/config"
)

// loadConfig drives `surge load`, the flash-sale load generator.
type loadConfig struct {
	Target      string
	Rate        string // events/s, or "max"
	Duration    time.Duration
	Entities    int
	Batch       int
	Concurrency int
	Seed        uint64
}

func newLoadCommand() *cobra.Command {
	var c loadConfig
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Flash-sale load generator: POST events to ingest at a fixed rate and report latency",
		Long: `Send commerce events to an ingest listener at --rate events per second
(open loop: latency is measured from when a request was due, so a stalled
server shows as latency, not as a lower rate), or as fast as --concurrency
connections allow with --rate max. Prints accepted events/s, errors by
status, and latency percentiles; exits non-zero if any request did not get
a 202.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.BindEnv(cmd.Flags()); err != nil {
				return cli.ConfigError{Err: err}
			}
			if err := c.validate(); err != nil {
				return cli.ConfigError{Err: err}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := runLoad(ctx, c, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			res.print(cmd.OutOrStdout())
			if res.unexpected() > 0 {
				return fmt.Errorf("%d requests did not get a 202", res.unexpected())
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&c.Target, "ingest-addr", "127.0.0.1:8080", "ingest listener (host:port or a base URL)")
	fs.StringVar(&c.Rate, "rate", "1000", "events per second, or max")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to send")
	fs.IntVar(&c.Entities, "entities", 1000, "distinct entities the events are about")
	fs.IntVar(&c.Batch, "batch", 1, "events per request (1: the single-event endpoint shape)")
	fs.IntVar(&c.Concurrency, "concurrency", 64, "requests in flight at most")
	fs.Uint64Var(&c.Seed, "seed", 1, "random seed of the event mix")
	return cmd
}

func (c *loadConfig) validate() error {
	var errs []error
	if c.Rate != "max" {
		if n, err := strconv.Atoi(c.Rate); err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("--rate must be a positive number of events/s or max, got %q", c.Rate))
		}
	}
	if c.Duration <= 0 || c.Duration > time.Hour {
		errs = append(errs, fmt.Errorf("--duration must be between 0 and 1h, got %s", c.Duration))
	}
	if c.Entities < 1 {
		errs = append(errs, errors.New("--entities must be at least 1"))
	}
	if c.Batch < 1 || c.Batch > 1000 {
		errs = append(errs, fmt.Errorf("--batch must be between 1 and 1000, got %d", c.Batch))
	}
	if c.Concurrency < 1 || c.Concurrency > 4096 {
		errs = append(errs, fmt.Errorf("--concurrency must be between 1 and 4096, got %d", c.Concurrency))
	}
	return errors.Join(errs...)
}

// loadResult is what a run measured.
type loadResult struct {
	elapsed  time.Duration
	requests int64
	events   int64
	statuses map[int]int64 // 0 = transport error
	latency  *hdrhistogram.Histogram
}

func (r *loadResult) unexpected() int64 {
	var n int64
	for s, c := range r.statuses {
		if s != http.StatusAccepted {
			n += c
		}
	}
	return n
}

func (r *loadResult) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	secs := r.elapsed.Seconds()
	fmt.Fprintf(tw, "requests\t%d\t(%.0f/s)\n", r.requests, float64(r.requests)/secs)
	fmt.Fprintf(tw, "events accepted\t%d\t(%.0f/s)\n", r.events, float64(r.events)/secs)
	codes := make([]int, 0, len(r.statuses))
	for s := range r.statuses {
		codes = append(codes, s)
	}
	sort.Ints(codes)
	var parts []string
	for _, s := range codes {
		name := strconv.Itoa(s)
		if s == 0 {
			name = "transport-error"
		}
		parts = append(parts, fmt.Sprintf("%s=%d", name, r.statuses[s]))
	}
	fmt.Fprintf(tw, "statuses\t%s\n", strings.Join(parts, " "))
	ms := func(q float64) float64 { return float64(r.latency.ValueAtQuantile(q)) / 1000 }
	fmt.Fprintf(tw, "latency ms\tp50=%.2f p90=%.2f p99=%.2f max=%.2f\n", ms(50), ms(90), ms(99), float64(r.latency.Max())/1000)
	tw.Flush()
}

var loadTypes = []struct{ typ, entity string }{
	{"order.placed", "order"},
	{"order.updated", "order"},
	{"product.updated", "product"},
	{"stock.updated", "stock"},
	{"customer.updated", "customer"},
}

// body builds one request body of n events.
func loadBody(rng *rand.Rand, entities, n int) []byte {
	var b bytes.Buffer
	if n > 1 {
		b.WriteString(`{"events":[`)
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		t := loadTypes[rng.IntN(len(loadTypes))]
		id := rng.IntN(entities)
		fmt.Fprintf(&b, `{"type":%q,"entity":{"type":%q,"id":"%d"},"data":{"sku":"SKU-%d","qty":%d,"total":%d.%02d}}`,
			t.typ, t.entity, id, id, rng.IntN(5)+1, rng.IntN(500), rng.IntN(100))
	}
	if n > 1 {
		b.WriteString(`]}`)
	}
	return b.Bytes()
}

func runLoad(ctx context.Context, c loadConfig, progress io.Writer) (*loadResult, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: c.Concurrency, MaxIdleConnsPerHost: c.Concurrency, IdleConnTimeout: time.Minute},
	}
	base := c.Target
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	url := strings.TrimRight(base, "/") + "/v1/events"

	var (
		mu       sync.Mutex
		res      = &loadResult{statuses: map[int]int64{}, latency: hdrhistogram.New(1, 60_000_000, 3)}
		accepted atomic.Int64
	)
	// due carries the time each request was due; open loop at a fixed
	// rate, closed loop (always due now) with max.
	due := make(chan time.Time, c.Concurrency)
	go func() {
		defer close(due)
		if c.Rate == "max" {
			for ctx.Err() == nil {
				select {
				case due <- time.Now():
				case <-ctx.Done():
				}
			}
			return
		}
		eventsPerSec, _ := strconv.Atoi(c.Rate)
		interval := time.Duration(float64(time.Second) * float64(c.Batch) / float64(eventsPerSec))
		next := time.Now()
		for {
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return
				}
			}
			select {
			case due <- next:
			case <-ctx.Done():
				return
			}
			next = next.Add(interval)
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < c.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(c.Seed, uint64(w)))
			for at := range due {
				body := loadBody(rng, c.Entities, c.Batch)
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				status := 0
				if err == nil {
					status = resp.StatusCode
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				lat := time.Since(at)
				mu.Lock()
				res.requests++
				res.statuses[status]++
				_ = res.latency.RecordValue(lat.Microseconds())
				if status == http.StatusAccepted {
					res.events += int64(c.Batch)
				}
				mu.Unlock()
				if status == http.StatusAccepted {
					accepted.Add(int64(c.Batch))
				}
			}
		}()
	}
	// Progress once a second.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	last := int64(0)
	for {
		select {
		case <-tick.C:
			n := accepted.Load()
			fmt.Fprintf(progress, "%5.0fs  accepted %8d  (%6d/s)\n", time.Since(start).Seconds(), n, n-last)
			last = n
		case <-done:
			res.elapsed = time.Since(start)
			return res, nil
		}
	}
}
