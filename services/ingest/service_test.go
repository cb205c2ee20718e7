package ingest_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/services/ingest"
)

// harness is ingest running against an in-process Kafka (kfake) and
// Surge's registry, with its HTTP handler on an httptest server.
type harness struct {
	*kafkatest.Stage
	t    *testing.T
	svc  *ingest.Service
	srv  *httptest.Server
	cfg  ingest.Config
	deps ingest.Deps
}

const shopSecret = "s3cr3t-shop-key"

func testSources() catalog.StaticSources {
	return catalog.StaticSources{
		"default": catalog.DefaultSource(),
		"shop": {ID: "shop", Signature: &catalog.Signature{
			Scheme: catalog.SchemeHMACSHA256Hex, Header: "X-Shop-Signature", Secret: shopSecret}},
		"akeneo": {ID: "akeneo", Signature: &catalog.Signature{
			Scheme: catalog.SchemeStandardWebhooks, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ToleranceS: 300}},
	}
}

func newHarness(t *testing.T, tweak func(*ingest.Config)) *harness {
	t.Helper()
	st := kafkatest.NewStage(t, kafkatest.StageOptions{Partitions: 3, DedupWindow: 24 * time.Hour})
	h := &harness{Stage: st, t: t}
	h.cfg = ingest.Config{
		Addr:           "127.0.0.1:0",
		Kafka:          st.Kafka,
		Registry:       config.Registry{URL: st.RegistryURL},
		Log:            config.Log{Level: "info"},
		InstanceID:     "test",
		MaxBodyBytes:   1 << 20,
		MaxInFlight:    1000,
		ProduceTimeout: 5 * time.Second,
		DedupWindow:    24 * time.Hour,
		Writers:        2,
		MaxTxnRecords:  1000,
	}
	if kafkatest.Real() {
		// A cold real broker creates __transaction_state on the first
		// transaction, which can take longer than a test's usual budget.
		h.cfg.ProduceTimeout = 30 * time.Second
	}
	if tweak != nil {
		tweak(&h.cfg)
	}
	h.deps = ingest.Deps{Sources: testSources()}
	h.start()
	return h
}

// start (re)starts the service, as a process restart would.
func (h *harness) start() {
	h.t.Helper()
	svc, err := ingest.New(context.Background(), h.cfg, kafkatest.Logger(h.t, zap.WarnLevel), h.deps)
	if err != nil {
		h.t.Fatal(err)
	}
	h.svc = svc
	h.srv = httptest.NewServer(svc.Handler())
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.srv != nil {
		h.srv.Close()
		h.svc.Close()
		h.srv = nil
	}
}

type response struct {
	status     int
	header     http.Header
	body       map[string]any
	retryAfter string
}

func (h *harness) post(path, contentType string, body []byte, headers map[string]string) response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, retryAfter: resp.Header.Get("Retry-After")}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		h.t.Fatalf("response %d is not JSON: %q", resp.StatusCode, raw)
	}
	return r
}

// rawRecords reads commerce.events.raw to its end with read_committed.
func (h *harness) rawRecords() []*kgo.Record {
	h.t.Helper()
	return h.ReadCommitted(h.t, h.Topic(topics.EventsRaw))
}

const orderPlaced = `{"type":"order.placed","entity":{"type":"order","id":"100012"},"data":{"total":"59.90"}}`

