package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
)

// TestSubscriptionThroughTheWholePipeline is issue 5's acceptance run on
// `surge dev`: a subscription to order.* with the filter data.total > 100.0
// created with `surge subs create`, 1,000 mixed events posted to ingest;
// exactly the matching ones reach commerce.deliveries, in per-entity
// order, and the fanout counters on /metrics agree; the deliveries, which
// nothing answers, show as the subscription's backlog in `surge subs get`.
func TestSubscriptionThroughTheWholePipeline(t *testing.T) {
	stack, dir := startTestDev(t, zap.WarnLevel)
	adminAddr := strings.TrimPrefix(stack.AdminURL, "http://")
	cli := func(args ...string) (string, error) {
		return runCLI(t, append(args, "--admin-addr", adminAddr, "--data-dir", dir)...)
	}

	// The admin API refuses what it must.
	resp, err := http.Get(stack.AdminURL + "/v1/subscriptions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v1/subscriptions without a token: %d, want 401", resp.StatusCode)
	}
	out, err := cli("subs", "create", "--url", "http://127.0.0.1:9/hook", "--event-type", "order.*", "--filter", "data.total > ")
	if err == nil || !regexp.MustCompile(`column \d+`).MatchString(out+err.Error()) {
		t.Fatalf("a bad filter: err %v, output %q; want an error naming the position", err, out)
	}
	out, err = cli("subs", "create", "--url", "http://169.254.169.254/latest", "--event-type", "*")
	if err == nil || !strings.Contains(out+err.Error(), "allow_private") {
		t.Fatalf("a metadata-service target: err %v, output %q; want a refusal saying how to allow it", err, out)
	}

	out, err = cli("subs", "create", "--url", "http://127.0.0.1:9/hook", "--event-type", "order.*", "--filter", "data.total > 100.0", "--json")
	if err != nil {
		t.Fatalf("subs create: %v\n%s", err, out)
	}
	var created map[string]any
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("subs create --json printed %q: %v", out, err)
	}
	subID, _ := created["id"].(string)
	if secret, _ := created["secret"].(string); !strings.HasPrefix(subID, "sub_") || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("created %v: want a sub_ id and a whsec_ secret", created)
	}
	if out, err := cli("subs", "list"); err != nil || !strings.Contains(out, subID) || strings.Contains(out, "whsec_") {
		t.Fatalf("subs list: %v\n%s", err, out)
	}

	// 1,000 mixed events over 100 entities, posted in batches of 100.
	const n = 1000
	matching := map[string]bool{}
	orders := 0
	var batch []string
	var ids []string
	placed := map[string]bool{}
	post := func() {
		status, body := postEvent(t, stack.IngestURL, `{"events":[`+strings.Join(batch, ",")+`]}`, nil)
		if status != http.StatusAccepted {
			t.Fatalf("POST batch: %d %v", status, body)
		}
		for _, id := range body["ids"].([]any) {
			ids = append(ids, id.(string))
		}
		batch = batch[:0]
	}
	totals := make([]float64, 0, n)
	for i := range n {
		var e string
		total := -1.0
		switch i % 4 {
		case 0:
			e = fmt.Sprintf(`{"type":"product.updated","entity":{"type":"product","id":"P%d"},"data":{"qty":%d}}`, i%25, i%9)
		case 1:
			e = fmt.Sprintf(`{"type":"customer.updated","entity":{"type":"customer","id":"C%d"},"data":{"email":"c%d@example.com"}}`, i%25, i)
		default:
			id := "O" + strconv.Itoa(i%50)
			typ := "order.updated"
			if !placed[id] {
				typ, placed[id] = "order.placed", true
			}
			total = float64((i*53)%300) + 0.25
			e = fmt.Sprintf(`{"type":%q,"entity":{"type":"order","id":%q},"data":{"total":%g,"status":"processing"}}`, typ, id, total)
			orders++
		}
		totals = append(totals, total)
		batch = append(batch, e)
		if len(batch) == 100 {
			post()
		}
	}
	for i, id := range ids {
		if totals[i] > 100 {
			matching[id] = true
		}
	}

	// Read commerce.deliveries as any read_committed consumer would.
	srCl, err := sr.NewClient(sr.URLs(stack.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	codec := avroserde.NewDeliveryCodec(avroserde.NewRegistry(srCl), topics.Deliveries)
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr), kgo.ConsumeTopics(topics.Deliveries),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []event.Delivery
	deadline := time.Now().Add(60 * time.Second)
	for len(got) < len(matching) && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		f := cl.PollFetches(ctx)
		cancel()
		for _, r := range f.Records() {
			d, err := codec.Decode(context.Background(), r.Value)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, d)
		}
	}
	// Anything extra would come with the same transactions; give it a
	// moment anyway.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	for _, r := range cl.PollFetches(ctx).Records() {
		d, _ := codec.Decode(context.Background(), r.Value)
		got = append(got, d)
	}
	cancel()
	if len(got) != len(matching) {
		t.Fatalf("%d deliveries, want exactly the %d orders over 100.0", len(got), len(matching))
	}
	last := map[string]int64{}
	for _, d := range got {
		if !matching[d.EventID] || d.SubscriptionID != subID {
			t.Fatalf("unexpected delivery %+v", d)
		}
		delete(matching, d.EventID)
		if d.EntityVersion <= last[d.EntityKey] {
			t.Fatalf("%s: version %d after %d", d.EntityKey, d.EntityVersion, last[d.EntityKey])
		}
		last[d.EntityKey] = d.EntityVersion
	}

	// The counters agree: every order is either delivered or filtered.
	metrics := httpGetBody(t, stack.AdminURL+"/metrics")
	delivered := metricValue(metrics, `surge_fanout_deliveries_total{subscription="`+subID+`"}`)
	filtered := metricValue(metrics, `surge_fanout_filtered_total{reason="filter",subscription="`+subID+`"}`)
	if delivered != float64(len(got)) || delivered+filtered != float64(orders) {
		t.Fatalf("counters: delivered %v + filtered %v, want %d + %d", delivered, filtered, len(got), orders-len(got))
	}

	// Nothing listens on 127.0.0.1:9: the deliveries wait, and surge subs
	// get shows them as surge dev's dispatcher (instance "dev") reports
	// them to commerce.backlog.
	kafkatest.WaitFor(t, 30*time.Second, "surge subs get to show the subscription's backlog on instance dev", func() bool {
		out, err := cli("subs", "get", subID)
		return err == nil && regexp.MustCompile(`(?m)^BACKLOG\s+[1-9]\d* waiting: `).MatchString(out) &&
			regexp.MustCompile(`(?m)^INSTANCES\s+dev: `).MatchString(out)
	})
}

// httpGetBody is the body of a GET of url.
func httpGetBody(t *testing.T, url string) string {
	t.Helper()
	_, body := kafkatest.MustGet(t, url)
	return body
}

// metricValue finds the line "<series> <value>" in a Prometheus text page.
func metricValue(page, series string) float64 {
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}
