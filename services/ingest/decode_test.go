package ingest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/services/ingest"
)

var decNow = time.Date(2024, 11, 29, 10, 0, 0, 0, time.UTC)

var decSource = catalog.Source{ID: "shop-eu", AllowUnsigned: true}

func decFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decCatalog is the built-in catalog with testdata schemas on order.placed
// and product.created.
func decCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	cat := catalog.New(catalog.Builtin()...)
	placed, _ := cat.Lookup("order.placed")
	placed.DataSchema = decFixture(t, "order_placed.schema.json")
	created, _ := cat.Lookup("product.created")
	created.DataSchema = json.RawMessage(`{"type":"object","required":["sku"],"properties":{"price":{"type":"number"}}}`)
	for _, et := range []catalog.EventType{placed, created} {
		if err := cat.Put(et); err != nil {
			t.Fatal(err)
		}
	}
	return cat
}

// wantErr is the expected *httpx.Error; a zero wantErr means no error.
type wantErr struct {
	status int
	code   string
	field  string
	inMsg  string
	items  []httpx.ItemError // Index, Code and Field are compared
}

func checkErr(t *testing.T, err error, want wantErr) {
	t.Helper()
	if want.status == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var he *httpx.Error
	if !errors.As(err, &he) {
		t.Fatalf("error %v (%T), want *httpx.Error %d %s", err, err, want.status, want.code)
	}
	if he.Status != want.status || he.Code != want.code || he.Field != want.field {
		t.Fatalf("got %d %s field %q (%s), want %d %s field %q", he.Status, he.Code, he.Field, he.Message, want.status, want.code, want.field)
	}
	if !strings.Contains(he.Message, want.inMsg) {
		t.Errorf("message %q does not contain %q", he.Message, want.inMsg)
	}
	if len(he.Items) != len(want.items) {
		t.Fatalf("items %+v, want %+v", he.Items, want.items)
	}
	for i, it := range he.Items {
		w := want.items[i]
		if it.Index != w.Index || it.Code != w.Code || it.Field != w.Field || it.Message == "" {
			t.Errorf("item %d = %+v, want %+v", i, it, w)
		}
	}
}

// originOf is the Origin a decoder must give an event its test expects as
// w: the sender's id, type and source, as the rest of w already says them
// (tests with a want of their own set w.Origin).
func originOf(w event.Event) event.Origin {
	o := event.Origin{Format: w.Format, ID: w.ID, Type: w.OriginalType}
	switch w.Format {
	case event.FormatCanonical:
		o.Source = w.Attributes["source"]
	case event.FormatAdobe:
		o.ID = w.Attributes["adobe_uid"]
	case event.FormatCloudEvents:
		o.Source = w.Attributes["ce_source"]
	}
	return o
}

