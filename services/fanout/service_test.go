package fanout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/services/fanout"
)

// TestDeliveriesFollowPatternsFiltersAndState: 1,000 mixed events against
// five subscriptions. Each gets exactly the events its patterns and filter
// select, paused ones included and disabled ones not; each (subscription,
// entity) sees its events in version order; the per-subscription counters
// agree with what was written.
func TestDeliveriesFollowPatternsFiltersAndState(t *testing.T) {
	h := newHarness(t, 6)
	future := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	h.subscribe(event.Subscription{ID: "sub_big", EventTypes: []string{"order.*"}, Filter: "data.total > 100.0", Enabled: true})
	h.subscribe(event.Subscription{ID: "sub_all", EventTypes: []string{"*"}, Enabled: true})
	h.subscribe(event.Subscription{ID: "sub_prod", EventTypes: []string{"product.*"}, Enabled: true, Paused: true})
	h.subscribe(event.Subscription{ID: "sub_off", EventTypes: []string{"order.placed"}, Enabled: false, DisabledReason: "410 Gone"})
	h.subscribe(event.Subscription{ID: "sub_late", EventTypes: []string{"*"}, Enabled: true, CreatedAt: future})

	const n = 1000
	var (
		events  []event.EnrichedEvent
		version = map[string]int64{}
		want    = map[string]map[string]bool{} // subscription → event ids
		placed  int
	)
	for _, s := range []string{"sub_big", "sub_all", "sub_prod"} {
		want[s] = map[string]bool{}
	}
	for i := range n {
		var e event.EnrichedEvent
		id := idf("ev", i)
		switch {
		case i%3 == 0:
			key := "product:P" + strconv.Itoa(i%20)
			version[key]++
			e = enrichedEvent(id, "product.updated", key, version[key], fmt.Sprintf(`{"sku":"P%d","qty":%d}`, i%20, i%7))
			want["sub_prod"][id] = true
		default:
			key := "order:O" + strconv.Itoa(i%50)
			version[key]++
			typ := "order.updated"
			if version[key] == 1 {
				typ = "order.placed"
				placed++
			}
			total := float64((i*37)%250) + 0.5
			e = enrichedEvent(id, typ, key, version[key], fmt.Sprintf(`{"total":%g,"status":"pending"}`, total))
			if total > 100 {
				want["sub_big"][id] = true
			}
		}
		want["sub_all"][id] = true
		events = append(events, e)
	}
	reg := prometheus.NewRegistry()
	h.start("f1", fanout.Deps{Metrics: reg})
	out := h.Follow(topics.Deliveries)
	h.produce(events...)

	total := len(want["sub_big"]) + len(want["sub_all"]) + len(want["sub_prod"])
	kafkatest.WaitFor(t, 60*time.Second, "every delivery", func() bool { return out.Len() >= total })
	time.Sleep(300 * time.Millisecond) // nothing more may come
	got := h.decode(out.Records())
	if len(got) != total {
		t.Fatalf("%d deliveries, want %d", len(got), total)
	}
	bySub := bySubscription(got)
	for sub, ids := range want {
		ds := bySub[sub]
		if len(ds) != len(ids) {
			t.Errorf("%s: %d deliveries, want %d", sub, len(ds), len(ids))
		}
		last := map[string]int64{}
		for _, d := range ds {
			if !ids[d.Value.EventID] {
				t.Errorf("%s got event %s (%s) it should not", sub, d.Value.EventID, d.Value.EventType)
			}
			if d.Value.EntityVersion <= last[d.Value.EntityKey] {
				t.Errorf("%s %s: version %d after %d", sub, d.Value.EntityKey, d.Value.EntityVersion, last[d.Value.EntityKey])
			}
			last[d.Value.EntityKey] = d.Value.EntityVersion
		}
	}
	for _, s := range []string{"sub_off", "sub_late"} {
		if len(bySub[s]) != 0 {
			t.Errorf("%s got %d deliveries, want none", s, len(bySub[s]))
		}
	}

	// One delivery in detail: key, headers, id and the body DESIGN.md fixes.
	d := bySub["sub_big"][0]
	if string(d.Record.Key) != "sub_big/"+d.Value.EntityKey {
		t.Errorf("key %q, want sub_big/<entity key>", d.Record.Key)
	}
	if d.Value.ID != fanout.DeliveryID(d.Value.EventID, "sub_big") || !strings.HasPrefix(d.Value.ID, "msg_") {
		t.Errorf("delivery id %q is not the stable id of its (event, subscription)", d.Value.ID)
	}
	if stream.Header(d.Record, topics.HeaderSubscriptionID) != "sub_big" || stream.Header(d.Record, topics.HeaderEventID) != d.Value.EventID {
		t.Errorf("headers %v", d.Record.Headers)
	}
	var body map[string]any
	if err := json.Unmarshal(d.Value.Body, &body); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "type", "source", "time", "entity", "data", "changes"} {
		if _, ok := body[k]; !ok {
			t.Errorf("body has no %q: %s", k, d.Value.Body)
		}
	}
	if len(body) != 7 {
		t.Errorf("body has %d fields, want 7: %s", len(body), d.Value.Body)
	}
	ent, _ := body["entity"].(map[string]any)
	if ent["version"] != float64(d.Value.EntityVersion) || body["id"] != d.Value.EventID {
		t.Errorf("body %s does not describe delivery %+v", d.Value.Body, d.Value)
	}

	// The counters agree with what was written.
	orders := n - (n+2)/3
	checks := []struct {
		sub, reason string
		want        int
	}{
		{"sub_big", "", len(want["sub_big"])},
		{"sub_big", fanout.ReasonFilter, orders - len(want["sub_big"])},
		{"sub_all", "", n},
		{"sub_prod", "", len(want["sub_prod"])},
		{"sub_off", fanout.ReasonDisabled, placed},
		{"sub_late", fanout.ReasonBeforeCreated, n},
	}
	for _, c := range checks {
		name, labels := "surge_fanout_deliveries_total", []string{"subscription", c.sub}
		if c.reason != "" {
			name, labels = "surge_fanout_filtered_total", append(labels, "reason", c.reason)
		}
		if got := kafkatest.CounterValue(t, reg, name, labels...); got != float64(c.want) {
			t.Errorf("%s%v = %v, want %d", name, labels, got, c.want)
		}
	}
}

