package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/kafkatest"
)

func TestParseMix(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []mixEntry
		wantErr string
	}{
		{
			name: "canonical types take the catalog's entity type",
			in:   "order.placed=40, order.updated=30,product.updated=20,stock.updated=10",
			want: []mixEntry{
				{"order.placed", "order", 40}, {"order.updated", "order", 30},
				{"product.updated", "product", 20}, {"stock.updated", "stock", 10},
			},
		},
		{
			name: "aliases and inventory types resolve through the catalog",
			in:   "be-observer.catalog_product_update=1,inventory.reserved=2.5,stock.adjusted=1",
			want: []mixEntry{
				{"be-observer.catalog_product_update", "product", 1},
				{"inventory.reserved", "stock", 2.5},
				{"stock.adjusted", "stock", 1},
			},
		},
		{
			name: "an unknown type is about the entity its name starts with",
			in:   "cart.abandoned=1",
			want: []mixEntry{{"cart.abandoned", "cart", 1}},
		},
		{name: "the default parses", in: defaultLoadMix},
		{name: "empty", in: " , ", wantErr: "no event types"},
		{name: "no weight", in: "order.placed", wantErr: "want TYPE=WEIGHT"},
		{name: "no type", in: "=3", wantErr: "want TYPE=WEIGHT"},
		{name: "a pattern is not a type", in: "order.*=3", wantErr: "want TYPE=WEIGHT"},
		{name: "zero weight", in: "order.placed=0", wantErr: "positive number"},
		{name: "negative weight", in: "order.placed=-1", wantErr: "positive number"},
		{name: "not a number", in: "order.placed=lots", wantErr: "positive number"},
		{name: "NaN", in: "order.placed=NaN", wantErr: "positive number"},
		{name: "twice", in: "order.placed=1,order.placed=2", wantErr: "given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMix(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				return
			}
			if len(got.entries) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got.entries, tc.want)
			}
			for i := range tc.want {
				if got.entries[i] != tc.want[i] {
					t.Errorf("entry %d: got %+v, want %+v", i, got.entries[i], tc.want[i])
				}
			}
		})
	}
}

func TestMixPickFollowsTheWeights(t *testing.T) {
	m, err := parseMix("order.placed=40,order.updated=30,product.updated=20,stock.updated=10")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	const n = 200_000
	counts := map[string]int{}
	for range n {
		counts[m.pick(rng).Type]++
	}
	for _, e := range m.entries {
		got := float64(counts[e.Type]) / n
		if want := e.Weight / 100; math.Abs(got-want) > 0.01 {
			t.Errorf("%s: %.3f of the events, want %.2f", e.Type, got, want)
		}
	}
	if s := m.String(); s != "order.placed 40%, order.updated 30%, product.updated 20%, stock.updated 10%" {
		t.Errorf("String() = %q", s)
	}
}

func TestEntityPicker(t *testing.T) {
	const n, draws = 1000, 400_000
	sample := func(skew float64) []int {
		pick := entityPicker(rand.New(rand.NewPCG(1, 2)), n, skew)
		counts := make([]int, n)
		for range draws {
			k := pick()
			if k < 0 || k >= n {
				t.Fatalf("skew %g: drew %d, outside [0,%d)", skew, k, n)
			}
			counts[k]++
		}
		return counts
	}

	t.Run("zipf", func(t *testing.T) {
		const s = 1.2
		counts := sample(s)
		// P(k) ∝ 1/(k+1)^s: entity 0 over entity 9 is 10^s ≈ 15.8.
		ratio := float64(counts[0]) / float64(counts[9])
		if want := math.Pow(10, s); math.Abs(ratio-want)/want > 0.1 {
			t.Errorf("entity 0 drawn %.1f× as often as entity 9, want %.1f×", ratio, want)
		}
		top := 0
		for _, c := range counts[:n/100] {
			top += c
		}
		got, want := float64(top)/draws, zipfShare(n, s, n/100)
		if math.Abs(got-want) > 0.01 {
			t.Errorf("the hottest 1%% got %.3f of the draws, want %.3f", got, want)
		}
		if want < 0.4 || want > 0.6 {
			t.Errorf("zipfShare(1000, 1.2, 10) = %.3f; the help text says about half", want)
		}
	})

	t.Run("uniform", func(t *testing.T) {
		counts := sample(0)
		lo, hi := draws, 0
		for _, c := range counts {
			lo, hi = min(lo, c), max(hi, c)
		}
		// 400 expected per entity; 6 standard deviations is ±120.
		if lo < 280 || hi > 520 {
			t.Errorf("uniform draws per entity between %d and %d, want all near %d", lo, hi, draws/n)
		}
	})

	t.Run("one entity", func(t *testing.T) {
		pick := entityPicker(rand.New(rand.NewPCG(1, 2)), 1, 1.5)
		for range 100 {
			if k := pick(); k != 0 {
				t.Fatalf("drew %d of one entity", k)
			}
		}
	})
}