// checkEvents compares events field by field, Data as JSON. A want
// without an Origin expects originOf's.
func checkEvents(t *testing.T, got, want []event.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i := range got {
		g, w := got[i], want[i]
		if w.Origin.IsZero() {
			w.Origin = originOf(w)
		}
		if (g.Data == nil) != (w.Data == nil) {
			t.Errorf("event %d: data %s, want %s", i, g.Data, w.Data)
		} else if g.Data != nil && !jsonEqual(t, g.Data, w.Data) {
			t.Errorf("event %d: data %s, want %s", i, g.Data, w.Data)
		}
		g.Data, w.Data = nil, nil
		if !reflect.DeepEqual(g, w) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// valueOf extracts a member of a fixture as raw JSON, e.g. "data".
func valueOf(t *testing.T, doc []byte, path ...string) json.RawMessage {
	t.Helper()
	cur := json.RawMessage(doc)
	for _, p := range path {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(cur, &m); err != nil {
			t.Fatal(err)
		}
		cur = m[p]
	}
	return cur
}

func TestParseCanonical(t *testing.T) {
	cat := decCatalog(t)
	v := ingest.NewDataValidator()
	orderFixture := decFixture(t, "canonical_order_placed.json")
	batchFixture := decFixture(t, "canonical_batch.json")
	batchItem := func(i int) json.RawMessage {
		var b struct{ Events []json.RawMessage }
		if err := json.Unmarshal(batchFixture, &b); err != nil {
			t.Fatal(err)
		}
		return valueOf(t, b.Events[i], "data")
	}
	orderEvent := event.Event{
		ID: "evt_01HX3Q9N2V7K", Type: "order.placed", Source: "shop-eu",
		Time: time.Date(2024, 11, 29, 8, 14, 3, 512e6, time.UTC), ReceivedAt: decNow,
		Entity: event.EntityRef{Type: "order", ID: "000100012"}, Data: valueOf(t, orderFixture, "data"),
		IdempotencyKey: "evt_01HX3Q9N2V7K", Format: event.FormatCanonical, OriginalType: "order.placed",
		Attributes: map[string]string{"source": "magento-eu"},
	}
	thin := func(typ, entity, id string) event.Event {
		return event.Event{Type: typ, Source: "shop-eu", Time: decNow, ReceivedAt: decNow,
			Entity: event.EntityRef{Type: entity, ID: id}, Format: event.FormatCanonical, OriginalType: typ}
	}
	withKey := func(ev event.Event, key string) event.Event { ev.IdempotencyKey = key; return ev }
	tooMany := `{"events":[` + strings.Repeat(`{"type":"order.updated","entity":{"type":"order","id":"1"}},`, ingest.MaxBatchItems) +
		`{"type":"order.updated","entity":{"type":"order","id":"1"}}]}`

	tests := []struct {
		name    string
		in      string
		idem    string
		want    []event.Event
		wantErr wantErr
	}{
		{name: "Magento order with id, time, source and an unknown field", in: string(orderFixture), want: []event.Event{orderEvent}},
		{name: "Idempotency-Key header wins over the id", in: string(orderFixture), idem: "order-000100012-placed",
			want: []event.Event{withKey(orderEvent, "order-000100012-placed")}},
		{name: "thin event without data", in: `{"type":"order.updated","entity":{"type":"order","id":"100012"}}`,
			want: []event.Event{thin("order.updated", "order", "100012")}},
		{name: "null data is thin", in: `{"type":"product.deleted","entity":{"type":"product","id":"SKU-1"},"data":null}`,
			want: []event.Event{thin("product.deleted", "product", "SKU-1")}},
		{name: "alias resolves to the canonical type", in: `{"type":"stock.adjusted","entity":{"type":"stock","id":"SKU-1"}}`,
			want: func() []event.Event {
				ev := thin("stock.updated", "stock", "SKU-1")
				ev.OriginalType = "stock.adjusted"
				return []event.Event{ev}
			}()},
		{name: "numeric entity id keeps its text", in: `{"type":"customer.created","entity":{"type":"customer","id":4711}}`,
			want: []event.Event{thin("customer.created", "customer", "4711")}},
		{name: "batch with Idempotency-Key", in: string(batchFixture), idem: "req-7", want: []event.Event{
			{Type: "order.placed", Source: "shop-eu", Time: decNow, ReceivedAt: decNow, Entity: event.EntityRef{Type: "order", ID: "100013"},
				Data: batchItem(0), IdempotencyKey: "req-7:0", Format: event.FormatCanonical, OriginalType: "order.placed"},
			{Type: "stock.updated", Source: "shop-eu", Time: decNow, ReceivedAt: decNow, Entity: event.EntityRef{Type: "stock", ID: "WS12-M-Blue"},
				Data: batchItem(1), IdempotencyKey: "req-7:1", Format: event.FormatCanonical, OriginalType: "stock.adjusted"},
			withKey(thin("product.updated", "product", "WS12-M-Blue"), "req-7:2"),
			{ID: "addr-chg-77", Type: "customer.address.updated", Source: "shop-eu", Time: decNow, ReceivedAt: decNow,
				Entity: event.EntityRef{Type: "customer", ID: "4711"}, Data: batchItem(3), IdempotencyKey: "req-7:3",
				Format: event.FormatCanonical, OriginalType: "customer.address.updated"},
		}},
		{name: "batch without header keys by event id", in: `{"events":[{"type":"order.updated","entity":{"type":"order","id":"1"}},{"type":"order.updated","id":"e2","entity":{"type":"order","id":"2"}}]}`,
			want: []event.Event{thin("order.updated", "order", "1"), func() event.Event {
				ev := withKey(thin("order.updated", "order", "2"), "e2")
				ev.ID = "e2"
				return ev
			}()}},
		{name: "bare JSON array is a batch", in: `[{"type":"order.updated","entity":{"type":"order","id":"1"}}]`,
			want: []event.Event{thin("order.updated", "order", "1")}},

		{name: "empty body", in: ``, wantErr: wantErr{status: 400, code: httpx.CodeMalformed}},
		{name: "truncated JSON", in: `{"type":`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed}},
		{name: "body is a string", in: `"order.placed"`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed}},
		{name: "missing type", in: `{"entity":{"type":"order","id":"1"}}`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "type"}},
		{name: "type is a number", in: `{"type":5,"entity":{"type":"order","id":"1"}}`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "type"}},
		{name: "missing entity", in: `{"type":"order.placed"}`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "entity"}},
		{name: "missing entity.type", in: `{"type":"order.placed","entity":{"id":"1"}}`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "entity.type"}},
		{name: "missing entity.id", in: `{"type":"order.placed","entity":{"type":"order"}}`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "entity.id"}},
		{name: "entity.id is an object", in: `{"type":"order.placed","entity":{"type":"order","id":{"n":1}}}`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "entity.id"}},
		{name: "unknown event type", in: `{"type":"order.teleported","entity":{"type":"order","id":"1"}}`,
			wantErr: wantErr{status: 400, code: httpx.CodeUnknownEventType, field: "type", inMsg: `unknown event type "order.teleported": not in the catalog; do not retry`}},
		{name: "entity type does not match the catalog", in: `{"type":"order.placed","entity":{"type":"product","id":"1"},"data":{"total":1}}`,
			wantErr: wantErr{status: 422, code: httpx.CodeInvalid, field: "entity.type"}},
		{name: "time is not RFC 3339", in: `{"type":"order.updated","entity":{"type":"order","id":"1"},"time":"29/11/2024 10:00"}`,
			wantErr: wantErr{status: 422, code: httpx.CodeInvalid, field: "time"}},
		{name: "data is an array", in: `{"type":"order.updated","entity":{"type":"order","id":"1"},"data":[1]}`,
			wantErr: wantErr{status: 422, code: httpx.CodeInvalid, field: "data"}},
		{name: "schema: wrong type", in: `{"type":"order.placed","entity":{"type":"order","id":"1"},"data":{"total":"59.90"}}`,
			wantErr: wantErr{status: 422, code: httpx.CodeInvalid, field: "data.total", inMsg: "order.placed"}},
		{name: "schema: missing required member", in: `{"type":"order.placed","entity":{"type":"order","id":"1"},"data":{"currency":"EUR"}}`,
			wantErr: wantErr{status: 422, code: httpx.CodeInvalid, field: "data.total"}},
		{name: "schema: nested array item", in: `{"type":"order.placed","entity":{"type":"order","id":"1"},"data":{"total":3,"items":[{"sku":"A"},{"qty_ordered":1}]}}`,
			wantErr: wantErr{status: 422, code: httpx.CodeInvalid, field: "data.items[1].sku"}},
		{name: "empty batch", in: `{"events":[]}`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "events"}},
		{name: "events is not an array", in: `{"events":{"type":"order.placed"}}`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "events"}},
		{name: "batch over the limit", in: tooMany, wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "events", inMsg: "1001"}},
		{name: "batch: a 400 and a 422 give one 422 listing both", in: string(decFixture(t, "canonical_batch_two_bad.json")),
			wantErr: wantErr{status: 422, code: httpx.CodeInvalid, inMsg: "2 of 4", items: []httpx.ItemError{
				{Index: 1, Code: httpx.CodeMalformed, Field: "events[1].entity.id"},
				{Index: 3, Code: httpx.CodeInvalid, Field: "events[3].data.total"},
			}}},
		{name: "batch: two malformed items give a 400", in: `{"events":[{"entity":{"type":"order","id":"1"}},{"type":"order.updated","entity":{"type":"order","id":"1"}},{"type":"order.updated"}]}`,
			wantErr: wantErr{status: 400, code: httpx.CodeMalformed, items: []httpx.ItemError{
				{Index: 0, Code: httpx.CodeMalformed, Field: "events[0].type"},
				{Index: 2, Code: httpx.CodeMalformed, Field: "events[2].entity"},
			}}},
		{name: "batch: two unknown types give a do-not-retry 400", in: `{"events":[{"type":"a.b","entity":{"type":"order","id":"1"}},{"type":"c.d","entity":{"type":"order","id":"1"}}]}`,
			wantErr: wantErr{status: 400, code: httpx.CodeUnknownEventType, inMsg: "do not retry", items: []httpx.ItemError{
				{Index: 0, Code: httpx.CodeUnknownEventType, Field: "events[0].type"},
				{Index: 1, Code: httpx.CodeUnknownEventType, Field: "events[1].type"},
			}}},
		{name: "bare array batch fields have no name", in: `[{"type":"order.updated","entity":{"type":"order","id":"1"}},{"type":"order.updated","entity":{"type":"order"}}]`,
			wantErr: wantErr{status: 400, code: httpx.CodeMalformed, items: []httpx.ItemError{
				{Index: 1, Code: httpx.CodeMalformed, Field: "[1].entity.id"},
			}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ingest.Decoder{Source: decSource, Catalog: cat, Validator: v, Now: decNow}.Canonical([]byte(tc.in), tc.idem)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr.status == 0 {
				checkEvents(t, got, tc.want)
			} else if got != nil {
				t.Errorf("events returned with an error: %v", got)
			}
		})
	}
}

