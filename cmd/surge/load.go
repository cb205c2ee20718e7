package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
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

	"github.com/surgehq/surge/pkg/catalog"
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
status, and latency percentiles; exits non-zero if any request did not get
a 202.

Each event picks its type from --mix (type=weight, comma separated; the
entity type follows the event type: order.* is about an order, stock.* about
a SKU's stock) and its entity among --entities: uniformly, or with
--skew S > 1 from a Zipf distribution where entity k is drawn with
probability proportional to 1/(k+1)^S, so a few hot SKUs and orders take
most of the traffic, as in a flash sale (S = 1.2: the hottest 1% of 1,000
entities get about half of the events).`,
		Example: `  surge load --rate 2000 --duration 30s
  surge load --rate max --batch 10 --skew 1.2
  surge load --mix order.placed=70,stock.updated=30 --entities 50`,
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
	fs.Float64Var(&c.Skew, "skew", 0, "Zipf exponent S > 1 over entities (hot keys); 0: uniform")
	fs.StringVar(&c.Mix, "mix", defaultLoadMix, "event types and their weights, type=weight comma separated")
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
	return errors.Join(errs...)
}

// loadResult is what a run measured.
type loadResult struct {
	workload string // what was sent, for the report
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

// mixEntry is one event type of a --mix.
type mixEntry struct {
	Type   string  // as sent
	Entity string  // the entity type its events are about
	Weight float64 // relative
}

// loadMix is a parsed --mix: event types drawn in proportion to their
// weights.
type loadMix struct {
	entries []mixEntry
	cum     []float64 // running sum of the weights
}

// builtinTypes resolves a mix's event types to their entity types.
var builtinTypes = catalog.New(catalog.Builtin()...)

// parseMix reads "type=weight,type=weight". A type the built-in catalog
// knows (canonical or alias) takes its entity type from it; any other is
// taken to be about the entity its name starts with (a custom
// "cart.abandoned" is about a "cart"); ingest decides whether it accepts it.
func parseMix(s string) (loadMix, error) {
	var m loadMix
	seen := map[string]bool{}
	total := 0.0
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		typ, w, ok := strings.Cut(item, "=")
		typ = strings.TrimSpace(typ)
		if !ok || typ == "" || strings.ContainsAny(typ, " \t*") {
			return loadMix{}, fmt.Errorf("%q: want TYPE=WEIGHT, e.g. order.placed=40", item)
		}
		weight, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
		if err != nil || !(weight > 0) || math.IsInf(weight, 0) {
			return loadMix{}, fmt.Errorf("%q: the weight must be a positive number", item)
		}
		if seen[typ] {
			return loadMix{}, fmt.Errorf("%s is given twice", typ)
		}
		seen[typ] = true
		entity, _, _ := strings.Cut(typ, ".")
		if et, ok := builtinTypes.Lookup(typ); ok && et.EntityType != "" {
			entity = et.EntityType
		}
		total += weight
		m.entries = append(m.entries, mixEntry{Type: typ, Entity: entity, Weight: weight})
		m.cum = append(m.cum, total)
	}
	if len(m.entries) == 0 {
		return loadMix{}, errors.New("no event types; give TYPE=WEIGHT pairs, e.g. " + defaultLoadMix)
	}
	return m, nil
}

// pick draws an event type.
func (m loadMix) pick(rng *rand.Rand) mixEntry {
	x := rng.Float64() * m.cum[len(m.cum)-1]
	i := sort.Search(len(m.cum), func(i int) bool { return m.cum[i] > x })
	return m.entries[min(i, len(m.entries)-1)]
}

// String is the mix as shares of the events, for the report.
func (m loadMix) String() string {
	total := m.cum[len(m.cum)-1]
	parts := make([]string, len(m.entries))
	for i, e := range m.entries {
		parts[i] = fmt.Sprintf("%s %.0f%%", e.Type, 100*e.Weight/total)
	}
	return strings.Join(parts, ", ")
}

// workload says what a run sends, for the report.
func (c loadConfig) workload() string {
	dist := "uniform"
	if c.Skew != 0 {
		top := max(1, c.Entities/100)
		dist = fmt.Sprintf("Zipf S=%g, the hottest %d get %.0f%% of events", c.Skew, top, 100*zipfShare(c.Entities, c.Skew, top))
	}
	return fmt.Sprintf("%d entities (%s); %s", c.Entities, dist, c.mix)
}

// zipfShare is the share of draws entityPicker gives its top entities.
func zipfShare(n int, s float64, top int) float64 {
	var head, all float64
	for k := 1; k <= n; k++ {
		p := math.Pow(float64(k), -s)
		all += p
		if k <= top {
			head += p
		}
	}
	return head / all
}

// entityPicker draws entity numbers in [0, n): uniformly when skew is 0,
// else from a Zipf distribution, entity k with probability proportional
// to 1/(k+1)^skew (skew > 1), so entity 0 is the hottest.
func entityPicker(rng *rand.Rand, n int, skew float64) func() int {
	if skew == 0 || n == 1 {
		return func() int { return rng.IntN(n) }
	}
	z := rand.NewZipf(rng, skew, 1, uint64(n-1))
	return func() int { return int(z.Uint64()) }
}

// loadGen makes request bodies; one per worker, not safe for concurrent
// use.
type loadGen struct {
	rng    *rand.Rand
	entity func() int
	mix    loadMix
	prefix string // before every entity id
}

func newLoadGen(c loadConfig, worker int, prefix string) *loadGen {
	rng := rand.New(rand.NewPCG(c.Seed, uint64(worker)))
	return &loadGen{rng: rng, entity: entityPicker(rng, c.Entities, c.Skew), mix: c.mix, prefix: prefix}
}

// body builds one request body of n events: a single event for 1, else
// a batch.
func (g *loadGen) body(n int) []byte {
	var b bytes.Buffer
	if n > 1 {
		b.WriteString(`{"events":[`)
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		t := g.mix.pick(g.rng)
		id := g.entity()
		fmt.Fprintf(&b, `{"type":%q,"entity":{"type":%q,"id":"%s%d"},"data":{"sku":"SKU-%d","qty":%d,"total":%d.%02d}}`,
			t.Type, t.Entity, g.prefix, id, id, g.rng.IntN(5)+1, g.rng.IntN(500), g.rng.IntN(100))
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
		res      = &loadResult{workload: c.workload(), statuses: map[int]int64{}, latency: hdrhistogram.New(1, 60_000_000, 3)}
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
			gen := newLoadGen(c, w, "")
			for at := range due {
				body := gen.body(c.Batch)
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
