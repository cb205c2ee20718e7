package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/registry/registrytest"
	"github.com/surgehq/surge/pkg/store"
	"github.com/surgehq/surge/pkg/topics"
)

func options(t *testing.T, writable bool) store.Options {
	t.Helper()
	kc := kafkatest.New(t)
	url := registrytest.Start(t, kc.Brokers, kc.Topic("_schemas"))
	kcfg := config.Kafka{Brokers: kc.Brokers, TopicPrefix: kc.Prefix, Partitions: 2, ReplicationFactor: 1}
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := kafkax.EnsureTopics(context.Background(), kadm.NewClient(cl), kcfg, time.Hour); err != nil {
		t.Fatal(err)
	}
	srCl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	o := store.Options{
		Names:      topics.Namer{Prefix: kc.Prefix},
		ClientOpts: kafkax.ClientOpts(kcfg, nil),
		Registry:   avroserde.NewRegistry(srCl),
		Writable:   writable,
	}
	return o
}

// TestEventTypesKeepTheCatalogCurrent: a reader's catalog starts as the
// built-ins, takes a new type and an override of a built-in written by
// another process, and keeps them after a restart.
func TestEventTypesKeepTheCatalogCurrent(t *testing.T) {
	o := options(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	writer, err := store.EventTypes(ctx, o, catalog.New())
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	ro := o
	ro.Writable = false
	readerCat := catalog.New()
	reader, err := store.EventTypes(ctx, ro, readerCat)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if _, ok := readerCat.Lookup("order.placed"); !ok {
		t.Fatal("a fresh catalog lacks the built-in order.placed")
	}
	if _, ok := readerCat.Lookup("loyalty.points_earned"); ok {
		t.Fatal("an unknown type is known")
	}

	custom := catalog.EventType{Name: "loyalty.points_earned", EntityType: "customer", Aliases: []string{"mage.loyalty_earned"}}
	if err := writer.Put(ctx, custom.Name, custom); err != nil {
		t.Fatal(err)
	}
	override := catalog.EventType{Name: "order.placed", EntityType: "order", Description: "overridden", DataSchema: []byte(`{"type":"object","required":["total"]}`)}
	if err := writer.Put(ctx, override.Name, override); err != nil {
		t.Fatal(err)
	}
	if err := reader.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if et, ok := readerCat.Lookup("mage.loyalty_earned"); !ok || et.Name != custom.Name {
		t.Fatalf("the new type's alias resolves to %+v, %v", et, ok)
	}
	if et, _ := readerCat.Lookup("order.placed"); et.Description != "overridden" || len(et.DataSchema) == 0 {
		t.Fatalf("order.placed = %+v, want the stored override", et)
	}

	// A type whose data schema does not compile (accepted by an older
	// admin API) is left out; the other stored types stay in force.
	broken := catalog.EventType{Name: "loyalty.points_spent", DataSchema: []byte(`{"type":0}`)}
	later := catalog.EventType{Name: "loyalty.tier_changed", EntityType: "customer"}
	for _, et := range []catalog.EventType{broken, later} {
		if err := writer.Put(ctx, et.Name, et); err != nil {
			t.Fatal(err)
		}
	}
	if err := reader.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := readerCat.Lookup(broken.Name); ok {
		t.Fatal("a type whose schema does not compile is in the catalog")
	}
	if _, ok := readerCat.Lookup(later.Name); !ok {
		t.Fatal("a broken stored type keeps types stored after it out of the catalog")
	}
	if _, ok := readerCat.Lookup("product.updated"); !ok {
		t.Fatal("an override dropped the other built-ins")
	}

	// Deleting the override brings the built-in back.
	if err := writer.Delete(ctx, "order.placed"); err != nil {
		t.Fatal(err)
	}
	if err := reader.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if et, _ := readerCat.Lookup("order.placed"); et.Description == "overridden" {
		t.Fatal("the deleted override is still in force")
	}

	// A process started later has the stored types at once.
	lateCat := catalog.New()
	late, err := store.EventTypes(ctx, ro, lateCat)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if _, ok := lateCat.Lookup("loyalty.points_earned"); !ok {
		t.Fatal("a restarted reader lost the stored type")
	}
}

// TestSourcesOverrideTheFallback: the stored source wins over the built-in
// default; unknown ids fall through to the fallback.
func TestSourcesOverrideTheFallback(t *testing.T) {
	o := options(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tb, err := store.Sources(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	lookup := store.SourceLookup{Table: tb, Fallback: catalog.StaticSources{catalog.DefaultSourceID: catalog.DefaultSource()}}
	if s, ok := lookup.Source("default"); !ok || !s.AllowUnsigned {
		t.Fatalf("default before any write: %+v %v", s, ok)
	}
	signed := catalog.Source{ID: "default", Signature: &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex, Secret: "s3cret"}}
	if err := tb.Put(ctx, signed.ID, signed); err != nil {
		t.Fatal(err)
	}
	shop := catalog.Source{ID: "shop-eu", AllowUnsigned: true, Loaders: map[string]catalog.Loader{"order": {URL: "https://shop.example/rest/V1/orders/{id}", TimeoutMS: 1500}}}
	if err := tb.Put(ctx, shop.ID, shop); err != nil {
		t.Fatal(err)
	}
	if s, _ := lookup.Source("default"); s.Signature == nil || s.AllowUnsigned {
		t.Fatalf("default after the write: %+v, want the signed one", s)
	}
	if s, ok := lookup.Source("shop-eu"); !ok || s.Loaders["order"].TimeoutMS != 1500 {
		t.Fatalf("shop-eu: %+v %v", s, ok)
	}
	if _, ok := lookup.Source("nobody"); ok {
		t.Fatal("an unknown source resolved")
	}
}

// TestAliasLookupSeesAnotherProcessesWriteAtOnce: an alias the admin API
// (another table on the topic) stored is found by a reader's next lookup,
// without waiting for its tail; a deleted alias is gone once the tail has
// it.
func TestAliasLookupSeesAnotherProcessesWriteAtOnce(t *testing.T) {
	o := options(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	writer, err := store.Aliases(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	ro := o
	ro.Writable = false
	reader, err := store.Aliases(ctx, ro)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	lookup := store.AliasLookup{Table: reader}
	if _, ok, err := lookup.Alias(ctx, "akeneo", "product", "u1"); ok || err != nil {
		t.Fatalf("before any write: %v %v", ok, err)
	}
	for i := range 20 {
		a := catalog.EntityAlias{Source: "akeneo", EntityType: "product", SenderID: fmt.Sprintf("u%d", i), EntityID: fmt.Sprintf("SKU-%d", i)}
		if err := writer.Put(ctx, a.Key(), a); err != nil {
			t.Fatal(err)
		}
		// Right after the write returned: the reader's tail may not have
		// it yet, the lookup must.
		if id, ok, err := lookup.Alias(ctx, "akeneo", "product", a.SenderID); id != a.EntityID || !ok || err != nil {
			t.Fatalf("alias %d right after its write: %q %v %v", i, id, ok, err)
		}
	}
	if _, ok, _ := lookup.Alias(ctx, "akeneo", "category", "u1"); ok {
		t.Fatal("an alias of another entity type matched")
	}
	if _, ok, _ := lookup.Alias(ctx, "magento", "product", "u1"); ok {
		t.Fatal("an alias of another source matched")
	}
	// A delete (like a change) applies within one fetch of the tail: a
	// hit is not re-checked.
	if err := writer.Delete(ctx, catalog.AliasKey("akeneo", "product", "u3")); err != nil {
		t.Fatal(err)
	}
	if err := reader.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := lookup.Alias(ctx, "akeneo", "product", "u3"); ok {
		t.Fatal("a deleted alias still resolves")
	}
}