func TestParseCanonicalWithoutValidator(t *testing.T) {
	// A nil validator checks no schema.
	in := `{"type":"order.placed","entity":{"type":"order","id":"1"},"data":{"total":"59.90"}}`
	evs, err := ingest.Decoder{Source: decSource, Catalog: decCatalog(t), Now: decNow}.Canonical([]byte(in), "")
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v %v", evs, err)
	}
}

func TestParseAdobe(t *testing.T) {
	cat := decCatalog(t)
	v := ingest.NewDataValidator()
	adobe := func(fixture, typ, original, entity, id, uid string) (string, event.Event) {
		body := decFixture(t, fixture)
		return string(body), event.Event{
			Type: typ, Source: "shop-eu", Time: decNow, ReceivedAt: decNow,
			Entity: event.EntityRef{Type: entity, ID: id}, Data: valueOf(t, body, "data", "value"),
			IdempotencyKey: uid, Format: event.FormatAdobe, OriginalType: original,
			Attributes: map[string]string{"adobe_uid": uid},
		}
	}
	productIn, productEv := adobe("adobe_product_create.json", "product.created", "be-observer.catalog_product_create", "product", "PRODUCT_SKU", "event_uid_1")
	statusIn, statusEv := adobe("adobe_order_status.json", "order.status_changed", "be-observer.sales_order_status_update", "order", "000000042", "4c1e6a0b-7f8e-4d7e-9c1a-1f6f0d3b2a91")
	customerIn, customerEv := adobe("adobe_customer_update.json", "customer.updated", "be-observer.customer_update", "customer", "318", "cust-upd-9f2")
	stockIn, stockEv := adobe("adobe_stock_update.json", "stock.updated", "be-observer.catalog_stock_update", "stock", "24-MB01", "stock-4411")
	headerEv := productEv
	headerEv.IdempotencyKey = "retry-safe-1"

	tests := []struct {
		name    string
		in      string
		idem    string
		want    []event.Event
		wantErr wantErr
	}{
		{name: "product create from the starter-kit docs", in: productIn, want: []event.Event{productEv}},
		{name: "order status update keyed by increment_id", in: statusIn, want: []event.Event{statusEv}},
		{name: "customer update keyed by numeric entity_id", in: customerIn, want: []event.Event{customerEv}},
		{name: "stock update keyed by sku", in: stockIn, want: []event.Event{stockEv}},
		{name: "Idempotency-Key header wins over uid", in: productIn, idem: "retry-safe-1", want: []event.Event{headerEv}},
		{name: "no uid: no key", in: `{"data":{"event":"be-observer.customer_group_delete","value":{"id":3}}}`, want: []event.Event{{
			Type: "customer_group.deleted", Source: "shop-eu", Time: decNow, ReceivedAt: decNow,
			Entity: event.EntityRef{Type: "customer_group", ID: "3"}, Data: json.RawMessage(`{"id":3}`),
			Format: event.FormatAdobe, OriginalType: "be-observer.customer_group_delete"}}},

		{name: "not JSON", in: `{"data":`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed}},
		{name: "empty body", in: ` `, wantErr: wantErr{status: 400, code: httpx.CodeMalformed}},
		{name: "missing data", in: `{"uid":"x","event":"be-observer.catalog_product_create"}`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "data"}},
		{name: "missing event", in: `{"data":{"uid":"x","value":{"sku":"A"}}}`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "data.event"}},
		{name: "unknown event", in: `{"data":{"uid":"x","event":"be-observer.catalog_product_teleport","value":{"sku":"A"}}}`,
			wantErr: wantErr{status: 400, code: httpx.CodeUnknownEventType, field: "data.event", inMsg: "do not retry"}},
		{name: "missing value", in: `{"data":{"uid":"x","event":"be-observer.catalog_product_update"}}`, wantErr: wantErr{status: 422, code: httpx.CodeInvalid, field: "data.value"}},
		{name: "value is a string", in: `{"data":{"uid":"x","event":"be-observer.catalog_product_update","value":"SKU-1"}}`, wantErr: wantErr{status: 422, code: httpx.CodeInvalid, field: "data.value"}},
		{name: "no id in value", in: `{"data":{"uid":"x","event":"be-observer.sales_order_status_update","value":{"status":"complete"}}}`,
			wantErr: wantErr{status: 422, code: httpx.CodeInvalid, field: "data.value", inMsg: "increment_id"}},
		{name: "a product sku does not identify an order", in: `{"data":{"uid":"x","event":"be-observer.sales_order_status_update","value":{"sku":"A"}}}`,
			wantErr: wantErr{status: 422, code: httpx.CodeInvalid, field: "data.value"}},
		{name: "schema violation is under data.value", in: `{"data":{"uid":"x","event":"be-observer.catalog_product_create","value":{"sku":"A","price":"cheap"}}}`,
			wantErr: wantErr{status: 422, code: httpx.CodeInvalid, field: "data.value.price"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ingest.Decoder{Source: decSource, Catalog: cat, Validator: v, Now: decNow}.Adobe([]byte(tc.in), tc.idem)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr.status == 0 {
				checkEvents(t, got, tc.want)
			}
		})
	}
}

