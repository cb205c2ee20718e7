package ingest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/schemas"
	"github.com/surgehq/surge/services/ingest"
)

// Fuzz targets for every ingest parser of outside bytes. Each checks
// properties, not only the absence of panics:
//
//   - a decode that fails fails with one of the client errors the README
//     documents for that endpoint (a *httpx.Error with a 4xx status,
//     never a plain error, which ingest answers with a 500);
//   - a decode that succeeds yields events with a canonical type of the
//     catalog, a non-empty entity type and id, data that is nil or a JSON
//     object, and the same events when decoded again;
//   - each event, posted back in the canonical envelope, gets the same
//     entity key, type and data (the entity key is stable);
//   - each event survives the Avro Event schema it is written with.
//
// Run them with `make fuzz` (FUZZTIME each); `go test` runs their seeds.

// decodeStatuses are the statuses a decoder may refuse a body with.
var (
	jsonStatuses        = []int{http.StatusBadRequest, http.StatusUnprocessableEntity}
	cloudEventsStatuses = []int{http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity}
)

// fuzzEnv is the catalog and validator the decoders run with: the
// built-ins with JSON Schemas on order.placed and product.created.
type fuzzEnv struct {
	cat *catalog.Catalog
	v   *ingest.DataValidator
}

func newFuzzEnv(f *testing.F) fuzzEnv {
	return fuzzEnv{cat: decCatalog(f), v: ingest.NewDataValidator()}
}

// check asserts the properties above of one decode's outcome.
func (e fuzzEnv) check(t *testing.T, evs []event.Event, err error, statuses []int) {
	t.Helper()
	if err != nil {
		var he *httpx.Error
		if !errors.As(err, &he) {
			t.Fatalf("a plain error, answered with a 500: %v", err)
		}
		if !slices.Contains(statuses, he.Status) || he.Code == "" || he.Message == "" {
			t.Fatalf("refused with %d %q %q; documented: %v with a code and a message", he.Status, he.Code, he.Message, statuses)
		}
		for i, it := range he.Items {
			if it.Code == "" || it.Message == "" || i > 0 && it.Index <= he.Items[i-1].Index {
				t.Fatalf("batch item errors out of order or empty: %+v", he.Items)
			}
		}
		if evs != nil {
			t.Fatalf("events returned with an error: %+v", evs)
		}
		return
	}
	if len(evs) == 0 || len(evs) > ingest.MaxBatchItems {
		t.Fatalf("%d events accepted", len(evs))
	}
	for i, ev := range evs {
		et, ok := e.cat.Lookup(ev.Type)
		switch {
		case !ok || et.Name != ev.Type:
			t.Fatalf("event %d: type %q is not a canonical type of the catalog", i, ev.Type)
		case strings.TrimSpace(ev.Entity.Type) == "" || strings.TrimSpace(ev.Entity.ID) == "":
			t.Fatalf("event %d: entity %+v has an empty type or id", i, ev.Entity)
		case et.EntityType != "" && ev.Entity.Type != et.EntityType:
			t.Fatalf("event %d: %s is about %q entities, got %q", i, et.Name, et.EntityType, ev.Entity.Type)
		case ev.Data != nil && (!json.Valid(ev.Data) || bytes.TrimSpace(ev.Data)[0] != '{'):
			t.Fatalf("event %d: data %q is not a JSON object", i, ev.Data)
		case ev.OriginalType == "" || ev.Format == "" || ev.Source != decSource.ID || ev.Time.IsZero():
			t.Fatalf("event %d: missing original type, format, source or time: %+v", i, ev)
		}
		e.checkStableKey(t, ev)
		checkAvro(t, ev)
	}
}

