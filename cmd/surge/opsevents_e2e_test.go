package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/opsevent"
	"github.com/surgehq/surge/pkg/webhook/webhooktest"
)

// TestOperatorEventsReachAnOperatorsSubscription is issue 16's operator
// events run on surge dev: an operators' subscription to "surge.*" gets,
// signed like any delivery, surge.endpoint.disabled when an endpoint
// answers 410 (naming the subscription and the reason),
// surge.delivery.exhausted when a delivery used its last retry (naming the
// delivery, the event and the last status) and
// surge.endpoint.breaker_opened when an endpoint failed five times in a
// row, and surge.dlq.threshold_crossed when the DLQ passed its first
// dead letter (--dlq-alert-every 1); a subscription to "*" gets none of them; and ingest refuses an
// event of a reserved type from a sender.
func TestOperatorEventsReachAnOperatorsSubscription(t *testing.T) {
	dir := t.TempDir()
	cfg := testDevConfig(dir)
	cfg.DLQAlertEvery = 1 // every dead letter passes the mark
	stack, err := startDev(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	token := adminToken(t, dir)

	ops := webhooktest.NewReceiver(t)
	subscribeAt(t, ops, stack.AdminURL, dir, "ops", "surge.*")
	// A subscription to every commerce event does not get them.
	all := webhooktest.NewReceiver(t)
	subscribeAt(t, all, stack.AdminURL, dir, "all", "*")

	target := webhooktest.NewReceiver(t)
	target.Respond(func(a webhooktest.Arrival) (int, http.Header) {
		if a.Path == "gone" {
			return http.StatusGone, nil
		}
		return http.StatusInternalServerError, nil
	})
	gone := adminCall(t, stack.AdminURL, token, "POST", "/v1/subscriptions",
		fmt.Sprintf(`{"url":%q,"event_types":["product.*"]}`, target.URL+"/gone"))["id"].(string)
	broken := adminCall(t, stack.AdminURL, token, "POST", "/v1/subscriptions",
		fmt.Sprintf(`{"url":%q,"event_types":["order.*"],"retry_schedule":["1s"]}`, target.URL+"/broken"))["id"].(string)

	if status, body := postEvent(t, stack.IngestURL, `{"type":"product.updated","entity":{"type":"product","id":"SKU-1"},"data":{"price":1}}`, nil); status != http.StatusAccepted {
		t.Fatalf("POST product.updated: %d %v", status, body)
	}
	// Three orders, two attempts each: the first exhausts its retries,
	// and the fifth failure in a row opens the breaker.
	var orderIDs []string
	for i := range 3 {
		status, body := postEvent(t, stack.IngestURL, fmt.Sprintf(`{"type":"order.placed","entity":{"type":"order","id":"O-%d"},"data":{"total":%d}}`, i, i), nil)
		if status != http.StatusAccepted {
			t.Fatalf("POST order.placed: %d %v", status, body)
		}
		orderIDs = append(orderIDs, body["id"].(string))
	}

	byType := map[string]webhookBody{} // the first of each operator event type
	kafkatest.WaitFor(t, 60*time.Second, "the three kinds of operator events at the operators' endpoint", func() bool {
		for _, a := range ops.Arrivals() {
			var b webhookBody
			if err := json.Unmarshal(a.Body, &b); err != nil {
				t.Fatalf("operator event body %s: %v", a.Body, err)
			}
			if _, seen := byType[b.Type]; !seen {
				byType[b.Type] = b
			}
		}
		_, d := byType[opsevent.EndpointDisabled]
		_, e := byType[opsevent.DeliveryExhausted]
		_, o := byType[opsevent.BreakerOpened]
		_, q := byType[opsevent.DLQThresholdCrossed]
		return d && e && o && q
	})
	ops.CheckSignatures(t)

	d := byType[opsevent.EndpointDisabled]
	if d.Source != opsevent.Source || d.Entity.Type != opsevent.EntityEndpoint || d.Entity.ID != gone ||
		d.Data["subscription_id"] != gone || d.Data["url"] != target.URL+"/gone" || !strings.Contains(fmt.Sprint(d.Data["reason"]), "410 Gone") {
		t.Errorf("surge.endpoint.disabled: %+v", d)
	}
	e := byType[opsevent.DeliveryExhausted]
	if e.Entity.Type != opsevent.EntityDelivery || e.Data["subscription_id"] != broken || e.Data["event_type"] != "order.placed" ||
		e.Data["attempts"] != float64(2) || e.Data["last_status"] != float64(500) || e.Data["dead_letter_topic"] != "commerce.deliveries.dlq" ||
		e.Data["delivery_id"] != e.Entity.ID || !strings.HasPrefix(fmt.Sprint(e.Data["entity_key"]), "order:O-") {
		t.Errorf("surge.delivery.exhausted: %+v", e)
	}
	found := false
	for _, id := range orderIDs {
		found = found || e.Data["event_id"] == id
	}
	if !found {
		t.Errorf("surge.delivery.exhausted names event %v, not one of the orders %v", e.Data["event_id"], orderIDs)
	}
	o := byType[opsevent.BreakerOpened]
	if o.Entity.ID != broken || o.Data["subscription_id"] != broken || o.Data["until"] == nil || !strings.Contains(fmt.Sprint(o.Data["reason"]), "5 consecutive failed attempts") {
		t.Errorf("surge.endpoint.breaker_opened: %+v", o)
	}

	q := byType[opsevent.DLQThresholdCrossed]
	last, _ := q.Data["last"].(map[string]any)
	if q.Entity.Type != opsevent.EntityDLQ || q.Entity.ID != "commerce.deliveries.dlq" || q.Data["topic"] != "commerce.deliveries.dlq" ||
		q.Data["dead_letters"] != float64(1) || q.Data["every"] != float64(1) || last["stage"] != "dispatcher" || last["error_class"] != "exhausted" {
		t.Errorf("surge.dlq.threshold_crossed: %+v", q)
	}

	for _, a := range all.Arrivals() {
		var b webhookBody
		if err := json.Unmarshal(a.Body, &b); err == nil && opsevent.Reserved(b.Type) {
			t.Errorf("a subscription to \"*\" got operator event %s", b.Type)
		}
	}
	if all.Requests() < 4 {
		t.Errorf("the subscription to \"*\" got %d requests, want the product and the three orders", all.Requests())
	}

	// Only Surge writes the reserved types.
	if status, body := postEvent(t, stack.IngestURL, `{"type":"surge.endpoint.disabled","entity":{"type":"endpoint","id":"x"},"data":{}}`, nil); status/100 != 4 {
		t.Errorf("a sender's surge.endpoint.disabled: %d %v, want it refused", status, body)
	}
}
