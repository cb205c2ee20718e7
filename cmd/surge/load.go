package main

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
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
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

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
		dist = fmt.Sprintf("Zipf S=%g: the hottest %d get %.0f%% of the events", c.Skew, top, 100*zipfShare(c.Entities, c.Skew, top))
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
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	last := int64(0)
	for {
		select {
		case <-tick.C:
			n := accepted.Load()
			line := fmt.Sprintf("%5.0fs  accepted %8d  (%6d/s)", time.Since(start).Seconds(), n, n-last)
			if v != nil {
				line += fmt.Sprintf("  delivered %8d", v.deliveredCount())
			}
			fmt.Fprintln(progress, line)
			last = n
		case <-done:
			res.elapsed = time.Since(start)
			return res
		}
	}
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

// newRunID names one --verify run: short, random, safe in an entity id and
// a CEL string.
func newRunID() string {
	b := make([]byte, 5)
	_, _ = cryptorand.Read(b)
	return "load" + hex.EncodeToString(b)
}

// loadVerifier is --verify: a webhook receiver on loopback, subscribed
// through the admin API to the events of this run's entities, that checks
// each delivery's signature and keeps what a report needs. It is safe for
// concurrent use: the load's workers call accept, the HTTP server calls
// ServeHTTP.
type loadVerifier struct {
	runID, prefix string
	url           string // the receiver's
	subID         string
	admin         *subsClient
	wh            *standardwebhooks.Webhook
	srv           *http.Server
	served        chan struct{}

	mu                sync.Mutex
	accepted          map[string]struct{} // event ids ingest answered 202 for
	events            map[string]struct{} // event ids delivered, the run's or derived
	deliveredAccepted int64               // |accepted ∩ events|
	hooks             map[string]struct{} // webhook-ids seen
	version           map[string]int64    // entity key → highest entity.version delivered
	requests          int64
	duplicates        int64
	reordered         int64
	badSignatures     int64
	reorderSamples    []string
	badSamples        []string
	e2e               *hdrhistogram.Histogram // event time → arrival, µs
	drained           time.Duration
}

func newLoadVerifier(runID, url string) *loadVerifier {
	return &loadVerifier{
		runID:    runID,
		prefix:   runID + "-",
		url:      url,
		served:   make(chan struct{}),
		accepted: map[string]struct{}{},
		events:   map[string]struct{}{},
		hooks:    map[string]struct{}{},
		version:  map[string]int64{},
		e2e:      hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3),
	}
}

// startLoadVerifier listens on loopback, subscribes the listener to the
// run's events and starts serving. The subscription exists when it
// returns; close deletes it.
func startLoadVerifier(ctx context.Context, admin *subsClient, runID string) (*loadVerifier, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the --verify receiver: %w", err)
	}
	v := newLoadVerifier(runID, "http://"+ln.Addr().String()+"/"+runID)
	v.admin = admin
	// Subscribe before serving: the listener queues any early connection,
	// and the signing secret is known before the first request is read.
	raw, err := admin.do(ctx, http.MethodPost, "/v1/subscriptions", map[string]any{
		"url":           v.url,
		"event_types":   []string{"*"},
		"filter":        fmt.Sprintf("entity.id.startsWith(%q)", v.prefix),
		"allow_private": true, // the receiver is on loopback
		"description":   "surge load --verify, run " + runID + "; deleted when the run ends",
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("creating the --verify subscription: %w", err)
	}
	var created struct{ ID, Secret string }
	if err := json.Unmarshal(raw, &created); err != nil || created.ID == "" {
		ln.Close()
		return nil, fmt.Errorf("creating the --verify subscription: the admin API answered %s", oneLine(string(raw), 200))
	}
	v.subID = created.ID
	if v.wh, err = standardwebhooks.NewWebhook(created.Secret); err != nil {
		ln.Close()
		return nil, errors.Join(fmt.Errorf("reading the subscription's secret: %w", err), v.deleteSub())
	}
	v.srv = &http.Server{Handler: v, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(v.served)
		_ = v.srv.Serve(ln)
	}()
	return v, nil
}