func TestParseCloudEvents(t *testing.T) {
	cat := decCatalog(t)
	v := ingest.NewDataValidator()
	akeneo := decFixture(t, "akeneo_product_deleted.json")
	akeneoEv := event.Event{
		ID: "018e32f9-dfe4-760e-a273-5da1c089dfdb", Type: "product.deleted", Source: "shop-eu",
		Time: time.Date(2024, 2, 22, 17, 31, 0, 0, time.UTC), ReceivedAt: decNow,
		Entity: event.EntityRef{Type: "product", ID: "9d1e8b5c-1f2a-4f0e-8a64-5b3c2d1e0f9a"}, Data: valueOf(t, akeneo, "data"),
		IdempotencyKey: "pim/018e32f9-dfe4-760e-a273-5da1c089dfdb", Format: event.FormatCloudEvents,
		OriginalType: "com.akeneo.pim.v1.product.deleted",
		Attributes: map[string]string{
			"ce_source": "pim", "ce_subject": "https://acme.cloud.akeneo.com",
			"ce_dataschema": "https://event.prd.sdk.akeneo.cloud/spec/com.akeneo.pim.v1.product.deleted.schema.json",
		},
	}
	withExt := strings.Replace(string(akeneo), `"specversion"`, `"entityid": "SKU-9", "partitionkey": 7, "specversion"`, 1)
	withExtEv := akeneoEv
	withExtEv.Entity.ID = "SKU-9"
	withExtEv.Attributes = map[string]string{"ce_entityid": "SKU-9", "ce_partitionkey": "7"}
	for k, val := range akeneoEv.Attributes {
		withExtEv.Attributes[k] = val
	}
	batch := decFixture(t, "akeneo_batch.json")
	var batchItems []json.RawMessage
	if err := json.Unmarshal(batch, &batchItems); err != nil {
		t.Fatal(err)
	}
	batchEv := func(i int, typ, original, entity, id, ceID string, tm time.Time) event.Event {
		return event.Event{ID: ceID, Type: typ, Source: "shop-eu", Time: tm, ReceivedAt: decNow,
			Entity: event.EntityRef{Type: entity, ID: id}, Data: valueOf(t, batchItems[i], "data"),
			IdempotencyKey: "pim/" + ceID, Format: event.FormatCloudEvents, OriginalType: original,
			Attributes: map[string]string{"ce_source": "pim", "ce_subject": "https://acme.cloud.akeneo.com"}}
	}
	binaryHeaders := map[string]string{
		"Content-Type": "application/json", "Ce-Specversion": "1.0", "Ce-Id": "7c1d", "Ce-Source": "urn:magento:eu",
		"Ce-Type": "order.placed", "Ce-Subject": "100012", "Ce-Time": "2024-11-29T09:00:00Z", "Ce-Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}
	binaryEv := event.Event{ID: "7c1d", Type: "order.placed", Source: "shop-eu", Time: time.Date(2024, 11, 29, 9, 0, 0, 0, time.UTC), ReceivedAt: decNow,
		Entity: event.EntityRef{Type: "order", ID: "100012"}, Data: json.RawMessage(`{"total":59.9}`), IdempotencyKey: "urn:magento:eu/7c1d",
		Format: event.FormatCloudEvents, OriginalType: "order.placed",
		Attributes: map[string]string{"ce_source": "urn:magento:eu", "ce_subject": "100012", "ce_traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	binaryThin := map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "9", "Ce-Source": "urn:magento:eu", "Ce-Type": "order.cancelled", "Ce-Subject": "100012"}
	structured := func(extra string) string {
		return `{"specversion":"1.0","id":"x1","source":"urn:shop","type":"order.updated","subject":"42"` + extra + `}`
	}
	const ceJSON = "application/cloudevents+json"
	const ceBatch = "application/cloudevents-batch+json"

	tests := []struct {
		name    string
		ct      string
		headers map[string]string
		in      string
		want    []event.Event
		wantErr wantErr
	}{
		{name: "Akeneo structured: id from data.product.uuid, not the PIM subject", ct: ceJSON, in: string(akeneo), want: []event.Event{akeneoEv}},
		{name: "structured sent as application/json", ct: "application/json; charset=utf-8", in: string(akeneo), want: []event.Event{akeneoEv}},
		{name: "entityid extension wins; extensions become attributes", ct: ceJSON, in: withExt, want: []event.Event{withExtEv}},
		{name: "binary mode", headers: binaryHeaders, in: `{"total":59.9}`, want: []event.Event{binaryEv}},
		{name: "binary mode without data is thin", headers: binaryThin, want: []event.Event{{ID: "9", Type: "order.cancelled", Source: "shop-eu",
			Time: decNow, ReceivedAt: decNow, Entity: event.EntityRef{Type: "order", ID: "100012"}, IdempotencyKey: "urn:magento:eu/9",
			Format: event.FormatCloudEvents, OriginalType: "order.cancelled", Attributes: map[string]string{"ce_source": "urn:magento:eu", "ce_subject": "100012"}}}},
		{name: "Akeneo batch", ct: ceBatch, in: string(batch), want: []event.Event{
			batchEv(0, "product_model.deleted", "com.akeneo.pim.v1.product-model.deleted", "product_model", "tshirt-unique-size", "5b2f6c1e-0d47-4a5b-9a53-4c7e1f2d3b10", time.Date(2024, 6, 10, 17, 31, 0, 0, time.UTC)),
			batchEv(1, "attribute.deleted", "com.akeneo.pim.v1.attribute.deleted", "attribute", "an-attribute-code", "b6f4add4-f3d1-4502-8cf0-0f228e054ce5", time.Date(2024, 6, 10, 17, 31, 1, 0, time.UTC)),
			batchEv(2, "category.deleted", "com.akeneo.pim.v1.category.deleted", "category", "summer_collection", "c0a8012e-3f4d-4e5b-8c6d-7e8f9a0b1c2d", decNow),
		}},

		{name: "text/plain is not CloudEvents", ct: "text/plain", in: string(akeneo), wantErr: wantErr{status: 415, code: httpx.CodeUnsupportedMedia}},
		{name: "unsupported CloudEvents format", ct: "application/cloudevents+xml", in: `<e/>`, wantErr: wantErr{status: 415, code: httpx.CodeUnsupportedMedia}},
		{name: "binary mode with XML data", headers: map[string]string{"Content-Type": "application/xml", "Ce-Specversion": "1.0", "Ce-Id": "1", "Ce-Source": "s", "Ce-Type": "order.updated", "Ce-Subject": "1"},
			in: `<order/>`, wantErr: wantErr{status: 415, code: httpx.CodeUnsupportedMedia, field: "datacontenttype"}},
		{name: "structured with XML data", ct: ceJSON, in: structured(`,"datacontenttype":"application/xml","data":"<order/>"`),
			wantErr: wantErr{status: 415, code: httpx.CodeUnsupportedMedia, field: "datacontenttype"}},
		{name: "malformed JSON", ct: ceJSON, in: `{"specversion":"1.0",`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed}},
		{name: "missing specversion", ct: ceJSON, in: `{"id":"1","source":"s","type":"order.updated","subject":"1"}`,
			wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "specversion"}},
		{name: "specversion 0.3", ct: ceJSON, in: `{"specversion":"0.3","id":"1","source":"s","type":"order.updated","subject":"1"}`,
			wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "specversion"}},
		{name: "missing id", ct: ceJSON, in: `{"specversion":"1.0","source":"s","type":"order.updated","subject":"1"}`,
			wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "id"}},
		{name: "binary mode missing ce-type", headers: map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "1", "Ce-Source": "s", "Ce-Subject": "1"},
			wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "type"}},
		{name: "unknown type", ct: ceJSON, in: `{"specversion":"1.0","id":"1","source":"s","type":"com.akeneo.pim.v1.teleport.done","subject":"1"}`,
			wantErr: wantErr{status: 400, code: httpx.CodeUnknownEventType, field: "type", inMsg: "do not retry"}},
		{name: "no entity id anywhere", ct: ceJSON, in: `{"specversion":"1.0","id":"1","source":"s","type":"order.updated","data":{"status":"complete"}}`,
			wantErr: wantErr{status: 422, code: httpx.CodeInvalid, field: "subject"}},
		{name: "data is an array", ct: ceJSON, in: structured(`,"data":[1,2]`), wantErr: wantErr{status: 422, code: httpx.CodeInvalid, field: "data"}},
		{name: "binary data is not JSON", headers: map[string]string{"Content-Type": "application/json", "Ce-Specversion": "1.0", "Ce-Id": "1", "Ce-Source": "s", "Ce-Type": "order.updated", "Ce-Subject": "1"},
			in: `{"total":`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed, field: "data"}},
		{name: "schema violation", ct: ceJSON, in: `{"specversion":"1.0","id":"1","source":"s","type":"order.placed","subject":"1","data":{"total":-1}}`,
			wantErr: wantErr{status: 422, code: httpx.CodeInvalid, field: "data.total"}},
		{name: "one-character data_base64 does not panic the SDK", ct: ceJSON, in: `{"data_base64":1,"specversion":"1.0","id":"x","source":"s","type":"order.updated","subject":"1"}`,
			wantErr: wantErr{status: 400, code: httpx.CodeMalformed}},
		{name: "empty batch", ct: ceBatch, in: `[]`, wantErr: wantErr{status: 400, code: httpx.CodeMalformed}},
		{name: "batch is not an array", ct: ceBatch, in: string(akeneo), wantErr: wantErr{status: 400, code: httpx.CodeMalformed}},
		{name: "batch: every bad item by index", ct: ceBatch,
			in: `[` + structured(``) + `,{"specversion":"1.0","source":"s","type":"order.updated","subject":"1"},` + structured(``) +
				`,{"specversion":"1.0","id":"1","source":"s","type":"order.placed","subject":"1","data":{"total":"x"}}]`,
			wantErr: wantErr{status: 422, code: httpx.CodeInvalid, items: []httpx.ItemError{
				{Index: 1, Code: httpx.CodeMalformed, Field: "[1].id"},
				{Index: 3, Code: httpx.CodeInvalid, Field: "[3].data.total"},
			}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/sources/shop-eu/cloudevents", strings.NewReader("already read"))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			for k, val := range tc.headers {
				r.Header.Set(k, val)
			}
			got, err := ingest.Decoder{Source: decSource, Catalog: cat, Validator: v, Now: decNow}.CloudEvents(r, []byte(tc.in))
			checkErr(t, err, tc.wantErr)
			if tc.wantErr.status == 0 {
				checkEvents(t, got, tc.want)
			}
		})
	}
}

