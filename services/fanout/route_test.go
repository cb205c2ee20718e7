package fanout

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/event"
)

func TestBodyIsTheDocumentedJSON(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 30, 0, 120_000_000, time.FixedZone("CET", 3600))
	ev := &event.EnrichedEvent{
		ID: "ev-1", Type: "order.placed", Source: "shop \"EU\"\n\t\x01", Time: at,
		Entity:        event.EntityRef{Type: "order", ID: "1000\\12 – ünïcode \xff"},
		EntityVersion: 7,
		Data:          json.RawMessage(`{"total": 59.9, "items":[{"sku":"A"}]}`),
		Changes:       []string{"total", "items"},
	}
	b := bodyOf(ev)
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, b)
	}
	want := map[string]any{
		"id":      "ev-1",
		"type":    "order.placed",
		"source":  "shop \"EU\"\n\t\x01",
		"time":    "2026-11-23T08:30:00.12Z",
		"entity":  map[string]any{"type": "order", "id": "1000\\12 – ünïcode \ufffd", "version": float64(7)},
		"data":    map[string]any{"total": 59.9, "items": []any{map[string]any{"sku": "A"}}},
		"changes": []any{"total", "items"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("body\n got %v\nwant %v", got, want)
	}

	// An event of no sender (derived by enrich): no origin; not a delete:
	// no deleted.
	for _, f := range []string{"origin", "deleted", "warnings"} {
		if _, ok := got[f]; ok {
			t.Fatalf("the body has %s: %s", f, b)
		}
	}

	// A deleted entity written before deletes carried data: data null, no
	// changes → an empty list, not null.
	b = bodyOf(&event.EnrichedEvent{ID: "ev-2", Type: "product.deleted", Entity: event.EntityRef{Type: "product", ID: "P"}, Deleted: true})
	got = nil
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["data"] != nil || !reflect.DeepEqual(got["changes"], []any{}) || got["deleted"] != true {
		t.Fatalf("deleted body %s", b)
	}
	if _, ok := got["warnings"]; ok {
		t.Fatalf("a body without warnings has a warnings field: %s", b)
	}

	// A delete from Akeneo: the last known data, deleted, and the sender's
	// identity.
	del := &event.EnrichedEvent{ID: "ev-3", Type: "product.deleted", Source: "akeneo", Time: at,
		Entity: event.EntityRef{Type: "product", ID: "SKU-1"}, EntityVersion: 3, Deleted: true,
		Data:    json.RawMessage(`{"sku":"SKU-1","product":{"uuid":"u-1"}}`),
		Changes: []string{"sku"},
		Origin: event.Origin{Format: "cloudevents", ID: "018e32f9 \"x\"", Type: "com.akeneo.pim.v1.product.deleted",
			Source: "pim\n\xff", EntityID: "u-1"},
	}
	b = bodyOf(del)
	got = nil
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, b)
	}
	wantDel := map[string]any{
		"id": "ev-3", "type": "product.deleted", "source": "akeneo", "time": "2026-11-23T08:30:00.12Z",
		"entity":  map[string]any{"type": "product", "id": "SKU-1", "version": float64(3)},
		"data":    map[string]any{"sku": "SKU-1", "product": map[string]any{"uuid": "u-1"}},
		"changes": []any{"sku"},
		"deleted": true,
		"origin": map[string]any{"format": "cloudevents", "id": "018e32f9 \"x\"", "type": "com.akeneo.pim.v1.product.deleted",
			"source": "pim\n\ufffd", "entity_id": "u-1"},
	}
	if !reflect.DeepEqual(got, wantDel) {
		t.Fatalf("delete body\n got %v\nwant %v", got, wantDel)
	}

	// What enrich could not use: listed after changes.
	ev.Warnings = []event.Warning{
		{Code: "line_item_skipped", Field: "data.items[0].qty", Message: `no quantity: want "qty"`},
		{Code: "not_loaded", Message: "ünï\\code\n\xff"},
	}
	b = bodyOf(ev)
	got = nil
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, b)
	}
	want["warnings"] = []any{
		map[string]any{"code": "line_item_skipped", "field": "data.items[0].qty", "message": `no quantity: want "qty"`},
		map[string]any{"code": "not_loaded", "field": "", "message": "ünï\\code\n\ufffd"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("body with warnings\n got %v\nwant %v", got, want)
	}
}

// FuzzAppendJSONString: whatever the string, the output is a JSON string
// that reads back as encoding/json's own encoding of it does.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "ctl\x00\x1f\x7f", "bad\xff\xfeutf8", "emoji 🛒", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mine := appendJSONString(nil, s)
		var got, want string
		if err := json.Unmarshal(mine, &got); err != nil {
			t.Fatalf("%q → %s: not a JSON string: %v", s, mine, err)
		}
		std, _ := json.Marshal(s)
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%q → %q, encoding/json gives %q", s, got, want)
		}
	})
}

func TestDeliveryIDIsStablePerPair(t *testing.T) {
	a, b := DeliveryID("ev-1", "sub_a"), DeliveryID("ev-1", "sub_a")
	if a != b || len(a) != 36 {
		t.Fatalf("ids %q %q", a, b)
	}
	for _, other := range []string{DeliveryID("ev-1", "sub_b"), DeliveryID("ev-2", "sub_a"), DeliveryID("ev-1s", "ub_a")} {
		if other == a {
			t.Fatalf("different pairs share id %q", a)
		}
	}
}
