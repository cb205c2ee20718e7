package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// TestOrdersTheLedgerCannotReadAreDelivered is issue 13's "never accept
// and then drop", through `surge dev` the way a shop hits it: orders whose
// line items say "quantity" (Shopify's spelling) are delivered and reserve
// stock; orders with line items no spelling makes readable are delivered
// too, each skipped item named in the webhook's warnings and counted; a
// movement the ledger could not apply is refused with a 422 naming the
// field before any 2xx. Every 202 ends as a delivery, and the events
// dead-letter topic stays empty.
func TestOrdersTheLedgerCannotReadAreDelivered(t *testing.T) {
	stack, dir := startTestDev(t, zap.WarnLevel)
	rc := newHookReceiver(t)
	sub := "s0"
	subscribeReceiver(t, rc, stack.AdminURL, dir, 1)

	// A well-behaved sender: a 503 or 429 is sent again with the same
	// Idempotency-Key, as ingest's answer says.
	requests := 0
	post := func(body string) {
		t.Helper()
		requests++
		key := map[string]string{"Idempotency-Key": fmt.Sprintf("ledger-e2e-%d", requests)}
		for try := 1; ; try++ {
			status, out := postEvent(t, stack.IngestURL, body, key)
			switch {
			case status == http.StatusAccepted:
				return
			case (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) && try < 5:
				t.Logf("request %d, try %d: %d %v; sending it again", requests, try, status, out)
				time.Sleep(time.Duration(try) * 200 * time.Millisecond)
			default:
				t.Fatalf("POST %.200s: %d %v", body, status, out)
			}
		}
	}
	const spelt, unreadable = 200, 20
	post(`{"type":"stock.updated","entity":{"type":"stock","id":"SKU-Q"},"data":{"quantity":500}}`)
	var batch []string
	for i := range spelt {
		batch = append(batch, fmt.Sprintf(`{"type":"order.placed","entity":{"type":"order","id":"Q-%d"},"data":{"total":19.9,"items":[{"sku":"SKU-Q","quantity":2}]}}`, i))
	}
	for i := range unreadable {
		batch = append(batch, fmt.Sprintf(`{"type":"order.placed","entity":{"type":"order","id":"U-%d"},"data":{"total":5,"items":[{"sku":"SKU-U","qty":1},{"sku":"SKU-X","qty":"two"},{"quantity":3}]}}`, i))
	}
	for len(batch) > 0 {
		n := min(len(batch), 50)
		post(`{"events":[` + strings.Join(batch[:n], ",") + `]}`)
		batch = batch[n:]
	}

	// A movement is the whole point of its event: refused at the edge.
	status, out := postEvent(t, stack.IngestURL, `{"type":"inventory.reserved","entity":{"type":"stock","id":"SKU-X"},"data":{"qty":"two"}}`, nil)
	if e, _ := out["error"].(map[string]any); status != http.StatusUnprocessableEntity || e["field"] != "data.qty" {
		t.Fatalf("a reservation of \"two\": %d %v, want 422 naming data.qty", status, out)
	}

	// Every order is delivered; the ledger of SKU-Q reserves 2 per order
	// (an inventory.reserved and an inventory.changed each, after the
	// stock level and its inventory.changed), SKU-U 1 per unreadable
	// order, SKU-X nothing.
	want := map[string]int64{
		sub + "/stock:SKU-Q": 2 + 2*spelt,
		sub + "/stock:SKU-U": 2 * unreadable,
	}
	for i := range spelt {
		want[fmt.Sprintf("%s/order:Q-%d", sub, i)] = 1
	}
	for i := range unreadable {
		want[fmt.Sprintf("%s/order:U-%d", sub, i)] = 1
	}
	deliveries := len(want) - 2 + 2 + 2*spelt + 2*unreadable
	for deadline := time.Now().Add(60 * time.Second); rc.distinct() < deliveries && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if n := rc.distinct(); n < deliveries {
		t.Errorf("after a minute, %d of %d deliveries arrived", n, deliveries)
	}
	rc.check(t, want) // names what is missing or out of order

	last := map[string]hookBody{}
	unreadableID := ""
	for _, h := range rc.Arrivals() {
		var b hookBody
		if err := json.Unmarshal(h.Body, &b); err != nil {
			t.Fatalf("body of %s: %v", h.ID, err)
		}
		switch {
		case h.Entity == "stock:SKU-X":
			t.Errorf("a delivery for SKU-X, whose only line items were unreadable: %s", h.Body)
		case strings.HasPrefix(h.Entity, "order:Q-"):
			if len(b.Warnings) != 0 || b.Data.Items[0].Quantity != 2 {
				t.Errorf("%s: %s; want its items as sent and no warnings", h.Entity, h.Body)
			}
		case strings.HasPrefix(h.Entity, "order:U-"):
			wantWarnings := []warning{
				{Code: "line_item_skipped", Field: "data.items[1].qty"},
				{Code: "line_item_skipped", Field: "data.items[2].sku"},
			}
			var got []warning
			for _, w := range b.Warnings {
				got = append(got, warning{Code: w.Code, Field: w.Field})
				if w.Message == "" {
					t.Errorf("%s: warning %+v has no message", h.Entity, w)
				}
			}
			if !reflect.DeepEqual(got, wantWarnings) || b.Type != "order.placed" || len(b.Data.Items) != 3 {
				t.Errorf("%s: %s; want the order as sent with warnings %+v", h.Entity, h.Body, wantWarnings)
			}
			unreadableID = b.ID
		}
		if prev, ok := last[h.Entity]; !ok || b.Entity.Version >= prev.Entity.Version {
			last[h.Entity] = b
		}
	}
	for sku, want := range map[string]ledgerData{
		"SKU-Q": {OnHand: ptr(int64(500)), Reserved: 2 * spelt, Available: 500 - 2*spelt},
		"SKU-U": {Reserved: unreadable, Available: -unreadable},
	} {
		got := last["stock:"+sku].Data.ledgerData
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s ledger %s, want %s", sku, got, want)
		}
	}

	metrics := httpGetBody(t, stack.AdminURL+"/metrics")
	if n := metricValue(metrics, `surge_enrich_warnings_total{code="line_item_skipped"}`); n != 2*unreadable {
		t.Errorf("surge_enrich_warnings_total{code=line_item_skipped} = %v, want %d", n, 2*unreadable)
	}
	// surge trace shows them on the enrichment step.
	table, err := runCLI(t, "trace", unreadableID, "--brokers", stack.KafkaAddr, "--registry", stack.RegistryURL)
	if want := `warnings="line_item_skipped data.items[1].qty, line_item_skipped data.items[2].sku"`; err != nil || !strings.Contains(table, want) {
		t.Errorf("surge trace %s: %v; want %s in\n%s", unreadableID, err, want, table)
	}
	if dead := records(t, stack, topics.EventsDLQ); len(dead) != 0 {
		t.Errorf("%d events dead-lettered after a 202, want none; first from %s: %s", len(dead),
			stream.Header(dead[0], topics.HeaderDLQStage), stream.Header(dead[0], topics.HeaderDLQError))
	}
}

// hookBody is what the test reads of a delivered webhook body.
type hookBody struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Entity struct {
		Version int64 `json:"version"`
	} `json:"entity"`
	Data struct {
		Items []struct {
			Quantity int64 `json:"quantity"`
		} `json:"items"`
		ledgerData
	} `json:"data"`
	Warnings []struct {
		Code    string `json:"code"`
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"warnings"`
}

// ledgerData is the balance enrich renders into a stock entity's data.
type ledgerData struct {
	OnHand    *int64 `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Available int64  `json:"available"`
}

func (l ledgerData) String() string {
	on := "null"
	if l.OnHand != nil {
		on = fmt.Sprint(*l.OnHand)
	}
	return fmt.Sprintf("on_hand %s reserved %d available %d", on, l.Reserved, l.Available)
}

type warning struct{ Code, Field string }

func ptr[T any](v T) *T { return &v }