func TestCheckJSONContentType(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{"", false},
		{"application/json", false},
		{"application/json; charset=utf-8", false},
		{"Application/JSON", false},
		{"application/vnd.magento.event+json", false},
		{"application/cloudevents+json", false},
		{"text/plain", true},
		{"application/xml", true},
		{"application/x-www-form-urlencoded", false}, // curl -d default; body still parsed as JSON
		{"multipart/form-data; boundary=x", true},
		{"text/json+xml", true},
		{"not a media type;;", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			err := ingest.CheckJSONContentType(tc.in)
			if !tc.wantErr {
				checkErr(t, err, wantErr{})
				return
			}
			checkErr(t, err, wantErr{status: 415, code: httpx.CodeUnsupportedMedia})
		})
	}
}

func ExampleDecoder_Canonical() {
	cat := catalog.New(catalog.Builtin()...)
	body := []byte(`{"type":"be-observer.catalog_product_update","entity":{"type":"product","id":"SKU-1"},"data":{"price":18.5}}`)
	evs, err := ingest.Decoder{Source: catalog.DefaultSource(), Catalog: cat, Now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}.Canonical(body, "req-1")
	if err != nil {
		fmt.Println(err)
		return
	}
	ev := evs[0]
	fmt.Println(ev.Type, ev.OriginalType, ev.Entity.Key(), ev.IdempotencyKey, string(ev.Data))
	// Output: product.updated be-observer.catalog_product_update product:SKU-1 req-1 {"price":18.5}
}