func TestAcceptedEventIsDurableAndDecodesWithAStockDeserializer(t *testing.T) {
	h := newHarness(t, nil)
	r := h.post("/v1/events", "application/json", []byte(orderPlaced), nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d, body %v", r.status, r.body)
	}
	id, _ := r.body["id"].(string)
	if len(id) != 27 {
		t.Fatalf("id %q is not a ksuid", id)
	}
	// The 202 came after the transaction's commit; a read_committed
	// reader sees the record once the commit markers are written, which
	// Kafka's coordinator does after it answers EndTxn.
	var recs []*kgo.Record
	kafkatest.WaitFor(t, 10*time.Second, "the accepted event on the raw topic", func() bool {
		recs = h.rawRecords()
		return len(recs) > 0
	})
	if len(recs) != 1 {
		t.Fatalf("%d records on the raw topic, want 1", len(recs))
	}
	rec := recs[0]
	if string(rec.Key) != "order:100012" {
		t.Errorf("key %q, want order:100012", rec.Key)
	}
	hdr := map[string]string{}
	for _, x := range rec.Headers {
		hdr[x.Key] = string(x.Value)
	}
	if hdr[topics.HeaderEventID] != id || hdr[topics.HeaderCorrelationID] == "" || hdr[topics.HeaderEventType] != "order.placed" {
		t.Errorf("headers %v", hdr)
	}

	// Decode the way any Confluent-compatible consumer does, with nothing
	// but the registry URL: magic byte, schema id, schema by id, Avro.
	v := rec.Value
	if len(v) < 5 || v[0] != 0 {
		t.Fatalf("value does not start with the Confluent magic byte: % x", v[:min(5, len(v))])
	}
	schemaID := int(binary.BigEndian.Uint32(v[1:5]))
	srCl, err := sr.NewClient(sr.URLs(h.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	schema, err := srCl.SchemaByID(context.Background(), schemaID)
	if err != nil {
		t.Fatal(err)
	}
	subjects, err := srCl.SubjectsByID(context.Background(), schemaID)
	if err != nil || len(subjects) != 1 || subjects[0] != h.Topic(topics.EventsRaw)+"-value" {
		t.Errorf("schema %d subjects %v (%v), want [%s-value]", schemaID, subjects, err, h.Topic(topics.EventsRaw))
	}
	codec, err := goavro.NewCodec(schema.Schema)
	if err != nil {
		t.Fatal(err)
	}
	native, rest, err := codec.NativeFromBinary(v[5:])
	if err != nil || len(rest) != 0 {
		t.Fatalf("decoding: %v (%d bytes left)", err, len(rest))
	}
	m := native.(map[string]any)
	if m["id"] != id || m["type"] != "order.placed" || m["source"] != "default" {
		t.Errorf("decoded %v", m)
	}
	entity := m["entity"].(map[string]any)
	if entity["type"] != "order" || entity["id"] != "100012" {
		t.Errorf("entity %v", entity)
	}
	data := m["data"].(map[string]any)["string"].(string)
	var payload map[string]any
	if err := json.Unmarshal([]byte(data), &payload); err != nil || payload["total"] != "59.90" {
		t.Errorf("data %q", data)
	}
}

func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// TestRejectionsWriteNothing produces every error status ingest has and
// checks that none of them wrote a record.
func TestRejectionsWriteNothing(t *testing.T) {
	h := newHarness(t, nil)
	big := []byte(`{"type":"order.placed","entity":{"type":"order","id":"1"},"data":{"blob":"` + strings.Repeat("x", 2<<20) + `"}}`)
	staleTS := fmt.Sprint(time.Now().Add(-10 * time.Minute).Unix())
	cases := []struct {
		name       string
		path, ct   string
		body       []byte
		headers    map[string]string
		wantStatus int
		wantCode   string
		wantInMsg  string
	}{
		{"2 MiB body", "/v1/events", "application/json", big, nil, 413, "too_large", ""},
		{"malformed JSON", "/v1/events", "application/json", []byte(`{"type":`), nil, 400, "malformed", ""},
		{"wrong media type", "/v1/events", "text/plain", []byte(orderPlaced), nil, 415, "unsupported_media_type", ""},
		{"unknown event type", "/v1/events", "application/json", []byte(`{"type":"order.teleported","entity":{"type":"order","id":"1"}}`), nil, 400, "unknown_event_type", "do not retry"},
		{"wrong signature", "/v1/sources/shop/events", "application/json", []byte(orderPlaced), map[string]string{"X-Shop-Signature": hmacHex("not-the-secret", []byte(orderPlaced))}, 401, "bad_signature", ""},
		{"missing signature", "/v1/sources/shop/events", "application/json", []byte(orderPlaced), nil, 401, "bad_signature", ""},
		{"stale timestamp", "/v1/sources/akeneo/events", "application/json", []byte(orderPlaced), map[string]string{
			"webhook-id": "msg_1", "webhook-timestamp": staleTS, "webhook-signature": "v1,AAAA"}, 401, "bad_signature", ""},
		{"unknown source", "/v1/sources/nope/events", "application/json", []byte(orderPlaced), nil, 404, "not_found", ""},
		{"batch with one bad item", "/v1/events", "application/json", []byte(`{"events":[` + orderPlaced + `,{"type":"order.placed","entity":{"type":"order"}},` + orderPlaced + `]}`), nil, 0, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post(tc.path, tc.ct, tc.body, tc.headers)
			errBody, _ := r.body["error"].(map[string]any)
			if tc.name == "batch with one bad item" {
				if r.status != 422 && r.status != 400 {
					t.Fatalf("status %d, want 422 (or 400)", r.status)
				}
				items, _ := errBody["items"].([]any)
				if len(items) != 1 || items[0].(map[string]any)["index"].(float64) != 1 {
					t.Fatalf("items %v, want one item with index 1", errBody["items"])
				}
				return
			}
			if r.status != tc.wantStatus || errBody["code"] != tc.wantCode {
				t.Fatalf("got %d %v, want %d %s", r.status, r.body, tc.wantStatus, tc.wantCode)
			}
			if msg, _ := errBody["message"].(string); !strings.Contains(msg, tc.wantInMsg) {
				t.Errorf("message %q does not contain %q", msg, tc.wantInMsg)
			}
		})
	}
	if recs := h.rawRecords(); len(recs) != 0 {
		t.Fatalf("rejected requests wrote %d records", len(recs))
	}

	// The same signed request with the right signature goes through.
	r := h.post("/v1/sources/shop/events", "application/json", []byte(orderPlaced),
		map[string]string{"X-Shop-Signature": hmacHex(shopSecret, []byte(orderPlaced))})
	if r.status != http.StatusAccepted {
		t.Fatalf("signed request: %d %v", r.status, r.body)
	}
	if recs := h.rawRecords(); len(recs) != 1 {
		t.Fatalf("%d records after one good request", len(recs))
	}
}

func TestIdempotencyKeyAcrossRestart(t *testing.T) {
	h := newHarness(t, nil)
	key := map[string]string{"Idempotency-Key": "order-100012-placed"}
	first := h.post("/v1/events", "application/json", []byte(orderPlaced), key)
	second := h.post("/v1/events", "application/json", []byte(orderPlaced), key)
	if first.status != 202 || second.status != 202 {
		t.Fatalf("statuses %d, %d", first.status, second.status)
	}
	if first.body["id"] != second.body["id"] {
		t.Fatalf("ids differ: %v vs %v", first.body["id"], second.body["id"])
	}
	if second.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the repeat is not marked as replayed")
	}
	// Concurrent repeats of a new key: still one event.
	var wg sync.WaitGroup
	ids := make([]any, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = h.post("/v1/events", "application/json", []byte(orderPlaced), map[string]string{"Idempotency-Key": "concurrent"}).body["id"]
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || id == nil {
			t.Fatalf("concurrent repeats got different ids: %v", ids)
		}
	}

	h.stop()
	h.start() // a new process: the index comes back from Kafka
	third := h.post("/v1/events", "application/json", []byte(orderPlaced), key)
	if third.status != 202 || third.body["id"] != first.body["id"] {
		t.Fatalf("after restart: %d %v, want id %v", third.status, third.body, first.body["id"])
	}
	if n := len(h.rawRecords()); n != 2 {
		t.Fatalf("%d records on the raw topic, want 2 (one per key)", n)
	}
}