// checkStableKey posts ev back in the canonical envelope: the same
// entity key, type and data must come out.
func (e fuzzEnv) checkStableKey(t *testing.T, ev event.Event) {
	t.Helper()
	in := map[string]any{
		"type":   ev.Type,
		"entity": map[string]string{"type": ev.Entity.Type, "id": ev.Entity.ID},
		"time":   ev.Time.Format(time.RFC3339Nano),
	}
	if ev.Data != nil {
		in["data"] = ev.Data
	}
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ingest.Decoder{Source: decSource, Catalog: e.cat, Validator: e.v, Now: decNow}.Canonical(body, "")
	if err != nil {
		t.Fatalf("event %+v, posted back as %s: %v", ev, body, err)
	}
	got := again[0]
	if len(again) != 1 || got.Entity.Key() != ev.Entity.Key() || got.Type != ev.Type || !got.Time.Equal(ev.Time) ||
		(got.Data == nil) != (ev.Data == nil) || got.Data != nil && !jsonSame(got.Data, ev.Data) {
		t.Fatalf("posted back as %s, %+v became %+v", body, ev, again)
	}
}

func jsonSame(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

var eventCodec = sync.OnceValues(func() (*goavro.Codec, error) {
	text, err := schemas.Text(schemas.Event)
	if err != nil {
		return nil, err
	}
	return goavro.NewCodec(text)
})

// checkAvro writes ev with the Event schema, as ingest does once it has
// minted the id, and reads it back.
func checkAvro(t *testing.T, ev event.Event) {
	t.Helper()
	codec, err := eventCodec()
	if err != nil {
		t.Fatal(err)
	}
	ev.ID, ev.CorrelationID = "2pQ4dfIbnHP2oiGhwGqVGmN7tRF", "2pQ4dfIbnHP2oiGhwGqVGmN7tRF"
	if ev.OriginalType == ev.Type {
		ev.OriginalType = ""
	}
	bin, err := codec.BinaryFromNative(nil, ev.Native())
	if err != nil {
		t.Fatalf("event %+v does not encode as Avro: %v", ev, err)
	}
	native, _, err := codec.NativeFromBinary(bin)
	if err != nil {
		t.Fatal(err)
	}
	back, err := event.EventFromNative(native)
	if err != nil {
		t.Fatal(err)
	}
	if back.Entity != ev.Entity || back.Type != ev.Type || back.OriginalType != ev.OriginalType || back.Format != ev.Format ||
		back.IdempotencyKey != ev.IdempotencyKey || !bytes.Equal(back.Data, ev.Data) || !sameAttributes(back.Attributes, ev.Attributes) ||
		!back.Time.Equal(ev.Time.Truncate(time.Millisecond)) {
		t.Fatalf("Avro round trip changed the event:\n  in %+v\n out %+v", ev, back)
	}
}

// sameAttributes compares attribute maps, nil and empty alike.
func sameAttributes(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// decodeTwice decodes body twice: both outcomes must be equal.
func decodeTwice(t *testing.T, decode func() ([]event.Event, error)) ([]event.Event, error) {
	t.Helper()
	evs, err := decode()
	evs2, err2 := decode()
	if !reflect.DeepEqual(evs, evs2) || (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
		t.Fatalf("two decodes of one body differ:\n%+v %v\n%+v %v", evs, err, evs2, err2)
	}
	return evs, err
}

func FuzzDecodeCanonical(f *testing.F) {
	for _, name := range []string{"canonical_order_placed.json", "canonical_batch.json", "canonical_batch_two_bad.json"} {
		f.Add(decFixture(f, name), "")
	}
	f.Add(decFixture(f, "canonical_batch.json"), "req-7")
	for _, s := range []string{
		`{"type":"order.updated","entity":{"type":"order","id":"100012"}}`,
		`{"type":"product.deleted","entity":{"type":"product","id":"SKU-1"},"data":null}`,
		`{"type":"stock.adjusted","entity":{"type":"stock","id":"SKU-1"}}`,
		`{"type":"customer.created","entity":{"type":"customer","id":4711}}`,
		`[{"type":"order.updated","entity":{"type":"order","id":"1"}},{"type":"order.updated","id":"e2","entity":{"type":"order","id":"2"}}]`,
		`{"type":"order.placed","entity":{"type":"order","id":"1"},"time":"2024-11-29T08:14:03.512+01:00","data":{"total":"59.90","items":[{"sku":"A","qty":1}]}}`,
		`{"type":"product.created","entity":{"type":"product","id":"SKU-2"},"data":{"sku":"SKU-2","price":"x"}}`,
		`{"events":[]}`,
		`{"type":"order.placed","entity":{"type":"product","id":"1"}}`,
		`{"type":"order.placed","entity":{"type":"order","id":1},"data":{"total":1,"items":[{"sku":""}]}}`,
		`[{"type":"stock.adjusted","entity":{"type":"stock","id":"A"},"time":"2024-01-01T00:00:00Z"}]`,
		`{"events":null}`,
		`{"type":"order.placed","entity":null,"data":[]}`,
	} {
		f.Add([]byte(s), "")
	}
	env := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, idem string) {
		evs, err := decodeTwice(t, func() ([]event.Event, error) {
			return ingest.Decoder{Source: decSource, Catalog: env.cat, Validator: env.v, Now: decNow}.Canonical(body, idem)
		})
		env.check(t, evs, err, jsonStatuses)
		for i, ev := range evs {
			if ev.Format != event.FormatCanonical {
				t.Fatalf("event %d: format %q", i, ev.Format)
			}
			if idem != "" && !strings.HasPrefix(ev.IdempotencyKey, idem) {
				t.Fatalf("event %d: idempotency key %q does not come from the header %q", i, ev.IdempotencyKey, idem)
			}
		}
	})
}