// TestDecodersKeepTheSendersIdentity: each format's own id, type and
// source of the event end in Origin, literally as the sender sent them.
func TestDecodersKeepTheSendersIdentity(t *testing.T) {
	cat := decCatalog(t)
	canonical, err := ingest.Decoder{Source: decSource, Catalog: cat, Now: decNow}.Canonical([]byte(`{"id":"ord-7-placed","source":"magento-eu","type":"order.placed","entity":{"type":"order","id":"7"},"data":{"total":5}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	adobe, err := ingest.Decoder{Source: decSource, Catalog: cat, Now: decNow}.Adobe([]byte(`{"data":{"uid":"evt-9","event":"be-observer.catalog_product_delete","value":{"sku":"SKU-9"}}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/sources/shop-eu/cloudevents", nil)
	r.Header.Set("Content-Type", "application/cloudevents+json")
	ce, err := ingest.Decoder{Source: decSource, Catalog: cat, Now: decNow}.CloudEvents(r, []byte(`{"specversion":"1.0","id":"a1","source":"urn:akeneo","type":"com.akeneo.pim.v1.family.deleted",
		"data":{"family":{"code":"shoes"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		got  event.Event
		want event.Origin
	}{
		{canonical[0], event.Origin{Format: "canonical", ID: "ord-7-placed", Type: "order.placed", Source: "magento-eu"}},
		{adobe[0], event.Origin{Format: "adobe", ID: "evt-9", Type: "be-observer.catalog_product_delete"}},
		{ce[0], event.Origin{Format: "cloudevents", ID: "a1", Type: "com.akeneo.pim.v1.family.deleted", Source: "urn:akeneo"}},
	} {
		if tc.got.Origin != tc.want {
			t.Errorf("%s event: origin %+v, want %+v", tc.got.Format, tc.got.Origin, tc.want)
		}
	}
}

// TestDeletionIdentifiers: Akeneo's six deletion types, as its Event
// Platform documents their payloads, and an Adobe Commerce product delete
// name the entity type and id a receiver of the deletion needs.
func TestDeletionIdentifiers(t *testing.T) {
	cat := decCatalog(t)
	akeneo := func(typ, data string) string {
		return `{"specversion":"1.0","id":"018e32f9-dfe4-760e-a273-5da1c089dfdb","type":"com.akeneo.pim.v1.` + typ + `","source":"pim",` +
			`"subject":"019256aa-7f77-7f58-bc8c-770f7e369c5b","time":"2024-02-22T17:31:00Z","datacontenttype":"application/json",` +
			`"data":{` + data + `,"author":{"identifier":"b238e9f7-fcec-45bd-9431-d43cd624b244","type":"user"}}}`
	}
	tests := []struct {
		name, in         string
		wantType, wantID string
		wantEntity       string
		wantErr          wantErr
	}{
		{name: "product by uuid", in: akeneo("product.deleted", `"product":{"uuid":"6a9f8486-2c36-4680-b87f-6f5f8f01b6cf"}`),
			wantType: "product.deleted", wantEntity: "product", wantID: "6a9f8486-2c36-4680-b87f-6f5f8f01b6cf"},
		{name: "product model by code", in: akeneo("product-model.deleted", `"product_model":{"code":"a-product-model-code"}`),
			wantType: "product_model.deleted", wantEntity: "product_model", wantID: "a-product-model-code"},
		{name: "category by code", in: akeneo("category.deleted", `"category":{"code":"category-1"}`),
			wantType: "category.deleted", wantEntity: "category", wantID: "category-1"},
		{name: "attribute by code", in: akeneo("attribute.deleted", `"attribute":{"code":"an-attribute-code"}`),
			wantType: "attribute.deleted", wantEntity: "attribute", wantID: "an-attribute-code"},
		{name: "attribute option by attribute and option code", in: akeneo("attribute-option.deleted", `"attribute_option":{"code":"an_attribute_option_code","attribute":{"code":"an_attribute_code"}}`),
			wantType: "attribute_option.deleted", wantEntity: "attribute_option", wantID: "an_attribute_code.an_attribute_option_code"},
		{name: "family by code", in: akeneo("family.deleted", `"family":{"code":"a_family_code"}`),
			wantType: "family.deleted", wantEntity: "family", wantID: "a_family_code"},
		{name: "attribute option without its attribute", in: akeneo("attribute-option.deleted", `"attribute_option":{"code":"red"}`),
			wantErr: wantErr{status: 422, code: httpx.CodeInvalid, field: "data.attribute_option.attribute.code", inMsg: "unique only within its attribute"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/sources/shop-eu/cloudevents", nil)
			r.Header.Set("Content-Type", "application/cloudevents+json")
			evs, err := ingest.Decoder{Source: decSource, Catalog: cat, Now: decNow}.CloudEvents(r, []byte(tc.in))
			checkErr(t, err, tc.wantErr)
			if tc.wantErr.status != 0 {
				return
			}
			if ev := evs[0]; ev.Type != tc.wantType || ev.Entity.Type != tc.wantEntity || ev.Entity.ID != tc.wantID {
				t.Errorf("got %s %s, want %s %s:%s", ev.Type, ev.Entity.Key(), tc.wantType, tc.wantEntity, tc.wantID)
			}
		})
	}

	// Adobe Commerce deletes a product by SKU, even when its value also
	// carries Magento's entity id.
	evs, err := ingest.Decoder{Source: decSource, Catalog: cat, Now: decNow}.Adobe([]byte(`{"data":{"uid":"d1","event":"be-observer.catalog_product_delete","value":{"entity_id":2041,"id":2041,"sku":"24-MB01"}}}`), "")
	if err != nil || evs[0].Type != "product.deleted" || evs[0].Entity.Key() != "product:24-MB01" {
		t.Errorf("Adobe product delete: %+v %v, want product.deleted of product:24-MB01", evs, err)
	}
	// Other entities keep their entity id first.
	evs, err = ingest.Decoder{Source: decSource, Catalog: cat, Now: decNow}.Adobe([]byte(`{"data":{"uid":"d2","event":"be-observer.customer_delete","value":{"entity_id":318,"email":"jane@example.com"}}}`), "")
	if err != nil || evs[0].Entity.Key() != "customer:318" {
		t.Errorf("Adobe customer delete: %+v %v, want customer:318", evs, err)
	}
}
