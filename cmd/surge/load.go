package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
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
	Skew        float64 // 0: uniform over entities; > 1: Zipf exponent
	Mix         string  // event types and weights, "type=weight,..."

	// --verify: subscribe a receiver of this process to the run's events
	// through the admin API and check every event comes back.
	Verify       bool
	DrainTimeout time.Duration
	Admin        subsOptions // admin API address, token, data dir

	mix loadMix // Mix, parsed by validate
}

// defaultLoadMix is a flash sale's traffic: mostly orders, then the price
// and stock changes they cause, a few customer updates.
const defaultLoadMix = "order.placed=30,order.updated=30,product.updated=20,stock.updated=15,customer.updated=5"

func newLoadCommand() *cobra.Command {
	var c loadConfig
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Flash-sale load generator: POST events to ingest at a fixed rate and report latency",
		Long: `Send commerce events to an ingest listener at --rate events per second
(open loop: latency is measured from when a request was due, so a stalled
server shows as latency, not as a lower rate), or as fast as --concurrency
connections allow with --rate max. Prints accepted events/s, errors by
status, and the latency to the 202; exits non-zero if any request did not
get a 202.

Each event picks its type from --mix (type=weight, comma separated; the
entity type follows the event type: order.* is about an order, stock.* about
a SKU's stock) and its entity among --entities: uniformly, or with
--skew S > 1 from a Zipf distribution where entity k is drawn with
probability proportional to 1/(k+1)^S, so a few hot SKUs and orders take
most of the traffic, as in a flash sale (S = 1.2: the hottest 1% of 1,000
entities get about half of the events).

--verify checks the whole pipeline, not only ingest. It starts a webhook
receiver on loopback (a random port) and creates a subscription to it
through the admin API (token from --admin-token, SURGE_ADMIN_TOKEN or
<data-dir>/admin-token) for every event type, with a CEL filter on this
run's entities: the run gives its entity ids a prefix of its own
(<run id>-<n>), so other traffic and earlier runs are not counted and every
entity starts at version 1. Every delivery's signature is checked with the
official Standard Webhooks library. After the load it waits, up to
--drain-timeout, until every accepted event was delivered, then reports
delivered, lost (accepted, never delivered), reordered (a new event of an
entity delivered with an entity.version not above one already delivered),
duplicates (a webhook-id delivered again, which at-least-once delivery
allows) and the end-to-end latency from the event's time (set by ingest
when it accepts the event) to the webhook's arrival. Events enrich derives
from the run's events (inventory.changed after a stock.updated) are about
the same entities, so they are delivered too: they are counted as "derived
or unanswered" and checked for order, but not for loss. The subscription
is deleted at the end. The run exits non-zero on any loss, reordering or
bad signature.`,
		Example: `  surge load --rate 2000 --duration 30s
  surge load --rate max --batch 10 --skew 1.2
  surge load --mix order.placed=70,stock.updated=30 --entities 50
  surge load --rate 300 --duration 10s --verify --skew 1.2`,
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
			return loadMain(ctx, c, cmd.OutOrStdout(), cmd.ErrOrStderr())
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
	fs.Float64Var(&c.Skew, "skew", 0, "Zipf exponent S > 1 over entities (hot keys); 0: uniform")
	fs.StringVar(&c.Mix, "mix", defaultLoadMix, "event types and their weights, type=weight comma separated")
	fs.BoolVar(&c.Verify, "verify", false, "receive the run's events as webhooks and report lost, reordered and duplicate deliveries")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 60*time.Second, "with --verify: how long to wait after the load for every accepted event to be delivered")
	fs.StringVar(&c.Admin.AdminAddr, "admin-addr", "127.0.0.1:8081", "with --verify: admin API address, host:port or a URL")
	fs.StringVar(&c.Admin.AdminToken, "admin-token", "", "with --verify: admin API bearer token (default: read <data-dir>/admin-token)")
	fs.StringVar(&c.Admin.DataDir, "data-dir", "./.surge", "with --verify: surge dev's data directory, where the admin token is kept")
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
	if c.Skew != 0 && (!(c.Skew > 1) || math.IsInf(c.Skew, 0)) {
		errs = append(errs, fmt.Errorf("--skew must be 0 (uniform) or a Zipf exponent above 1, got %g", c.Skew))
	}
	mix, err := parseMix(c.Mix)
	if err != nil {
		errs = append(errs, fmt.Errorf("--mix: %w", err))
	}
	c.mix = mix
	if c.Verify && (c.DrainTimeout <= 0 || c.DrainTimeout > 24*time.Hour) {
		errs = append(errs, fmt.Errorf("--drain-timeout must be between 0 and 24h, got %s", c.DrainTimeout))
	}
	return errors.Join(errs...)
}

