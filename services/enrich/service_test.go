package enrich_test

import (
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/services/enrich"
)

// shopLoader is a platform's REST API: GET /rest/V1/orders/{id}.
type shopLoader struct {
	mu       sync.Mutex
	bodies   map[string]string // order id -> JSON body; absent: 404
	failures map[string]int    // order id -> 503s to answer first
	delay    map[string]time.Duration
	calls    map[string]int
	auth     []string
}

func newShop() *shopLoader {
	return &shopLoader{bodies: map[string]string{}, failures: map[string]int{}, delay: map[string]time.Duration{}, calls: map[string]int{}}
}

func (s *shopLoader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/rest/V1/orders/")
	s.mu.Lock()
	s.calls[id]++
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	body, ok := s.bodies[id]
	fail := s.failures[id] > 0
	if fail {
		s.failures[id]--
	}
	delay := s.delay[id]
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case fail:
		http.Error(w, "upstream busy", http.StatusServiceUnavailable)
	case !ok:
		http.Error(w, `{"message":"order not found"}`, http.StatusNotFound)
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

func (s *shopLoader) callsOf(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

func shopSources(url string, timeoutMS int) catalog.StaticSources {
	return catalog.StaticSources{"default": {
		ID:            "default",
		AllowUnsigned: true,
		Loaders: map[string]catalog.Loader{"order": {
			URL:       url + "/rest/V1/orders/{id}",
			Headers:   map[string]string{"Authorization": "Bearer shop-token"},
			TimeoutMS: timeoutMS,
		}},
	}}
}

// TestThinOrderLoadedMergedAndTombstoned is the Mage-OS pattern end to end:
// a thin order.placed is filled by the loader, an update merges into it, a
// delete tombstones it (and carries the order's last known state), and the
// versions are 1, 2, 3.
func TestThinOrderLoadedMergedAndTombstoned(t *testing.T) {
	h := newHarness(t, 3)
	shop := newShop()
	shop.bodies["100012"] = `{"increment_id":"100012","status":"pending","grand_total":59.9,"customer":{"email":"a@example.com"}}`
	srv := httptest.NewServer(shop)
	defer srv.Close()
	out := h.Follow(topics.EventsEnriched)
	entities := h.Follow(topics.Entities)
	h.start("a", enrich.Deps{Sources: shopSources(srv.URL, 2000)})

	h.produceEvents(
		rawEvent("ev-1", "order.placed", "order:100012", ""),
		rawEvent("ev-2", "order.updated", "order:100012", `{"status":"processing"}`),
		rawEvent("ev-3", "order.deleted", "order:100012", ""),
	)
	kafkatest.WaitFor(t, 20*time.Second, "three enriched events", func() bool { return out.Len() >= 3 })
	got := h.decode(out.Records())
	if len(got) != 3 {
		t.Fatalf("%d enriched events, want 3", len(got))
	}
	want := []struct {
		id      string
		version int64
		data    map[string]any
		changes []string
		deleted bool
	}{
		{"ev-1", 1, map[string]any{"increment_id": "100012", "status": "pending", "grand_total": 59.9, "customer": map[string]any{"email": "a@example.com"}},
			[]string{"customer", "grand_total", "increment_id", "status"}, false},
		{"ev-2", 2, map[string]any{"increment_id": "100012", "status": "processing", "grand_total": 59.9, "customer": map[string]any{"email": "a@example.com"}},
			[]string{"status"}, false},
		{"ev-3", 3, map[string]any{"increment_id": "100012", "status": "processing", "grand_total": 59.9, "customer": map[string]any{"email": "a@example.com"}},
			[]string{"customer", "grand_total", "increment_id", "status"}, true},
	}
	for i, w := range want {
		e := got[i]
		if e.Value.ID != w.id || e.Value.EntityVersion != w.version || e.Value.Deleted != w.deleted || !reflect.DeepEqual(e.Value.Changes, w.changes) {
			t.Errorf("event %d: id %s version %d deleted %v changes %v; want %s %d %v %v", i, e.Value.ID, e.Value.EntityVersion, e.Value.Deleted, e.Value.Changes, w.id, w.version, w.deleted, w.changes)
		}
		if d := jsonOf(t, e.Value.Data); !reflect.DeepEqual(d, w.data) {
			t.Errorf("event %d: data %v, want %v", i, d, w.data)
		}
		if stream.Header(e.Record, topics.HeaderEventID) != w.id || stream.Header(e.Record, topics.HeaderCorrelationID) != "corr-"+w.id {
			t.Errorf("event %d: headers %v do not carry the event and correlation ids", i, e.Record.Headers)
		}
		if string(e.Record.Key) != "order:100012" {
			t.Errorf("event %d: key %q", i, e.Record.Key)
		}
	}
	if n := shop.callsOf("100012"); n != 1 {
		t.Errorf("the loader was called %d times, want once (only the thin event needs it)", n)
	}
	if shop.auth[0] != "Bearer shop-token" {
		t.Errorf("the loader got Authorization %q", shop.auth[0])
	}
	// The tombstone in commerce.entities keeps the version for a re-created
	// order, on the partition of the raw event.
	kafkatest.WaitFor(t, 10*time.Second, "three snapshots", func() bool { return entities.Len() >= 3 })
	last := entities.Records()[2]
	if last.Partition != got[2].Record.Partition {
		t.Errorf("snapshot on partition %d, enriched event on %d (keys hash the same way)", last.Partition, got[2].Record.Partition)
	}

	h.produceEvents(rawEvent("ev-4", "order.placed", "order:100012", `{"status":"pending"}`))
	kafkatest.WaitFor(t, 20*time.Second, "the re-created order", func() bool { return out.Len() >= 4 })
	if re := h.decode(out.Records())[3].Value; re.EntityVersion != 4 || string(re.Data) != `{"status":"pending"}` {
		t.Errorf("re-created order: version %d data %s, want 4 and its own data only (the tombstone keeps none)", re.EntityVersion, re.Data)
	}
}

// TestLoaderRetriesAndFailuresAreDelivered covers a loader that fails
// twice before answering, one that answers 404, and one that keeps
// failing. Each thin event was accepted with a 202, so each is enriched
// and delivered: the failed ones with the entity's last known data and a
// not_loaded warning that names no URL, counted, never dead-lettered.
func TestLoaderRetriesAndFailuresAreDelivered(t *testing.T) {
	h := newHarness(t, 3)
	shop := newShop()
	shop.bodies["1"] = `{"status":"pending"}`
	shop.failures["1"] = 2
	shop.bodies["3"] = `{"status":"pending"}`
	shop.failures["3"] = 100
	srv := httptest.NewServer(shop)
	defer srv.Close()
	out := h.Follow(topics.EventsEnriched)
	dlq := h.Follow(topics.EventsDLQ)
	reg := prometheus.NewRegistry()
	h.start("a", enrich.Deps{Sources: shopSources(srv.URL, 3000), Metrics: reg})

	h.produceEvents(
		rawEvent("ev-1", "order.placed", "order:1", ""),
		rawEvent("ev-2a", "order.placed", "order:2", `{"status":"pending","total":5}`),
		rawEvent("ev-2", "order.updated", "order:2", ""),
		rawEvent("ev-3", "order.placed", "order:3", ""),
		rawEvent("ev-4", "order.placed", "order:4", `{"status":"pending"}`),
	)
	kafkatest.WaitFor(t, 20*time.Second, "5 enriched events", func() bool { return out.Len() >= 5 })
	byID := map[string]event.EnrichedEvent{}
	for _, e := range h.decode(out.Records()) {
		byID[e.Value.ID] = e.Value
	}
	if d := jsonOf(t, byID["ev-1"].Data); d["status"] != "pending" || len(byID["ev-1"].Warnings) != 0 {
		t.Errorf("ev-1: data %s, warnings %v; want the loader's body and no warning", byID["ev-1"].Data, byID["ev-1"].Warnings)
	}
	if n := shop.callsOf("1"); n != 3 {
		t.Errorf("order 1 was loaded %d times, want 3 (two 503s, then 200)", n)
	}
	for id, want := range map[string]struct {
		data    string
		version int64
		reason  string
	}{
		"ev-2": {`{"status":"pending","total":5}`, 2, "the loader answered 404 not found"},
		"ev-3": {`{}`, 1, "the loader gave up after 3 tries"},
	} {
		e, ok := byID[id]
		if !ok {
			t.Fatalf("%s was not enriched", id)
		}
		if string(e.Data) != want.data || e.EntityVersion != want.version || len(e.Changes) != 0 {
			t.Errorf("%s: data %s version %d changes %v; want %s, version %d, no changes", id, e.Data, e.EntityVersion, e.Changes, want.data, want.version)
		}
		if len(e.Warnings) != 1 || e.Warnings[0].Code != enrich.WarnNotLoaded || e.Warnings[0].Field != "data" ||
			!strings.Contains(e.Warnings[0].Message, want.reason) || strings.Contains(e.Warnings[0].Message, srv.URL) {
			t.Errorf("%s: warnings %+v; want one not_loaded saying %q without the loader's URL", id, e.Warnings, want.reason)
		}
	}
	if n := shop.callsOf("3"); n != 3 {
		t.Errorf("order 3 was loaded %d times, want 3", n)
	}
	if n := kafkatest.CounterValue(t, reg, "surge_enrich_warnings_total", "code", enrich.WarnNotLoaded); n != 2 {
		t.Errorf("surge_enrich_warnings_total{code=not_loaded} = %v, want 2", n)
	}
	if dlq.Len() != 0 {
		t.Errorf("%d dead letters, want none", dlq.Len())
	}
}

// TestSlowLoaderDoesNotStallOtherPartitions holds one thin order's loader
// for two seconds: events of the other partitions (and of other keys
// behind it in its own partition) keep being committed meanwhile, and the
// slow order comes out once its load returns, ahead of the later events of
// its partition.
func TestSlowLoaderDoesNotStallOtherPartitions(t *testing.T) {
	h := newHarness(t, 3)
	shop := newShop()
	shop.bodies["slow"] = `{"status":"pending"}`
	shop.delay["slow"] = 2 * time.Second
	srv := httptest.NewServer(shop)
	defer srv.Close()
	out := h.Follow(topics.EventsEnriched)
	h.start("a", enrich.Deps{Sources: shopSources(srv.URL, 5000)})

	h.produceEvents(rawEvent("ev-slow", "order.placed", "order:slow", ""))
	kafkatest.WaitFor(t, 10*time.Second, "the slow load to start", func() bool { return shop.callsOf("slow") == 1 })
	start := time.Now()
	var es []*kgo.Record
	for i := range 60 {
		es = append(es, h.record(rawEvent(idf("ev", i), "product.updated", "product:P"+strconv.Itoa(i), `{"price":1}`)))
	}
	h.Produce(es...)
	p := partitionOf(h, "order:slow")
	// Every product on a partition other than the slow order's comes out
	// while the load is still running.
	kafkatest.WaitFor(t, 10*time.Second, "the other partitions", func() bool {
		n := 0
		for _, r := range out.Records() {
			if r.Partition != p {
				n++
			}
		}
		return n >= othersOf(es, p)
	})
	if waited := time.Since(start); waited > 1500*time.Millisecond {
		t.Errorf("other partitions waited %s for a 2s loader", waited)
	}
	if got := h.decode(out.Records()); len(ofKey(got, "order:slow")) != 0 {
		t.Fatal("the slow order came out before its loader answered")
	}
	kafkatest.WaitFor(t, 10*time.Second, "everything", func() bool { return out.Len() >= 61 })
	// In the slow order's partition nothing produced after it overtook it.
	for _, e := range h.decode(out.Records()) {
		if e.Record.Partition == p {
			if e.Value.ID != "ev-slow" {
				t.Errorf("%s of the slow order's partition came out before it", e.Value.ID)
			}
			break
		}
	}
	if n := shop.callsOf("slow"); n != 1 {
		t.Errorf("the slow order was loaded %d times, want once however often it was deferred", n)
	}
}

// partitionOf is the partition Kafka's key hashing gives key on the raw
// topic (every Surge topic has the harness's partition count).
func partitionOf(h *harness, key string) int32 {
	r := &kgo.Record{Topic: h.Topic(topics.EventsRaw), Key: []byte(key)}
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic(topics.EventsRaw).Partition(r, int(h.cfg.Kafka.Partitions)))
}

// othersOf counts the records not on partition p.
func othersOf(rs []*kgo.Record, p int32) int {
	n := 0
	for _, r := range rs {
		if r.Partition != p {
			n++
		}
	}
	return n
}

// TestPoisonRecordsAreDeadLetteredAndTheStreamFlows sends garbage bytes,
// JSON, a truncated Avro value, a value with a schema id the registry does
// not know, and an event whose record key is not its entity key between
// good events.
func TestPoisonRecordsAreDeadLetteredAndTheStreamFlows(t *testing.T) {
	h := newHarness(t, 3)
	out := h.Follow(topics.EventsEnriched)
	dlq := h.Follow(topics.EventsDLQ)
	reg := prometheus.NewRegistry()
	h.start("a", enrich.Deps{Metrics: reg})

	unknownSchema := binary.BigEndian.AppendUint32([]byte{0}, 987654)
	unknownSchema = append(unknownSchema, 2, 'x')
	truncated := h.record(rawEvent("ev-truncated", "order.placed", "order:7", `{"a":1}`)).Value
	truncated = truncated[:len(truncated)-20]
	wrongKey := h.record(rawEvent("ev-wrong-key", "order.placed", "order:9", `{"a":1}`))
	wrongKey.Key = []byte("order:10")
	poison := []*kgo.Record{
		{Topic: h.Topic(topics.EventsRaw), Key: []byte("order:7"), Value: []byte("\xde\xad\xbe\xef garbage"), Headers: []kgo.RecordHeader{{Key: topics.HeaderEventID, Value: []byte("ev-garbage")}}},
		{Topic: h.Topic(topics.EventsRaw), Key: []byte("order:7"), Value: truncated, Headers: []kgo.RecordHeader{{Key: topics.HeaderEventID, Value: []byte("ev-truncated")}}},
		{Topic: h.Topic(topics.EventsRaw), Key: []byte("order:7"), Value: []byte(`{"not":"avro"}`), Headers: []kgo.RecordHeader{{Key: topics.HeaderEventID, Value: []byte("ev-json")}}},
		{Topic: h.Topic(topics.EventsRaw), Key: []byte("order:8"), Value: unknownSchema, Headers: []kgo.RecordHeader{{Key: topics.HeaderEventID, Value: []byte("ev-unknown-schema")}}},
		wrongKey,
	}
	h.produceEvents(rawEvent("ev-1", "order.placed", "order:7", `{"a":1}`))
	h.Produce(poison...)
	h.produceEvents(rawEvent("ev-2", "order.updated", "order:7", `{"a":2}`), rawEvent("ev-3", "order.placed", "order:8", `{"a":3}`))

	kafkatest.WaitFor(t, 20*time.Second, "3 enriched and 5 dead-lettered", func() bool { return out.Len() >= 3 && dlq.Len() >= 5 })
	got := h.decode(out.Records())
	if len(got) != 3 {
		t.Fatalf("%d enriched, want 3", len(got))
	}
	if o7 := ofKey(got, "order:7"); len(o7) != 2 || o7[1].Value.EntityVersion != 2 {
		t.Errorf("order:7 events %v: the stream did not flow past the poison in its own partition", o7)
	}
	classes := map[string]string{}
	for _, r := range dlq.Records() {
		id := stream.Header(r, topics.HeaderEventID)
		classes[id] = stream.Header(r, topics.HeaderDLQErrorClass)
		var orig *kgo.Record
		for _, p := range poison {
			if stream.Header(p, topics.HeaderEventID) == id {
				orig = p
			}
		}
		if orig == nil {
			t.Fatalf("unexpected dead letter %s", id)
		}
		if string(r.Value) != string(orig.Value) || string(r.Key) != string(orig.Key) {
			t.Errorf("%s: the DLQ record does not keep the original key and value", id)
		}
		if src := stream.Header(r, topics.HeaderDLQPartition); src != strconv.Itoa(int(r.Partition)) || stream.Header(r, topics.HeaderDLQTopic) != h.Topic(topics.EventsRaw) {
			t.Errorf("%s: DLQ partition %d, source %s/%s", id, r.Partition, stream.Header(r, topics.HeaderDLQTopic), src)
		}
		if stream.Header(r, topics.HeaderDLQOffset) == "" || stream.Header(r, topics.HeaderDLQError) == "" || stream.Header(r, topics.HeaderDLQFirstFailure) == "" {
			t.Errorf("%s: error headers missing: %v", id, r.Headers)
		}
	}
	want := map[string]string{
		"ev-garbage":        stream.ClassUndecodable,
		"ev-truncated":      stream.ClassUndecodable,
		"ev-json":           stream.ClassUndecodable,
		"ev-unknown-schema": stream.ClassUnknownSchema,
		"ev-wrong-key":      stream.ClassInvalid,
	}
	if !reflect.DeepEqual(classes, want) {
		t.Errorf("DLQ classes %v, want %v", classes, want)
	}
	m := stream.NewMetrics(reg)
	for class, n := range map[string]float64{stream.ClassUndecodable: 3, stream.ClassUnknownSchema: 1, stream.ClassInvalid: 1} {
		if got := testutil.ToFloat64(m.DeadLettered.WithLabelValues(enrich.StageName, class)); got != n {
			t.Errorf("dead-lettered{class=%s} = %v, want %v", class, got, n)
		}
	}
}

// TestCrashMidStreamIsExactlyOnce cancels enrich in the middle of a batch
// of a 50,000-event stream (so that batch never commits), restarts it with
// the same instance id, and checks that read_committed readers see every
// raw event exactly once, in per-key order, with versions 1, 2, 3... per
// entity, deletes and re-creations included.
func TestCrashMidStreamIsExactlyOnce(t *testing.T) {
	n, keys := 50000, 2000
	if testing.Short() {
		n, keys = 5000, 400
	}
	h := newHarness(t, 6)
	h.cfg.MaxPollRecords = 500 // many transactions, so the crash lands between commits
	rs := make([]*kgo.Record, 0, n)
	for i := range n {
		k := i % keys
		entity := "product:P" + strconv.Itoa(k)
		typ, data := "product.updated", `{"seq":`+strconv.Itoa(i)+`,"price":`+strconv.Itoa(i%97)+`}`
		switch {
		case k%3 == 0:
			entity = "customer:C" + strconv.Itoa(k)
			typ = "customer.updated"
		case i/keys%7 == 3 && k%5 == 0:
			typ, data = "product.deleted", ""
		}
		rs = append(rs, h.record(rawEvent(idf("ev", i), typ, entity, data)))
	}
	h.Produce(rs...)
	out := h.Follow(topics.EventsEnriched)

	ctx, cancel := context.WithCancel(context.Background())
	now := kafkatest.CrashClock(cancel, int64(n*2/5))
	start := time.Now()
	if err := h.runWith(ctx, "crashy", enrich.Deps{Now: now}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // let the tail catch up
	partial := out.Len()
	t.Logf("crashed after %s with %d of %d events committed", time.Since(start), partial, n)
	if partial == 0 || partial >= n {
		t.Fatalf("after the crash %d outputs are committed; want some but not all", partial)
	}

	h.start("crashy", enrich.Deps{})
	kafkatest.WaitFor(t, 120*time.Second, "every event", func() bool { return out.Len() >= n })
	time.Sleep(300 * time.Millisecond) // nothing more may come
	t.Logf("all %d events enriched after %s", n, time.Since(start))
	got := h.decode(out.Records())
	if len(got) != n {
		t.Fatalf("%d enriched events, want exactly %d", len(got), n)
	}
	seen := make(map[string]int, n)
	lastSeq := map[string]int{}
	lastVersion := map[string]int64{}
	for _, e := range got {
		seen[e.Value.ID]++
		key := string(e.Record.Key)
		seq, _ := strconv.Atoi(strings.TrimPrefix(e.Value.ID, "ev-"))
		if prev, ok := lastSeq[key]; ok && seq <= prev {
			t.Fatalf("%s: event %d after %d", key, seq, prev)
		}
		lastSeq[key] = seq
		if want := lastVersion[key] + 1; e.Value.EntityVersion != want {
			t.Fatalf("%s: event %s has version %d, want %d", key, e.Value.ID, e.Value.EntityVersion, want)
		}
		lastVersion[key] = e.Value.EntityVersion
		if e.Value.Type == "product.deleted" != e.Value.Deleted {
			t.Fatalf("%s: %s deleted = %v", key, e.Value.Type, e.Value.Deleted)
		}
	}
	for i := range n {
		if c := seen[idf("ev", i)]; c != 1 {
			t.Fatalf("raw event %d seen %d times", i, c)
		}
	}
}

// TestOversoldUnderConcurrentOrders: 10 units of a SKU in stock, then 15
// one-unit orders from different order partitions, handled concurrently by
// two enrich instances. Exactly 5 reservations are oversold, each flagged
// on its inventory.reserved, inventory.changed and inventory.oversold
// events, which name the order. Cancelling the 5 oversold orders brings
// available stock back to 0.
func TestOversoldUnderConcurrentOrders(t *testing.T) {
	h := newHarness(t, 6)
	out := h.Follow(topics.EventsEnriched)
	h.start("a", enrich.Deps{})
	h.start("b", enrich.Deps{})

	h.produceEvents(rawEvent("stock-1", "stock.updated", "stock:SKU-1", `{"sku":"SKU-1","qty":10}`))
	kafkatest.WaitFor(t, 30*time.Second, "the stock level", func() bool { return out.Len() >= 2 })
	var orders []*kgo.Record
	for i := range 15 {
		orders = append(orders, h.record(rawEvent(idf("order", i), "order.placed", "order:"+strconv.Itoa(1000+i),
			`{"status":"pending","items":[{"sku":"SKU-1","qty":1},{"sku":"SKU-2","qty":2}]}`)))
	}
	var wg sync.WaitGroup
	for _, r := range orders { // concurrent producers, as concurrent checkouts
		wg.Add(1)
		go func() { defer wg.Done(); h.Produce(r) }()
	}
	wg.Wait()
	// SKU-1: 1 stock.updated + 1 changed, then per order 1 reserved + 1
	// changed, plus 5 oversold; SKU-2 (never stocked): 2 per order; the
	// 15 orders themselves.
	const wantAfterOrders = 2 + 15*2 + 5 + 15*2 + 15
	kafkatest.WaitFor(t, 30*time.Second, "the reservations", func() bool { return out.Len() >= wantAfterOrders })
	time.Sleep(300 * time.Millisecond)
	got := h.decode(out.Records())
	if len(got) != wantAfterOrders {
		t.Fatalf("%d enriched events, want %d", len(got), wantAfterOrders)
	}
	sku1 := ofKey(got, "stock:SKU-1")
	oversoldOrders := map[string]bool{}
	for _, e := range ofType(sku1, enrich.TypeInventoryOversold) {
		mv, _ := jsonOf(t, e.Value.Data)["last_movement"].(map[string]any)
		id, _ := mv["order_id"].(string)
		oversoldOrders[id] = true
		if !reflect.DeepEqual(e.Value.Flags, []string{enrich.FlagOversold}) {
			t.Errorf("inventory.oversold flags %v", e.Value.Flags)
		}
		if stream.Header(e.Record, topics.HeaderCausationID) == "" || stream.Header(e.Record, topics.HeaderCorrelationID) == "" {
			t.Errorf("inventory.oversold headers %v", e.Record.Headers)
		}
	}
	if len(oversoldOrders) != 5 {
		t.Fatalf("%d distinct orders oversold, want 5: %v", len(oversoldOrders), oversoldOrders)
	}
	flagged := 0
	for _, e := range ofType(sku1, enrich.TypeInventoryReserved) {
		mv, _ := jsonOf(t, e.Value.Data)["last_movement"].(map[string]any)
		isFlagged := len(e.Value.Flags) == 1
		if isFlagged {
			flagged++
		}
		if isFlagged != oversoldOrders[mv["order_id"].(string)] {
			t.Errorf("reservation for order %v flagged %v", mv["order_id"], e.Value.Flags)
		}
	}
	if flagged != 5 {
		t.Errorf("%d reservations flagged oversold, want 5", flagged)
	}
	// Versions of the SKU are gap-free and the balance runs down to -5.
	for i, e := range sku1 {
		if e.Value.EntityVersion != int64(i+1) {
			t.Fatalf("stock:SKU-1 event %d (%s) has version %d", i, e.Value.Type, e.Value.EntityVersion)
		}
	}
	final := jsonOf(t, sku1[len(sku1)-1].Value.Data)
	if final["available"] != -5.0 || final["reserved"] != 15.0 || final["on_hand"] != 10.0 {
		t.Errorf("final SKU-1 balance %v", final)
	}
	for _, e := range ofType(ofKey(got, "stock:SKU-2"), enrich.TypeInventoryReserved) {
		if len(e.Value.Flags) != 0 {
			t.Errorf("SKU-2 has no stock level and must not be flagged: %v", e.Value.Flags)
		}
	}

	// Cancelling the oversold orders releases their units.
	var cancels []*kgo.Record
	for id := range oversoldOrders {
		cancels = append(cancels, h.record(rawEvent("cancel-"+id, "order.cancelled", "order:"+id, "")))
	}
	h.Produce(cancels...)
	kafkatest.WaitFor(t, 30*time.Second, "the releases", func() bool { return out.Len() >= wantAfterOrders+5+5*2*2 })
	time.Sleep(300 * time.Millisecond)
	got = h.decode(out.Records())
	sku1 = ofKey(got, "stock:SKU-1")
	final = jsonOf(t, sku1[len(sku1)-1].Value.Data)
	if final["available"] != 0.0 || final["reserved"] != 10.0 {
		t.Errorf("SKU-1 balance after the cancellations %v, want available 0, reserved 10", final)
	}
	if n := len(ofType(sku1, enrich.TypeInventoryReleased)); n != 5 {
		t.Errorf("%d releases of SKU-1, want 5", n)
	}
}

// TestRebalanceHandsStateOver scales out from one instance to two and back
// to one while events flow: whichever instance owns a partition rebuilds
// its snapshots from commerce.entities first, so every entity's versions
// stay gap-free and every event comes out once.
func TestRebalanceHandsStateOver(t *testing.T) {
	h := newHarness(t, 6)
	out := h.Follow(topics.EventsEnriched)
	const perPhase, keys = 3000, 300
	i := 0
	phase := func() {
		t.Helper()
		var rs []*kgo.Record
		for range perPhase {
			rs = append(rs, h.record(rawEvent(idf("ev", i), "product.updated", "product:P"+strconv.Itoa(i%keys), `{"seq":`+strconv.Itoa(i)+`}`)))
			i++
		}
		h.Produce(rs...)
		kafkatest.WaitFor(t, 60*time.Second, "phase "+strconv.Itoa(i/perPhase), func() bool { return out.Len() >= i })
	}
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a := h.start("a", enrich.Deps{Metrics: regA})
	phase()
	h.start("b", enrich.Deps{Metrics: regB})
	time.Sleep(time.Second) // let b join
	phase()
	a.stop()
	phase()
	time.Sleep(300 * time.Millisecond)

	got := h.decode(out.Records())
	if len(got) != i {
		t.Fatalf("%d enriched events, want %d", len(got), i)
	}
	seen := map[string]bool{}
	lastVersion := map[string]int64{}
	for _, e := range got {
		if seen[e.Value.ID] {
			t.Fatalf("%s came out twice", e.Value.ID)
		}
		seen[e.Value.ID] = true
		key := string(e.Record.Key)
		if want := lastVersion[key] + 1; e.Value.EntityVersion != want {
			t.Fatalf("%s: %s has version %d, want %d", key, e.Value.ID, e.Value.EntityVersion, want)
		}
		lastVersion[key] = e.Value.EntityVersion
	}
	inB := testutil.ToFloat64(stream.NewMetrics(regB).In.WithLabelValues(enrich.StageName))
	if inB == 0 {
		t.Error("instance b never handled an event")
	}
	t.Logf("instance a handled %v events, b %v", testutil.ToFloat64(stream.NewMetrics(regA).In.WithLabelValues(enrich.StageName)), inB)
}

// TestRunServesHealthAndMetrics runs the standalone process function.
func TestRunServesHealthAndMetrics(t *testing.T) {
	h := newHarness(t, 3)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.cfg
	cfg.MetricsAddr = ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- enrich.Run(ctx, cfg, zap.NewNop()) }()
	get := func(path string) (int, string) { return kafkatest.Get("http://" + cfg.MetricsAddr + path) }
	kafkatest.WaitFor(t, 20*time.Second, "/readyz", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	h.Produce(h.record(rawEvent("ev-1", "order.placed", "order:1", `{"a":1}`)), &kgo.Record{Topic: h.Topic(topics.EventsRaw), Key: []byte("order:2"), Value: []byte("junk")})
	kafkatest.WaitFor(t, 20*time.Second, "the dead letter in /metrics", func() bool {
		_, body := get("/metrics")
		return strings.Contains(body, `surge_stage_dead_lettered_total{class="undecodable",stage="enrich"} 1`) &&
			strings.Contains(body, `surge_enrich_events_total{type="order.placed"} 1`)
	})
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz answered %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