func FuzzDecodeAdobe(f *testing.F) {
	for _, name := range []string{"adobe_customer_update.json", "adobe_order_status.json", "adobe_product_create.json", "adobe_stock_update.json"} {
		f.Add(decFixture(f, name), "")
	}
	f.Add(decFixture(f, "adobe_order_status.json"), "hdr-key")
	for _, s := range []string{
		`{"data":{"uid":"evt-1","event":"be-observer.catalog_product_update","value":{"sku":"SKU-1","price":18.5}}}`,
		`{"data":{"uid":42,"event":"be-observer.sales_order_save_commit","value":{"increment_id":"000000042"}}}`,
		`{"data":{"event":"be-observer.customer_save_commit","value":{"email":"a@example.com"}}}`,
		`{"data":{"uid":"x","event":"be-observer.catalog_product_update","value":null}}`,
		`{"data":{"uid":"x","event":"be-observer.catalog_product_update","value":[1]}}`,
	} {
		f.Add([]byte(s), "")
	}
	env := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, idem string) {
		evs, err := decodeTwice(t, func() ([]event.Event, error) {
			return ingest.Decoder{Source: decSource, Catalog: env.cat, Validator: env.v, Now: decNow}.Adobe(body, idem)
		})
		env.check(t, evs, err, jsonStatuses)
		for _, ev := range evs {
			if ev.Format != event.FormatAdobe || ev.Data == nil {
				t.Fatalf("an Adobe event without data or of format %q", ev.Format)
			}
		}
	})
}

// cloudEventsSeeds are structured-mode events and batches.
func cloudEventsSeeds(f *testing.F) [][]byte {
	out := [][]byte{decFixture(f, "akeneo_product_deleted.json"), decFixture(f, "akeneo_batch.json")}
	for _, s := range []string{
		`{"specversion":"1.0","id":"x1","source":"urn:shop","type":"order.updated","subject":"42"}`,
		`{"specversion":"1.0","id":"x1","source":"urn:shop","type":"order.updated","subject":"42","entityid":"SKU-9","partitionkey":7}`,
		`{"specversion":"1.0","id":"a1","source":"urn:akeneo","type":"com.akeneo.pim.v1.product.deleted","subject":"SKU-9","datacontenttype":"application/json","data":{"product":{"identifier":"SKU-9"}}}`,
		`{"specversion":"1.0","id":"b","source":"s","type":"order.placed","subject":"1","time":"2024-11-29T09:00:00Z","data_base64":"eyJ0b3RhbCI6MX0="}`,
		`{"specversion":"1.0","id":"x1","source":"urn:shop","type":"order.updated","subject":"42","datacontenttype":"application/xml","data":"<order/>"}`,
		`{"specversion":"0.3","id":"1","source":"s","type":"order.updated","subject":"1"}`,
		`[{"specversion":"1.0","id":"1","source":"s","type":"order.updated","subject":"1"},{"specversion":"1.0","id":"2","source":"s","type":"nope","subject":"1"}]`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

func fuzzCloudEvents(f *testing.F, contentType string) {
	for _, s := range cloudEventsSeeds(f) {
		f.Add(s)
	}
	env := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, _ := http.NewRequest(http.MethodPost, "/v1/sources/shop-eu/cloudevents", nil)
		r.Header.Set("Content-Type", contentType)
		evs, err := decodeTwice(t, func() ([]event.Event, error) {
			return ingest.Decoder{Source: decSource, Catalog: env.cat, Validator: env.v, Now: decNow}.CloudEvents(r, body)
		})
		env.check(t, evs, err, cloudEventsStatuses)
		checkCloudEvents(t, evs)
	})
}