// TestSubscriptionChangesApplyWithoutRestart: an update, a pause, a delete
// and a create each apply to the next event enriched after the write
// returned, with fanout running; a restarted fanout has every
// subscription.
func TestSubscriptionChangesApplyWithoutRestart(t *testing.T) {
	h := newHarness(t, 3)
	h.subscribe(event.Subscription{ID: "sub_a", EventTypes: []string{"order.*"}, Enabled: true})
	h.subscribe(event.Subscription{ID: "sub_witness", EventTypes: []string{"*"}, Enabled: true})
	f := h.start("f1", fanout.Deps{})
	out := h.Follow(topics.Deliveries)

	seq := 0
	// send posts one order event and waits until the witness (which gets
	// every event, in the same transaction as sub_a's delivery) has it;
	// it returns whether sub_a got it.
	send := func(total float64) bool {
		t.Helper()
		seq++
		id := idf("ev", seq)
		start := time.Now()
		h.produce(enrichedEvent(id, "order.updated", "order:O1", int64(seq), fmt.Sprintf(`{"total":%g}`, total)))
		kafkatest.WaitFor(t, 30*time.Second, "the witness delivery of "+id, func() bool {
			for _, d := range h.decode(out.Records()) {
				if d.Value.EventID == id && d.Value.SubscriptionID == "sub_witness" {
					return true
				}
			}
			return false
		})
		t.Logf("event %s delivered %s after it was written", id, time.Since(start).Round(time.Millisecond))
		// sub_a's delivery, if any, was committed in the witness's
		// transaction but may sit on another partition: read them all.
		for _, d := range h.decode(h.ReadCommitted(t, h.Topic(topics.Deliveries))) {
			if d.Value.EventID == id && d.Value.SubscriptionID == "sub_a" {
				return true
			}
		}
		return false
	}
	update := func(mut func(*event.Subscription)) {
		t.Helper()
		s, ok := h.subs.Get("sub_a")
		if !ok {
			t.Fatal("sub_a is gone")
		}
		mut(&s)
		h.subscribe(s)
	}

	if !send(50) {
		t.Fatal("sub_a (order.*) did not get an order event")
	}
	update(func(s *event.Subscription) { s.Filter = "data.total > 100.0" })
	if send(50) {
		t.Fatal("the new filter did not apply to the next event")
	}
	if !send(150) {
		t.Fatal("the new filter refused a matching event")
	}
	update(func(s *event.Subscription) { s.Paused = true })
	if !send(200) {
		t.Fatal("a paused subscription must still get deliveries (the dispatcher holds them)")
	}
	update(func(s *event.Subscription) { s.Enabled = false })
	if send(200) {
		t.Fatal("a disabled subscription got a delivery")
	}
	update(func(s *event.Subscription) { s.Enabled, s.Paused = true, false })
	if !send(300) {
		t.Fatal("a re-enabled subscription got nothing")
	}
	if err := h.subs.Delete(context.Background(), "sub_a"); err != nil {
		t.Fatal(err)
	}
	if send(300) {
		t.Fatal("a deleted subscription got a delivery")
	}

	// Restart: the new instance loads the table; a subscription created
	// while fanout was down applies.
	f.stop()
	h.subscribe(event.Subscription{ID: "sub_a", EventTypes: []string{"order.updated"}, Enabled: true})
	h.start("f1", fanout.Deps{})
	if !send(10) {
		t.Fatal("after a restart a subscription created meanwhile got nothing")
	}
}