func TestLoadValidate(t *testing.T) {
	base := func() loadConfig {
		return loadConfig{Rate: "100", Duration: 1e9, Entities: 10, Batch: 1, Concurrency: 1, Mix: defaultLoadMix}
	}
	for _, tc := range []struct {
		name    string
		edit    func(*loadConfig)
		wantErr string
	}{
		{"defaults", func(*loadConfig) {}, ""},
		{"zipf", func(c *loadConfig) { c.Skew = 1.01 }, ""},
		{"skew 1 has no Zipf", func(c *loadConfig) { c.Skew = 1 }, "--skew must be 0"},
		{"negative skew", func(c *loadConfig) { c.Skew = -2 }, "--skew must be 0"},
		{"infinite skew", func(c *loadConfig) { c.Skew = math.Inf(1) }, "--skew must be 0"},
		{"bad mix", func(c *loadConfig) { c.Mix = "order.placed" }, "--mix"},
		{"verify", func(c *loadConfig) { c.Verify, c.DrainTimeout = true, time.Minute }, ""},
		{"verify without a drain timeout", func(c *loadConfig) { c.Verify = true }, "--drain-timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			err := c.validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadBody(t *testing.T) {
	c := loadConfig{Entities: 50, Skew: 1.5, Mix: "order.placed=1,stock.updated=1", Seed: 3}
	mix, err := parseMix(c.Mix)
	if err != nil {
		t.Fatal(err)
	}
	c.mix = mix
	gen := newLoadGen(c, 0, "run1-")

	var single struct {
		Type   string `json:"type"`
		Entity struct{ Type, ID string }
	}
	if err := json.Unmarshal(gen.body(1), &single); err != nil {
		t.Fatalf("a single event is not JSON: %v", err)
	}
	var batch struct {
		Events []struct {
			Type   string `json:"type"`
			Entity struct {
				Type string `json:"type"`
				ID   string `json:"id"`
			} `json:"entity"`
			Data map[string]any `json:"data"`
		} `json:"events"`
	}
	if err := json.Unmarshal(gen.body(500), &batch); err != nil {
		t.Fatalf("a batch is not JSON: %v", err)
	}
	if len(batch.Events) != 500 {
		t.Fatalf("batch of %d events, want 500", len(batch.Events))
	}
	for _, ev := range batch.Events {
		want := map[string]string{"order.placed": "order", "stock.updated": "stock"}[ev.Type]
		if want == "" || ev.Entity.Type != want {
			t.Fatalf("event %s about a %s", ev.Type, ev.Entity.Type)
		}
		if !strings.HasPrefix(ev.Entity.ID, "run1-") {
			t.Fatalf("entity id %q lacks the run prefix", ev.Entity.ID)
		}
		if _, ok := ev.Data["total"]; !ok {
			t.Fatalf("event without data.total: %v", ev.Data)
		}
	}
}

// signedHook is a webhook request as the dispatcher sends it.
func signedHook(t *testing.T, wh *standardwebhooks.Webhook, hookID, eventID, entityID string, version int64) *http.Request {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"type":"order.updated","source":"default","time":%q,"entity":{"type":"order","id":%q,"version":%d},"data":{},"changes":[]}`,
		eventID, time.Now().Add(-20*time.Millisecond).UTC().Format(time.RFC3339Nano), entityID, version)
	now := time.Now()
	sig, err := wh.Sign(hookID, now, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/run", strings.NewReader(body))
	r.Header.Set("webhook-id", hookID)
	r.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	r.Header.Set("webhook-signature", sig)
	return r
}

// TestLoadVerifierCounts feeds the receiver what a broken pipeline would
// send: every kind of problem must be counted, and make the run fail.
func TestLoadVerifierCounts(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := standardwebhooks.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString([]byte("another secret, another secret!!")))
	v := newLoadVerifier("run1", "http://unused")
	v.wh = wh
	v.accept([]string{"e1", "e2", "e3", "e4"})

	send := func(r *http.Request, wantStatus int) {
		t.Helper()
		w := httptest.NewRecorder()
		v.ServeHTTP(w, r)
		if w.Code != wantStatus {
			t.Fatalf("%s: status %d, want %d", r.Header.Get("webhook-id"), w.Code, wantStatus)
		}
	}
	send(signedHook(t, wh, "msg_1", "e1", "run1-1", 1), http.StatusNoContent)
	send(signedHook(t, wh, "msg_3", "e3", "run1-1", 3), http.StatusNoContent)
	send(signedHook(t, wh, "msg_2", "e2", "run1-1", 2), http.StatusNoContent)      // after version 3: reordered
	send(signedHook(t, wh, "msg_1", "e1", "run1-1", 1), http.StatusNoContent)      // a retry: duplicate, not reordered
	send(signedHook(t, wh, "msg_d", "derived", "run1-1", 4), http.StatusNoContent) // enrich's own event
	send(signedHook(t, other, "msg_4", "e4", "run1-2", 1), http.StatusUnauthorized)
	// A delivery that overtakes its 202 still counts once the 202 is read.
	send(signedHook(t, wh, "msg_5", "e5", "run1-3", 1), http.StatusNoContent)
	v.accept([]string{"e5"})

	r := v.result()
	want := verifyResult{accepted: 5, delivered: 4, lost: 1, reordered: 1, dups: 1, badSignatures: 1, other: 1, requests: 6}
	got := verifyResult{accepted: r.accepted, delivered: r.delivered, lost: r.lost, reordered: r.reordered, dups: r.dups,
		badSignatures: r.badSignatures, other: r.other, requests: r.requests}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if !slices.Equal(r.lostSamples, []string{"e4"}) {
		t.Errorf("lost samples %v, want [e4]", r.lostSamples)
	}
	if r.e2e.TotalCount() != 5 || r.e2e.ValueAtQuantile(50) < 20_000 {
		t.Errorf("e2e latency: %d values, p50 %dµs; want 5 values of about 20ms", r.e2e.TotalCount(), r.e2e.ValueAtQuantile(50))
	}
	problems := errors.Join(r.problems()...)
	for _, s := range []string{"1 of 5 accepted events were not delivered", "1 deliveries arrived out of order", "1 deliveries failed the signature check"} {
		if problems == nil || !strings.Contains(problems.Error(), s) {
			t.Errorf("problems %v, want %q", problems, s)
		}
	}
	var out bytes.Buffer
	tw := tabwriter.NewWriter(&out, 0, 4, 2, ' ', 0)
	r.print(tw)
	tw.Flush()
	for _, s := range []string{`(?m)^lost\s+1$`, `(?m)^  not delivered\s+e4$`, `run1-1: version 2 \(event e2\) after version 3`, `(?m)^duplicates\s+1\s`} {
		if !regexp.MustCompile(s).MatchString(out.String()) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}
}

// reportNumber reads a number from a line of the report: `name  N`.
func reportNumber(t *testing.T, report, pattern string) int64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + pattern).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("report has no line matching %q:\n%s", pattern, report)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func listSubs(t *testing.T, adminURL, token string) []any {
	t.Helper()
	subs, _ := adminCall(t, adminURL, token, http.MethodGet, "/v1/subscriptions", "")["subscriptions"].([]any)
	return subs
}

func startLoadDev(t *testing.T) (*devStack, string, string) {
	t.Helper()
	dir := t.TempDir()
	stack, err := startDev(context.Background(), testDevConfig(dir), zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stack.Close() })
	tok, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	return stack, dir, strings.TrimSpace(string(tok))
}

// TestLoadVerify is issue 7's acceptance run: surge load --verify against
// surge dev delivers every accepted event, in order per entity, with
// signatures that verify, and leaves no subscription behind.
func TestLoadVerify(t *testing.T) {
	stack, dir, token := startLoadDev(t)
	out, progress, err := runSurge(t, 2*time.Minute, "load",
		"--ingest-addr", stack.IngestURL, "--admin-addr", stack.AdminURL, "--data-dir", dir,
		"--rate", "300", "--duration", "3s", "--verify", "--skew", "1.2", "--entities", "200")
	t.Logf("report:\n%s", out)
	if err != nil {
		t.Fatalf("surge load --verify failed: %v\nprogress:\n%s", err, progress)
	}
	// Up to 900; fewer on a busy machine, where the 64 connections
	// cannot keep up with the open-loop schedule.
	accepted := reportNumber(t, out, `events accepted\s+(\d+)`)
	if accepted < 100 {
		t.Errorf("%d events accepted at 300/s for 3s", accepted)
	}
	if d := reportNumber(t, out, `delivered\s+(\d+) of \d+ accepted`); d != accepted {
		t.Errorf("delivered %d of %d", d, accepted)
	}
	if n := reportNumber(t, out, `lost\s+(\d+)`); n != 0 {
		t.Errorf("lost %d", n)
	}
	if n := reportNumber(t, out, `reordered\s+(\d+)`); n != 0 {
		t.Errorf("reordered %d", n)
	}
	if n := reportNumber(t, out, `bad signatures\s+(\d+)`); n != 0 {
		t.Errorf("bad signatures %d", n)
	}
	if !regexp.MustCompile(`(?m)^e2e latency ms\s+p50=[0-9.]+ p90=[0-9.]+ p99=[0-9.]+ max=[0-9.]+`).MatchString(out) {
		t.Errorf("no end-to-end latency percentiles in the report")
	}
	if !strings.Contains(progress, "verify: run load") {
		t.Errorf("progress does not name the run:\n%s", progress)
	}
	if subs := listSubs(t, stack.AdminURL, token); len(subs) != 0 {
		t.Errorf("the run left %d subscriptions behind: %v", len(subs), subs)
	}
}

// TestLoadVerifyReportsHeldDeliveriesAsLost pauses the run's subscription
// through the admin API while it runs: deliveries are held beyond the
// drain timeout, so the run must fail and say how many were lost.
func TestLoadVerifyReportsHeldDeliveriesAsLost(t *testing.T) {
	stack, dir, token := startLoadDev(t)
	var (
		out, progress string
		err           error
		done          = make(chan struct{})
	)
	go func() {
		defer close(done)
		out, progress, err = runSurge(t, 2*time.Minute, "load",
			"--ingest-addr", stack.IngestURL, "--admin-addr", stack.AdminURL, "--data-dir", dir,
			"--rate", "200", "--duration", "4s", "--verify", "--drain-timeout", "2s")
	}()
	var id string
	kafkatest.WaitFor(t, 20*time.Second, "the run's subscription", func() bool {
		for _, s := range listSubs(t, stack.AdminURL, token) {
			m := s.(map[string]any)
			if strings.HasPrefix(m["description"].(string), "surge load --verify") {
				id = m["id"].(string)
			}
		}
		return id != ""
	})
	time.Sleep(time.Second) // some deliveries first
	adminCall(t, stack.AdminURL, token, http.MethodPatch, "/v1/subscriptions/"+id, `{"paused":true}`)
	<-done
	t.Logf("report:\n%s", out)
	if err == nil || !strings.Contains(err.Error(), "were not delivered within --drain-timeout") {
		t.Fatalf("surge load --verify with held deliveries: error %v, want lost events\nprogress:\n%s", err, progress)
	}
	lost := reportNumber(t, out, `lost\s+(\d+)`)
	delivered := reportNumber(t, out, `delivered\s+(\d+) of \d+ accepted`)
	if lost < 200 || delivered == 0 {
		t.Errorf("lost %d, delivered %d: want deliveries before the pause and at least the last second's 200 events lost", lost, delivered)
	}
	if !strings.Contains(out, "not delivered ") || !strings.Contains(out, "stopped waiting 2") {
		t.Errorf("the report names no lost event or does not say it stopped waiting")
	}
	if subs := listSubs(t, stack.AdminURL, token); len(subs) != 0 {
		t.Errorf("the failed run left %d subscriptions behind", len(subs))
	}
}

func TestLoadVerifyNeedsAnAdminToken(t *testing.T) {
	t.Setenv("SURGE_ADMIN_TOKEN", "")
	_, _, err := runSurge(t, 10*time.Second, "load", "--verify", "--data-dir", t.TempDir(), "--duration", "1s")
	var ce cli.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no admin token") {
		t.Fatalf("error %v, want a configuration error about the admin token", err)
	}
}