func TestOverloadAnswers429AndKafkaTroubleAnswers503(t *testing.T) {
	h := newHarness(t, func(c *ingest.Config) {
		c.MaxInFlight = 2
		c.ProduceTimeout = 1500 * time.Millisecond
	})
	batch := []byte(`{"events":[` + orderPlaced + `,` + orderPlaced + `,` + orderPlaced + `]}`)
	r := h.post("/v1/events", "application/json", batch, nil)
	if r.status != http.StatusTooManyRequests || r.retryAfter == "" {
		t.Fatalf("over budget: %d (Retry-After %q), want 429 with Retry-After", r.status, r.retryAfter)
	}

	// Kafka stops answering produce requests.
	h.RequireFake(t, "Kafka refusing produce requests")
	var down atomic.Bool
	down.Store(true)
	h.Fake.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if !down.Load() {
			h.Fake.DropControl()
			return nil, nil, false
		}
		h.Fake.KeepControl()
		return nil, errors.New("broker unavailable"), true
	})
	r = h.post("/v1/events", "application/json", []byte(orderPlaced), nil)
	if r.status != http.StatusServiceUnavailable || r.retryAfter == "" {
		t.Fatalf("Kafka down: %d %v (Retry-After %q), want 503 with Retry-After", r.status, r.body, r.retryAfter)
	}
	// A 503 promises nothing was accepted, but the writer may still be
	// retrying that transaction for the rest of its own timeout; keep
	// Kafka down until it has given up, so the check below is exact.
	time.Sleep(h.cfg.ProduceTimeout + 500*time.Millisecond)
	down.Store(false)
	if n := len(h.rawRecords()); n != 0 {
		t.Fatalf("%d records written while answering errors", n)
	}
	// Kafka is back: the next request is accepted.
	deadline := time.Now().Add(20 * time.Second)
	for {
		r = h.post("/v1/events", "application/json", []byte(orderPlaced), nil)
		if r.status == http.StatusAccepted || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.status != http.StatusAccepted {
		t.Fatalf("after recovery: %d %v", r.status, r.body)
	}
	if n := len(h.rawRecords()); n != 1 {
		t.Fatalf("%d records after recovery, want 1", n)
	}
}