// TestCrashMidStreamIsExactlyOnce: fanout dies in the middle of a
// transaction and restarts; every (event, subscription) delivery exists
// exactly once for read_committed readers, in per-key order.
func TestCrashMidStreamIsExactlyOnce(t *testing.T) {
	n, keys := 20000, 500
	if testing.Short() {
		n, keys = 4000, 200
	}
	h := newHarness(t, 6)
	h.cfg.MaxPollRecords = 500 // many transactions, so the crash lands between commits
	h.subscribe(event.Subscription{ID: "sub_all", EventTypes: []string{"*"}, Enabled: true})
	h.subscribe(event.Subscription{ID: "sub_orders", EventTypes: []string{"order.*"}, Enabled: true})
	h.subscribe(event.Subscription{ID: "sub_even", EventTypes: []string{"order.updated"}, Filter: "int(data.seq) % 2 == 0", Enabled: true})

	events := make([]event.EnrichedEvent, 0, n)
	version := map[string]int64{}
	want := 0
	for i := range n {
		key := "order:O" + strconv.Itoa(i%keys)
		typ := "order.updated"
		if i%4 == 0 {
			key = "customer:C" + strconv.Itoa(i%keys)
			typ = "customer.updated"
		}
		version[key]++
		events = append(events, enrichedEvent(idf("ev", i), typ, key, version[key], fmt.Sprintf(`{"seq":%d}`, i)))
		want++ // sub_all
		if typ == "order.updated" {
			want++ // sub_orders
			if i%2 == 0 {
				want++ // sub_even
			}
		}
	}
	h.produce(events...)
	out := h.Follow(topics.Deliveries)

	ctx, cancel := context.WithCancel(context.Background())
	now := kafkatest.CrashClock(cancel, int64(want*2/5))
	cfg := h.cfg
	cfg.InstanceID = "crashy"
	svc, err := fanout.New(context.Background(), cfg, h.logger(), fanout.Deps{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Run(ctx); err != nil {
		t.Fatal(err)
	}
	svc.Close()
	time.Sleep(500 * time.Millisecond)
	partial := out.Len()
	t.Logf("crashed with %d of %d deliveries committed", partial, want)
	if partial == 0 || partial >= want {
		t.Fatalf("after the crash %d deliveries are committed; want some but not all of %d", partial, want)
	}

	h.start("crashy", fanout.Deps{})
	kafkatest.WaitFor(t, 120*time.Second, "every delivery", func() bool { return out.Len() >= want })
	time.Sleep(300 * time.Millisecond)
	got := h.decode(out.Records())
	if len(got) != want {
		t.Fatalf("%d deliveries, want exactly %d", len(got), want)
	}
	seen := map[string]int{}
	last := map[string]int64{}
	for _, d := range got {
		pair := d.Value.EventID + "→" + d.Value.SubscriptionID
		if seen[pair]++; seen[pair] > 1 {
			t.Fatalf("delivery %s written twice", pair)
		}
		k := string(d.Record.Key)
		if d.Value.EntityVersion <= last[k] {
			t.Fatalf("%s: version %d after %d", k, d.Value.EntityVersion, last[k])
		}
		last[k] = d.Value.EntityVersion
	}
}

// TestUndecodableInputIsDeadLettered: bytes that are not an enriched event
// go to commerce.events.dlq with fanout's stage header, and the events
// after them flow.
func TestUndecodableInputIsDeadLettered(t *testing.T) {
	h := newHarness(t, 1)
	h.subscribe(event.Subscription{ID: "sub_all", EventTypes: []string{"*"}, Enabled: true})
	h.start("f1", fanout.Deps{})
	out, dlq := h.Follow(topics.Deliveries), h.Follow(topics.EventsDLQ)
	poison := &kgo.Record{Topic: h.Topic(topics.EventsEnriched), Key: []byte("order:1"), Value: []byte(`{"not":"avro"}`)}
	if err := h.Producer.ProduceSync(context.Background(), poison).FirstErr(); err != nil {
		t.Fatal(err)
	}
	h.produce(enrichedEvent("ev-after", "order.placed", "order:1", 1, `{}`))
	kafkatest.WaitFor(t, 30*time.Second, "the delivery after the poison record", func() bool { return out.Len() == 1 })
	kafkatest.WaitFor(t, 30*time.Second, "the dead-lettered record", func() bool { return dlq.Len() == 1 })
	r := dlq.Records()[0]
	if string(r.Value) != `{"not":"avro"}` || stream.Header(r, topics.HeaderDLQStage) != "fanout" || stream.Header(r, topics.HeaderDLQErrorClass) != stream.ClassUndecodable {
		t.Fatalf("dead letter %q headers %v", r.Value, r.Headers)
	}
}