// loadMain runs the load, with --verify around it, prints the report to
// out and progress to progress, and says whether the run failed.
func loadMain(ctx context.Context, c loadConfig, out, progress io.Writer) error {
	var v *loadVerifier
	if c.Verify {
		admin, err := newSubsClient(c.Admin)
		if err != nil {
			return err
		}
		if v, err = startLoadVerifier(ctx, admin, newRunID()); err != nil {
			return err
		}
		fmt.Fprintf(progress, "verify: run %s, subscription %s, receiver %s\n", v.runID, v.subID, v.url)
	}
	res := runLoad(ctx, c, v, progress)
	var problems []error
	if n := res.unexpected(); n > 0 {
		problems = append(problems, fmt.Errorf("%d requests did not get a 202", n))
	}
	var vres *verifyResult
	if v != nil {
		if res.events > 0 {
			v.drain(ctx, c.DrainTimeout, progress)
		}
		vres = v.result()
		if err := v.close(); err != nil {
			problems = append(problems, err)
		}
		problems = append(problems, vres.problems()...)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	res.print(tw)
	if vres != nil {
		vres.print(tw)
	}
	if err := tw.Flush(); err != nil {
		problems = append(problems, err)
	}
	return errors.Join(problems...)
}

// loadResult is what a run measured.
type loadResult struct {
	workload string // what was sent, for the report
	elapsed  time.Duration
	requests int64
	events   int64
	statuses map[int]int64           // 0 = transport error
	samples  map[int]string          // the first answer (or error) of each status but 202
	latency  *hdrhistogram.Histogram // due → 202, µs
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

// print writes the report's lines to tw, which the caller flushes.
func (r *loadResult) print(tw io.Writer) {
	secs := r.elapsed.Seconds()
	if r.workload != "" {
		fmt.Fprintf(tw, "workload\t%s\n", r.workload)
	}
	fmt.Fprintf(tw, "requests\t%d\t(%.0f/s)\n", r.requests, float64(r.requests)/secs)
	fmt.Fprintf(tw, "events accepted\t%d\t(%.0f/s)\n", r.events, float64(r.events)/secs)
	codes := make([]int, 0, len(r.statuses))
	for s := range r.statuses {
		codes = append(codes, s)
	}
	sort.Ints(codes)
	var parts []string
	for _, s := range codes {
		parts = append(parts, fmt.Sprintf("%s=%d", statusName(s), r.statuses[s]))
	}
	fmt.Fprintf(tw, "statuses\t%s\n", strings.Join(parts, " "))
	for _, s := range codes {
		if sample, ok := r.samples[s]; ok {
			fmt.Fprintf(tw, "first %s\t%s\n", statusName(s), sample)
		}
	}
	fmt.Fprintf(tw, "latency to 202 ms\t%s\n", percentilesMS(r.latency))
}

func statusName(s int) string {
	switch s {
	case 0:
		return "transport-error"
	case -1:
		return "202-without-ids"
	}
	return strconv.Itoa(s)
}

// percentilesMS prints a histogram of microseconds as milliseconds.
func percentilesMS(h *hdrhistogram.Histogram) string {
	if h.TotalCount() == 0 {
		return "(none)"
	}
	ms := func(v int64) float64 { return float64(v) / 1000 }
	return fmt.Sprintf("p50=%.2f p90=%.2f p99=%.2f max=%.2f", ms(h.ValueAtQuantile(50)), ms(h.ValueAtQuantile(90)),
		ms(h.ValueAtQuantile(99)), ms(h.Max()))
}

func runLoad(ctx context.Context, c loadConfig, v *loadVerifier, progress io.Writer) *loadResult {
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
	prefix := ""
	if v != nil {
		prefix = v.prefix
	}

	var (
		mu  sync.Mutex
		res = &loadResult{
			workload: c.workload(),
			statuses: map[int]int64{},
			samples:  map[int]string{},
			latency:  hdrhistogram.New(1, 60_000_000, 3),
		}
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
			gen := newLoadGen(c, w, prefix)
			for at := range due {
				status, ids, sample := post(client, url, gen.body(c.Batch), v != nil)
				lat := time.Since(at)
				if status == http.StatusAccepted && v != nil {
					if len(ids) != c.Batch {
						// A 202 that does not name its events cannot be
						// verified; count it as an unexpected answer.
						status, sample = -1, fmt.Sprintf("202 naming %d event ids for %d events", len(ids), c.Batch)
					} else {
						v.accept(ids)
					}
				}
				mu.Lock()
				res.requests++
				res.statuses[status]++
				if status == http.StatusAccepted {
					_ = res.latency.RecordValue(lat.Microseconds())
					res.events += int64(c.Batch)
				} else if _, ok := res.samples[status]; !ok {
					res.samples[status] = sample
				}
				mu.Unlock()
				if status == http.StatusAccepted {
					accepted.Add(int64(c.Batch))
				}
			}
		}()
	}
	// Progress once a second.
	last := int64(0)
	prog := newProgress(progress, start, time.Second, time.Second)
	prog.tick(func(elapsed time.Duration) string {
		n := accepted.Load()
		line := fmt.Sprintf("%5.0fs  accepted %8d  (%6d/s)", elapsed.Seconds(), n, n-last)
		if v != nil {
			line += fmt.Sprintf("  delivered %8d", v.deliveredCount())
		}
		last = n
		return line
	})
	wg.Wait()
	res.elapsed = time.Since(start)
	prog.stop()
	return res
}

// post sends one request and returns its status (0: no answer), the event
// ids of a 202 when wantIDs, and otherwise a sample of what went wrong.
func post(client *http.Client, url string, body []byte, wantIDs bool) (status int, ids []string, sample string) {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusAccepted && wantIDs:
		var a struct {
			ID  string   `json:"id"`
			IDs []string `json:"ids"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&a); err == nil {
			ids = a.IDs
			if a.ID != "" {
				ids = []string{a.ID}
			}
		}
	case resp.StatusCode != http.StatusAccepted:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		sample = oneLine(string(b), 200)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, ids, sample
}