// ServeHTTP receives one webhook: a bad signature is refused with 401, as
// a receiver should (the dispatcher dead-letters it, so it shows as lost
// too); anything else is recorded before the 204, so the order of records
// is the order the dispatcher saw its deliveries acknowledged in.
func (v *loadVerifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, "reading the body", http.StatusBadRequest)
		return
	}
	hookID := r.Header.Get("webhook-id")
	if err := v.wh.Verify(body, r.Header); err != nil {
		v.bad(hookID, "signature: "+err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var b struct {
		ID     string    `json:"id"`
		Time   time.Time `json:"time"`
		Entity struct {
			Type    string `json:"type"`
			ID      string `json:"id"`
			Version int64  `json:"version"`
		} `json:"entity"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.ID == "" {
		v.bad(hookID, fmt.Sprintf("body is not a Surge webhook body: %v", err))
		http.Error(w, "not a Surge webhook body", http.StatusBadRequest)
		return
	}
	v.record(hookID, b.ID, b.Entity.Type+":"+b.Entity.ID, b.Entity.Version, b.Time, at)
	w.WriteHeader(http.StatusNoContent)
}

func (v *loadVerifier) bad(hookID, why string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.badSignatures++
	if len(v.badSamples) < 3 {
		v.badSamples = append(v.badSamples, hookID+": "+why)
	}
}

// record counts one verified delivery.
func (v *loadVerifier) record(hookID, eventID, entity string, version int64, eventTime, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.requests++
	if _, seen := v.hooks[hookID]; seen {
		v.duplicates++
		return
	}
	v.hooks[hookID] = struct{}{}
	if last, ok := v.version[entity]; ok && version <= last {
		v.reordered++
		if len(v.reorderSamples) < 5 {
			v.reorderSamples = append(v.reorderSamples, fmt.Sprintf("%s: version %d (event %s) after version %d", entity, version, eventID, last))
		}
	} else {
		v.version[entity] = version
	}
	if _, seen := v.events[eventID]; !seen {
		v.events[eventID] = struct{}{}
		if _, ok := v.accepted[eventID]; ok {
			v.deliveredAccepted++
		}
		_ = v.e2e.RecordValue(max(1, at.Sub(eventTime).Microseconds()))
	}
}

// accept notes event ids ingest answered 202 for. A delivery may arrive
// before its 202 was read, so both orders count.
func (v *loadVerifier) accept(ids []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, id := range ids {
		if _, ok := v.accepted[id]; ok {
			continue
		}
		v.accepted[id] = struct{}{}
		if _, ok := v.events[id]; ok {
			v.deliveredAccepted++
		}
	}
}

func (v *loadVerifier) deliveredCount() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.deliveredAccepted
}

func (v *loadVerifier) pending() (delivered, accepted int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.deliveredAccepted, int64(len(v.accepted))
}

// drain waits until every accepted event was delivered, timeout passed or
// ctx ended, printing progress once a second.
func (v *loadVerifier) drain(ctx context.Context, timeout time.Duration, progress io.Writer) {
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	check := time.NewTicker(50 * time.Millisecond)
	defer check.Stop()
	lastPrint, lastN := start, int64(0)
	for {
		delivered, accepted := v.pending()
		if delivered >= accepted {
			break
		}
		if now := time.Now(); now.Sub(lastPrint) >= time.Second {
			fmt.Fprintf(progress, "drain %4.0fs  delivered %8d of %d  (%d/s), waiting up to %s\n",
				now.Sub(start).Seconds(), delivered, accepted, int64(float64(delivered-lastN)/now.Sub(lastPrint).Seconds()), timeout)
			lastPrint, lastN = now, delivered
		}
		select {
		case <-check.C:
			continue
		case <-deadline.C:
		case <-ctx.Done():
		}
		break
	}
	v.drained = time.Since(start)
}

// close deletes the subscription and stops the receiver.
func (v *loadVerifier) close() error {
	err := v.deleteSub()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = v.srv.Shutdown(ctx)
	<-v.served
	return err
}

func (v *loadVerifier) deleteSub() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := v.admin.do(ctx, http.MethodDelete, subPath(v.subID), nil); err != nil {
		return fmt.Errorf("deleting the --verify subscription %s (delete it with `surge subs delete %s`): %w", v.subID, v.subID, err)
	}
	return nil
}

// verifyResult is what --verify found.
type verifyResult struct {
	runID, subID                               string
	accepted, delivered, lost, reordered, dups int64
	badSignatures, other, requests             int64
	lostSamples, reorderSamples, badSamples    []string
	e2e                                        *hdrhistogram.Histogram
	drained                                    time.Duration
}

func (v *loadVerifier) result() *verifyResult {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := &verifyResult{
		runID: v.runID, subID: v.subID,
		accepted:       int64(len(v.accepted)),
		delivered:      v.deliveredAccepted,
		reordered:      v.reordered,
		dups:           v.duplicates,
		badSignatures:  v.badSignatures,
		other:          int64(len(v.events)) - v.deliveredAccepted,
		requests:       v.requests,
		reorderSamples: slices.Clone(v.reorderSamples),
		badSamples:     slices.Clone(v.badSamples),
		e2e:            hdrhistogram.Import(v.e2e.Export()),
		drained:        v.drained,
	}
	r.lost = r.accepted - r.delivered
	for id := range v.accepted {
		if _, ok := v.events[id]; !ok {
			r.lostSamples = append(r.lostSamples, id)
		}
	}
	slices.Sort(r.lostSamples)
	r.lostSamples = r.lostSamples[:min(len(r.lostSamples), 5)]
	return r
}

// problems are the reasons the run fails.
func (r *verifyResult) problems() []error {
	var errs []error
	if r.lost > 0 {
		errs = append(errs, fmt.Errorf("%d of %d accepted events were not delivered within --drain-timeout", r.lost, r.accepted))
	}
	if r.reordered > 0 {
		errs = append(errs, fmt.Errorf("%d deliveries arrived out of order for their entity", r.reordered))
	}
	if r.badSignatures > 0 {
		errs = append(errs, fmt.Errorf("%d deliveries failed the signature check", r.badSignatures))
	}
	return errs
}

// print writes the report's lines to tw, which the caller flushes.
func (r *verifyResult) print(tw io.Writer) {
	fmt.Fprintf(tw, "verify\trun %s, subscription %s (deleted)\n", r.runID, r.subID)
	drain := fmt.Sprintf("all, %s after the load ended", r.drained.Round(time.Millisecond))
	if r.lost > 0 {
		drain = fmt.Sprintf("stopped waiting %s after the load ended", r.drained.Round(time.Millisecond))
	}
	fmt.Fprintf(tw, "delivered\t%d of %d accepted\t(%s)\n", r.delivered, r.accepted, drain)
	fmt.Fprintf(tw, "lost\t%d\n", r.lost)
	for _, id := range r.lostSamples {
		fmt.Fprintf(tw, "  not delivered\t%s\n", id)
	}
	fmt.Fprintf(tw, "reordered\t%d\n", r.reordered)
	for _, s := range r.reorderSamples {
		fmt.Fprintf(tw, "  out of order\t%s\n", s)
	}
	fmt.Fprintf(tw, "duplicates\t%d\t(same webhook-id again, of %d requests)\n", r.dups, r.requests)
	fmt.Fprintf(tw, "bad signatures\t%d\n", r.badSignatures)
	for _, s := range r.badSamples {
		fmt.Fprintf(tw, "  refused\t%s\n", s)
	}
	fmt.Fprintf(tw, "derived events\t%d\t(of the run's entities, with no 202: enrich's, e.g. inventory.changed)\n", r.other)
	fmt.Fprintf(tw, "e2e latency ms\t%s\t(event time → webhook received)\n", percentilesMS(r.e2e))
}
