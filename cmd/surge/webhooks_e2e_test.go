package main

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/webhook/webhooktest"
)

// hookReceiver is a webhook endpoint that checks every request with the
// official Standard Webhooks library and records what arrived (paths
// /s0, /s1, ... by subscription).
type hookReceiver struct{ *webhooktest.Receiver }

func newHookReceiver(t testing.TB) *hookReceiver {
	return &hookReceiver{webhooktest.NewReceiver(t)}
}

func (rc *hookReceiver) distinct() int { return rc.Distinct() }

// check fails unless signatures all verified and, per (subscription,
// entity), versions arrived in order (repeats of earlier ones allowed),
// ending at want.
func (rc *hookReceiver) check(t *testing.T, want map[string]int64) {
	t.Helper()
	rc.CheckSignatures(t)
	webhooktest.CheckOrder(t, rc.Arrivals(), func(h webhooktest.Arrival) (string, int64) { return h.Path + "/" + h.Entity, h.Version }, want)
}

// latencies are the ingest-to-delivery latencies (from the event time,
// ingest's acceptance, to the first arrival of each webhook-id), sorted.
func (rc *hookReceiver) latencies() []time.Duration {
	var l []time.Duration
	for _, a := range rc.Arrivals() {
		if a.Attempt == 1 {
			l = append(l, a.At.Sub(a.EventTime))
		}
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l
}

// quantile is the q-quantile of the ingest-to-delivery latencies.
func (rc *hookReceiver) quantile(q float64) time.Duration {
	l := rc.latencies()
	if len(l) == 0 {
		return 0
	}
	return l[min(len(l)-1, int(q*float64(len(l))))]
}

func (rc *hookReceiver) percentiles() string {
	l := rc.latencies()
	if len(l) == 0 {
		return "no deliveries"
	}
	p := func(q float64) time.Duration { return l[min(len(l)-1, int(q*float64(len(l))))].Round(time.Millisecond) }
	return fmt.Sprintf("p50 %s p99 %s max %s", p(0.5), p(0.99), l[len(l)-1].Round(time.Millisecond))
}

// adminCall sends an authenticated admin API request.
func adminCall(t testing.TB, adminURL, token, method, path, body string) map[string]any {
	t.Helper()
	req := jsonRequest(t, method, adminURL+path, "application/json", body)
	req.Header.Set("Authorization", "Bearer "+token)
	status, out := sendJSON(t, req)
	if status >= 300 {
		t.Fatalf("%s %s: %d %v", method, path, status, out)
	}
	return out
}

// subscribeReceiver creates n subscriptions to rc (all event types) and
// returns their ids.
func subscribeReceiver(t testing.TB, rc *hookReceiver, adminURL, dataDir string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		ids = append(ids, subscribeAt(t, rc.Receiver, adminURL, dataDir, "s"+strconv.Itoa(i), "*"))
	}
	return ids
}

// orderBatch is one request body of orderBatches and its event count.
type orderBatch struct {
	body   string
	events int
}

// orderBatches builds n order.updated events over the given number of
// entities as request bodies of 100 events, and the highest version each
// entity reaches.
func orderBatches(n, entities int) ([]orderBatch, map[string]int64) {
	return paddedOrderBatches(n, entities, 0)
}

// paddedOrderBatches is orderBatches with a note of pad bytes in every
// event (none when pad is 0), so a delivery can weigh what a real order's
// does.
func paddedOrderBatches(n, entities, pad int) ([]orderBatch, map[string]int64) {
	note := ""
	if pad > 0 {
		note = fmt.Sprintf(`,"note":%q`, strings.Repeat("x", pad))
	}
	version := map[string]int64{}
	var batches []orderBatch
	var batch []string
	for i := range n {
		id := "O" + strconv.Itoa(i%entities)
		version["order:"+id]++
		batch = append(batch, fmt.Sprintf(`{"type":"order.updated","entity":{"type":"order","id":%q},"data":{"seq":%d,"total":%d%s}}`, id, i, i%300, note))
		if len(batch) == 100 || i == n-1 {
			batches = append(batches, orderBatch{body: `{"events":[` + strings.Join(batch, ",") + `]}`, events: len(batch)})
			batch = batch[:0]
		}
	}
	return batches, version
}

// postOrders posts n order events over the given number of entities in
// batches of 100 and returns the highest version each entity reaches.
func postOrders(t *testing.T, ingestURL string, n, entities int) map[string]int64 {
	t.Helper()
	batches, version := orderBatches(n, entities)
	for _, b := range batches {
		if status, body := postEvent(t, ingestURL, b.body, nil); status != http.StatusAccepted {
			t.Fatalf("POST: %d %v", status, body)
		}
	}
	return version
}

func wantPerSub(subPaths int, versions map[string]int64) map[string]int64 {
	want := map[string]int64{}
	for i := range subPaths {
		for k, v := range versions {
			want["s"+strconv.Itoa(i)+"/"+k] = v
		}
	}
	return want
}

// TestWebhooksEndToEnd is issue 6's acceptance run on `surge dev`: events
// over 200 entities to 3 subscriptions go through ingest, enrich, fanout
// and the dispatcher to a real HTTP endpoint; every delivery arrives, each
// signature verifies with the official Standard Webhooks library, and
// order holds per (subscription, entity).
func TestWebhooksEndToEnd(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 2000
	}
	stack, dir := startTestDev(t, zap.ErrorLevel)
	rc := newHookReceiver(t)
	subscribeReceiver(t, rc, stack.AdminURL, dir, 3)

	start := time.Now()
	versions := postOrders(t, stack.IngestURL, n, 200)
	kafkatest.WaitFor(t, 180*time.Second, "every delivery", func() bool { return rc.distinct() >= 3*n })
	t.Logf("%d events → %d deliveries in %s; ingest-to-delivery %s", n, 3*n, time.Since(start).Round(time.Millisecond), rc.percentiles())
	rc.check(t, wantPerSub(3, versions))
}

func tailOf(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
