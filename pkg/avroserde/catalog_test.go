package avroserde_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/schemas"
)

var (
	sampleSource = catalog.Source{
		ID: "magento-eu",
		Signature: &catalog.Signature{
			Scheme:     catalog.SchemeStandardWebhooks,
			Secret:     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
			ToleranceS: 120,
		},
		Loaders: map[string]catalog.Loader{
			"order": {URL: "https://shop.example/rest/V1/orders/{id}", Headers: map[string]string{"Authorization": "Bearer t"}, TimeoutMS: 1500, CacheTTLS: 60},
		},
		Identity: map[string]catalog.IdentityRule{
			"product":  {Field: "data.product.identifier", Aliases: true},
			"category": {Aliases: true},
		},
	}
	sampleAlias = catalog.EntityAlias{
		Source: "akeneo", EntityType: "product", SenderID: "6a9f8486-2c36-4680-b87f-6f5f8f01b6cf", EntityID: "24-MB01",
		UpdatedAt: time.Date(2025, 7, 15, 9, 41, 12, 519e6, time.UTC),
	}
	sampleEventType = catalog.EventType{
		Name:       "order.placed",
		EntityType: "order",
		Aliases:    []string{"be-observer.sales_order_place_after"},
		DataSchema: json.RawMessage(`{"type":"object","required":["increment_id"]}`),
	}
)

func TestCatalogCodecs(t *testing.T) {
	fake, reg := newRegistry(t)
	url := fake.URL()
	t.Run("source", func(t *testing.T) { roundTrip(t, reg, url, avroserde.NewSourceCodec, topics.Sources, sampleSource) })
	t.Run("unsigned source", func(t *testing.T) {
		roundTrip(t, reg, url, avroserde.NewSourceCodec, topics.Sources, catalog.DefaultSource())
	})
	t.Run("event type", func(t *testing.T) {
		roundTrip(t, reg, url, avroserde.NewEventTypeCodec, topics.EventTypes, sampleEventType)
	})
	t.Run("entity alias", func(t *testing.T) {
		roundTrip(t, reg, url, avroserde.NewEntityAliasCodec, topics.EntityAliases, sampleAlias)
	})

	// Each codec registered its own schema under its topic's subject.
	for topic, schema := range map[string]string{topics.Sources: schemas.Source, topics.EventTypes: schemas.EventType, topics.EntityAliases: schemas.EntityAlias} {
		ss, ok := fake.GetSchema(topics.Subject(topic), 1)
		if !ok {
			t.Fatalf("no version 1 under subject %s", topics.Subject(topic))
		}
		if ss.Schema.Schema != schemas.MustText(schema) {
			t.Errorf("subject %s holds %.60q..., want the %s schema", topics.Subject(topic), ss.Schema.Schema, schema)
		}
	}

	// A source record is not an event type.
	ctx := context.Background()
	sources := avroserde.NewSourceCodec(reg, topics.Sources)
	if err := sources.Register(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := sources.Encode(sampleSource)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := avroserde.NewEventTypeCodec(reg, topics.EventTypes).Decode(ctx, b); !errors.Is(err, avroserde.ErrUndecodable) {
		t.Errorf("decoding a Source as an EventType: error = %v, want ErrUndecodable", err)
	}
}
