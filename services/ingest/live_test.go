package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/store"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/services/ingest"
)

// TestSourcesAndEventTypesChangeWithoutRestart: a running ingest with no
// sources or catalog given tails the tables the admin API writes. A new
// signed source, a changed secret, a new event type with a data schema,
// and a deleted source all apply to the next request.
func TestSourcesAndEventTypesChangeWithoutRestart(t *testing.T) {
	h := newHarness(t, nil)
	h.stop()
	h.deps = ingest.Deps{}
	h.start()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := store.Options{
		Names:      topics.Namer{Prefix: h.Prefix},
		ClientOpts: kafkax.ClientOpts(h.cfg.Kafka, nil),
		Registry:   h.Registry,
		Writable:   true,
	}
	admin, err := store.OpenLive(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	body := []byte(orderPlaced)
	signed := func(secret string) map[string]string {
		return map[string]string{"X-Shop-Signature": hmacHex(secret, body)}
	}
	// Within a second, as the issue asks; a fetch usually brings it in ms.
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("not within 1 s: %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	if r := h.post("/v1/sources/shop/events", "application/json", body, signed("k1")); r.status != 404 {
		t.Fatalf("before the source exists: %d, want 404", r.status)
	}
	shop := catalog.Source{ID: "shop", Signature: &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex, Header: "X-Shop-Signature", Secret: "k1"}}
	if err := admin.SourceTable().Put(ctx, "shop", shop); err != nil {
		t.Fatal(err)
	}
	eventually("the new source takes a signed request", func() bool {
		return h.post("/v1/sources/shop/events", "application/json", body, signed("k1")).status == 202
	})
	shop.Signature.Secret = "k2"
	if err := admin.SourceTable().Put(ctx, "shop", shop); err != nil {
		t.Fatal(err)
	}
	eventually("the rotated secret replaces the old one", func() bool {
		return h.post("/v1/sources/shop/events", "application/json", body, signed("k1")).status == 401 &&
			h.post("/v1/sources/shop/events", "application/json", body, signed("k2")).status == 202
	})

	loyalty := []byte(`{"type":"loyalty.points_earned","entity":{"type":"customer","id":"C1"},"data":{"points":"ten"}}`)
	if r := h.post("/v1/events", "application/json", loyalty, nil); r.status != 400 {
		t.Fatalf("an unknown type: %d, want 400", r.status)
	}
	et := catalog.EventType{Name: "loyalty.points_earned", EntityType: "customer",
		DataSchema: []byte(`{"type":"object","properties":{"points":{"type":"integer"}},"required":["points"]}`)}
	if err := admin.EventTypeTable().Put(ctx, et.Name, et); err != nil {
		t.Fatal(err)
	}
	eventually("the new type is known and its data schema enforced", func() bool {
		return h.post("/v1/events", "application/json", loyalty, nil).status == 422
	})
	good := []byte(`{"type":"loyalty.points_earned","entity":{"type":"customer","id":"C1"},"data":{"points":10}}`)
	if r := h.post("/v1/events", "application/json", good, nil); r.status != 202 {
		t.Fatalf("a valid event of the new type: %d %v", r.status, r.body)
	}

	if err := admin.SourceTable().Delete(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	eventually("the deleted source is gone", func() bool {
		return h.post("/v1/sources/shop/events", "application/json", body, signed("k2")).status == 404
	})
}