func checkCloudEvents(t *testing.T, evs []event.Event) {
	t.Helper()
	for i, ev := range evs {
		if ev.Format != event.FormatCloudEvents || ev.ID == "" || ev.IdempotencyKey != ev.Attributes[ingest.AttrCloudEventsSource]+"/"+ev.ID {
			t.Fatalf("event %d: CloudEvent without id, or keyed %q: %+v", i, ev.IdempotencyKey, ev)
		}
	}
}

func FuzzDecodeCloudEventsStructured(f *testing.F) {
	fuzzCloudEvents(f, "application/cloudevents+json")
}

func FuzzDecodeCloudEventsBatch(f *testing.F) {
	fuzzCloudEvents(f, "application/cloudevents-batch+json")
}

// headerValue is a value that can arrive in an HTTP/1 header: Go's server
// refuses control characters and trims surrounding white space.
func headerValue(s string) (string, bool) {
	if strings.ContainsFunc(s, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
		return "", false
	}
	return strings.Trim(s, " \t"), true
}

func FuzzDecodeCloudEventsBinary(f *testing.F) {
	f.Add("application/json", "1.0", "7c1d", "urn:magento:eu", "order.placed", "100012", "2024-11-29T09:00:00Z", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", []byte(`{"total":59.9}`))
	f.Add("", "1.0", "9", "urn:magento:eu", "order.cancelled", "100012", "", "", []byte(nil))
	f.Add("application/xml", "1.0", "1", "s", "order.updated", "1", "", "", []byte(`<order/>`))
	f.Add("application/json", "1.0", "1", "s", "", "1", "", "", []byte(`{}`))
	f.Add("application/json", "1.0", "1", "s", "order.updated", "1", "", "", []byte(`{"total":`))
	f.Add("application/json; charset=utf-8", "1.0", "a1", "urn:akeneo", "com.akeneo.pim.v1.product.deleted", "pim", "2024-02-22T17:31:00.5+02:00", "", []byte(`{"product":{"uuid":"9d1e"}}`))
	f.Add("application/json", "0.3", "1", "s", "order.updated", "1", "yesterday", "", []byte(`{}`))
	env := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, contentType, specversion, id, source, typ, subject, tm, traceparent string, body []byte) {
		r, _ := http.NewRequest(http.MethodPost, "/v1/sources/shop-eu/cloudevents", nil)
		for name, v := range map[string]string{"Content-Type": contentType, "Ce-Specversion": specversion, "Ce-Id": id,
			"Ce-Source": source, "Ce-Type": typ, "Ce-Subject": subject, "Ce-Time": tm, "Ce-Traceparent": traceparent} {
			v, ok := headerValue(v)
			if !ok {
				return // cannot arrive over HTTP
			}
			if v != "" {
				r.Header.Set(name, v)
			}
		}
		evs, err := decodeTwice(t, func() ([]event.Event, error) {
			return ingest.Decoder{Source: decSource, Catalog: env.cat, Validator: env.v, Now: decNow}.CloudEvents(r, body)
		})
		env.check(t, evs, err, cloudEventsStatuses)
		checkCloudEvents(t, evs)
	})
}