// TestCurlDefaultContentType is the README's first command: curl -d sends
// application/x-www-form-urlencoded, and the JSON body is accepted.
func TestCurlDefaultContentType(t *testing.T) {
	h := newHarness(t, nil)
	r := h.post("/v1/events", "application/x-www-form-urlencoded", []byte(orderPlaced), nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d %v", r.status, r.body)
	}
	r = h.post("/v1/events", "application/x-www-form-urlencoded", []byte("type=order.placed&entity=1"), nil)
	if r.status != http.StatusBadRequest {
		t.Fatalf("a real form body: %d %v, want 400", r.status, r.body)
	}
}

// TestSchemaViolationsAre422WithEveryBadItem gives order.placed a JSON
// Schema and posts a batch with two bad items: 422, both listed by index
// with the field path, and nothing written.
func TestSchemaViolationsAre422WithEveryBadItem(t *testing.T) {
	schema, err := os.ReadFile("testdata/order_placed.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	types := catalog.Builtin()
	for i := range types {
		if types[i].Name == "order.placed" {
			types[i].DataSchema = schema
		}
	}
	h := newHarness(t, nil)
	h.stop()
	h.deps.Catalog = catalog.New(types...)
	h.start()

	good := `{"type":"order.placed","entity":{"type":"order","id":"1"},"data":{"total":10.5}}`
	noTotal := `{"type":"order.placed","entity":{"type":"order","id":"2"},"data":{"currency":"EUR"}}`
	badTotal := `{"type":"order.placed","entity":{"type":"order","id":"3"},"data":{"total":"ten"}}`
	r := h.post("/v1/events", "application/json", []byte(`{"events":[`+good+`,`+noTotal+`,`+good+`,`+badTotal+`]}`), nil)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d %v, want 422", r.status, r.body)
	}
	items, _ := r.body["error"].(map[string]any)["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("items %v, want 2", items)
	}
	for i, wantIdx := range []float64{1, 3} {
		it := items[i].(map[string]any)
		if it["index"] != wantIdx || !strings.HasPrefix(it["field"].(string), fmt.Sprintf("events[%d].data", int(wantIdx))) {
			t.Errorf("item %d: %v", i, it)
		}
	}
	if n := len(h.rawRecords()); n != 0 {
		t.Fatalf("a rejected batch wrote %d records", n)
	}
	if r := h.post("/v1/events", "application/json", []byte(good), nil); r.status != http.StatusAccepted {
		t.Fatalf("valid event: %d %v", r.status, r.body)
	}
}

// TestSameKeyTwiceInOneBatch: a batch carrying the same event id twice
// yields one event, and the request does not wait on itself.
func TestSameKeyTwiceInOneBatch(t *testing.T) {
	h := newHarness(t, nil)
	ev := `{"id":"evt-7","type":"order.placed","entity":{"type":"order","id":"7"},"data":{"total":1}}`
	// Waiting on its own key would end in a 503 at the produce timeout.
	r := h.post("/v1/events", "application/json", []byte(`{"events":[`+ev+`,`+ev+`]}`), nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d %v", r.status, r.body)
	}
	ids, _ := r.body["ids"].([]any)
	if len(ids) != 2 || ids[0] != ids[1] || r.body["duplicates"] != float64(1) {
		t.Fatalf("body %v, want the same id twice and one duplicate", r.body)
	}
	if n := len(h.rawRecords()); n != 1 {
		t.Fatalf("%d records, want 1", n)
	}
}

// TestRetryAfterALate503IsNotWrittenTwice: a request whose transaction
// commits only after its own deadline gets a 503, though its events are
// written. The client retries with the same Idempotency-Key at once: the
// retry must wait for that outcome and answer 202 with the event's id,
// not write the event again.
func TestRetryAfterALate503IsNotWrittenTwice(t *testing.T) {
	h := newHarness(t, func(c *ingest.Config) {
		c.Writers = 1
		c.ProduceTimeout = 2 * time.Second
	})
	h.RequireFake(t, "delaying EndTxn")
	// Every commit takes 1.2 s from now on.
	inCommit := make(chan struct{}, 16)
	h.Fake.ControlKey(int16(kmsg.EndTxn), func(kmsg.Request) (kmsg.Response, error, bool) {
		h.Fake.KeepControl()
		select {
		case inCommit <- struct{}{}:
		default:
		}
		h.Fake.SleepControl(func() { time.Sleep(1200 * time.Millisecond) })
		return nil, nil, false
	})
	first := make(chan response, 1)
	go func() {
		first <- h.post("/v1/events", "application/json", []byte(orderPlaced), map[string]string{"Idempotency-Key": "a"})
	}()
	<-inCommit // the first request's transaction is committing: the next one queues behind it
	key := map[string]string{"Idempotency-Key": "b"}
	late := h.post("/v1/events", "application/json", []byte(orderPlaced), key)
	if late.status != http.StatusServiceUnavailable {
		t.Fatalf("a request that waited 1.2 s for the writer and 1.2 s for its commit: %d %v, want 503 (deadline 2 s)", late.status, late.body)
	}
	if msg := fmt.Sprint(late.body["error"]); !strings.Contains(msg, "Idempotency-Key") {
		t.Errorf("the 503 does not tell the client how to retry safely: %q", msg)
	}
	retry := h.post("/v1/events", "application/json", []byte(orderPlaced), key)
	if retry.status != http.StatusAccepted || retry.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %v (replayed %q), want 202 replayed", retry.status, retry.body, retry.header.Get("Idempotent-Replayed"))
	}
	if r := <-first; r.status != http.StatusAccepted {
		t.Fatalf("first request: %d %v", r.status, r.body)
	}
	recs := h.rawRecords()
	if len(recs) != 2 {
		t.Fatalf("%d records on the raw topic, want 2 (one per idempotency key)", len(recs))
	}
	ids := map[string]bool{}
	for _, r := range recs {
		for _, hd := range r.Headers {
			if hd.Key == topics.HeaderEventID {
				ids[string(hd.Value)] = true
			}
		}
	}
	if id, _ := retry.body["id"].(string); !ids[id] {
		t.Errorf("the retry answered id %q, which is not on the topic (%v)", id, ids)
	}
}
