package catalog_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/surgehq/surge/pkg/avrowire/avrotest"
	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/schemas"
)

func TestSourceNativeRoundTrip(t *testing.T) {
	avrotest.NativeRoundTrips(t, schemas.Source, catalog.Source.Native, catalog.SourceFromNative, []avrotest.Named[catalog.Source]{
		{
			Name: "standard webhooks with loaders",
			Value: catalog.Source{
				ID: "magento-eu",
				Signature: &catalog.Signature{
					Scheme:     catalog.SchemeStandardWebhooks,
					Secret:     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
					ToleranceS: 120,
				},
				Loaders: map[string]catalog.Loader{
					"order": {
						URL:       "https://shop.example/rest/V1/orders/{id}",
						Headers:   map[string]string{"Authorization": "Bearer 3f9c2a7d", "X-Store": "eu"},
						TimeoutMS: 1500,
						CacheTTLS: 60,
					},
					"product": {URL: "https://shop.example/rest/V1/products/{id}"},
				},
			},
		},
		{
			Name: "hmac with timestamp header, no loaders",
			Value: catalog.Source{
				ID: "akeneo",
				Signature: &catalog.Signature{
					Scheme:          catalog.SchemeHMACSHA256Base64,
					Header:          "X-Akeneo-Signature",
					Secret:          "kq3Vb9xT2mLr7NwZ4cHs8YpJ",
					TimestampHeader: "X-Akeneo-Timestamp",
				},
			},
		},
		{
			Name: "unsigned with a loader",
			Value: catalog.Source{
				ID:            "default",
				AllowUnsigned: true,
				Loaders:       map[string]catalog.Loader{"stock": {URL: "http://127.0.0.1:9000/stock/{id}", TimeoutMS: 250}},
			},
		},
		{
			Name:  "unsigned, nothing else",
			Value: catalog.Source{ID: "default", AllowUnsigned: true},
		},
		{
			Name: "identity rules",
			Value: catalog.Source{ID: "akeneo", AllowUnsigned: true, Identity: map[string]catalog.IdentityRule{
				"product":          {Field: "data.product.identifier", Aliases: true},
				"category":         {Aliases: true},
				"attribute_option": {Field: "data.attribute_option.code"},
			}},
		},
		{
			Name:  "the default source",
			Value: catalog.DefaultSource(),
		},
	})
}

func TestEntityAliasNativeRoundTrip(t *testing.T) {
	avrotest.NativeRoundTrips(t, schemas.EntityAlias, catalog.EntityAlias.Native, catalog.EntityAliasFromNative, []avrotest.Named[catalog.EntityAlias]{
		{
			Name: "product alias",
			Value: catalog.EntityAlias{Source: "akeneo", EntityType: "product", SenderID: "6a9f8486-2c36-4680-b87f-6f5f8f01b6cf", EntityID: "24-MB01",
				UpdatedAt: time.Date(2025, 7, 15, 9, 41, 12, 519e6, time.UTC)},
		},
		{Name: "no time, unicode id", Value: catalog.EntityAlias{Source: "s", EntityType: "family", SenderID: "a/b c", EntityID: "日本語"}},
	})
}

func TestEventTypeNativeRoundTrip(t *testing.T) {
	tests := []avrotest.Named[catalog.EventType]{
		{
			Name: "with a data schema",
			Value: catalog.EventType{
				Name:        "order.placed",
				EntityType:  "order",
				Aliases:     []string{"be-observer.sales_order_place_after", "com.example.order.created"},
				Description: "A customer placed an order.",
				DataSchema:  json.RawMessage(`{"type": "object", "required": ["increment_id"], "properties": {"grand_total": {"type": "number"}}}`),
			},
		},
		{
			Name:  "a delete type without aliases or schema",
			Value: catalog.EventType{Name: "customer.deleted", EntityType: "customer", Delete: true},
		},
		{
			Name:  "boolean schema, any entity type",
			Value: catalog.EventType{Name: "custom.ping", DataSchema: json.RawMessage(`true`)},
		},
	}
	for _, et := range catalog.Builtin() {
		tests = append(tests, avrotest.Named[catalog.EventType]{Name: "builtin " + et.Name, Value: et})
	}
	avrotest.NativeRoundTrips(t, schemas.EventType, catalog.EventType.Native, catalog.EventTypeFromNative, tests)
}

// TestFromNativeDefaults reads records written with fewer fields (an older
// schema): what is missing takes its default.
func TestFromNativeDefaults(t *testing.T) {
	avrotest.CheckValues(t, []avrotest.ValueCase{
		{
			Name: "source with a null signature",
			Got:  avrotest.ResultOf(catalog.SourceFromNative(map[string]any{"id": "s1", "signature": nil})),
			Want: catalog.Source{ID: "s1"},
		},
		{
			Name: "source of an older writer",
			Got: avrotest.ResultOf(catalog.SourceFromNative(map[string]any{
				"id": "s2",
				// A bare record and int fields, as an older writer might give.
				"signature": map[string]any{"scheme": catalog.SchemeHMACSHA256Hex, "secret": "k", "tolerance_s": int32(30)},
				"loaders":   map[string]any{"order": map[string]any{"url": "https://x.example/{id}"}},
			})),
			Want: catalog.Source{
				ID:        "s2",
				Signature: &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex, Secret: "k", ToleranceS: 30},
				Loaders:   map[string]catalog.Loader{"order": {URL: "https://x.example/{id}"}},
			},
		},
		{
			Name: "event type with a name only",
			Got:  avrotest.ResultOf(catalog.EventTypeFromNative(map[string]any{"name": "order.placed"})),
			Want: catalog.EventType{Name: "order.placed"},
		},
	})
}

func TestFromNativeErrors(t *testing.T) {
	avrotest.CheckErrors(t, []avrotest.ErrorCase{
		{Name: "source not a record", Err: avrotest.ErrOf(catalog.SourceFromNative("magento")), Want: "decoding Source: want record, got string"},
		{Name: "event type nil", Err: avrotest.ErrOf(catalog.EventTypeFromNative(nil)), Want: "decoding EventType: want record, got <nil>"},
		{
			Name: "signature field",
			Err: avrotest.ErrOf(catalog.SourceFromNative(map[string]any{"id": "s",
				"signature": goavro.Union("dev.surge.v1.Signature", map[string]any{"scheme": "hmac-sha256-hex", "secret": int64(7)})})),
			Want: "decoding Source.signature.secret: want string, got int64",
		},
		{Name: "signature not a record", Err: avrotest.ErrOf(catalog.SourceFromNative(map[string]any{"signature": "hmac"})), Want: "decoding Source.signature: want record, got string"},
		{
			Name: "loader header",
			Err: avrotest.ErrOf(catalog.SourceFromNative(map[string]any{"loaders": map[string]any{
				"order": map[string]any{"url": "https://x.example/{id}", "headers": map[string]any{"A": "ok", "B": 2}},
			}})),
			Want: `decoding Source.loaders["order"].headers["B"]: want string, got int`,
		},
		{
			Name: "loader timeout",
			Err: avrotest.ErrOf(catalog.SourceFromNative(map[string]any{"loaders": map[string]any{
				"order": map[string]any{"url": "https://x.example/{id}", "timeout_ms": "2s"},
			}})),
			Want: `decoding Source.loaders["order"].timeout_ms: want long, got string`,
		},
		{Name: "loaders not a map", Err: avrotest.ErrOf(catalog.SourceFromNative(map[string]any{"loaders": []any{"order"}})), Want: "decoding Source.loaders: want map of records, got []interface {}"},
		{Name: "allow_unsigned", Err: avrotest.ErrOf(catalog.SourceFromNative(map[string]any{"allow_unsigned": "yes"})), Want: "decoding Source.allow_unsigned: want boolean, got string"},
		{Name: "alias", Err: avrotest.ErrOf(catalog.EventTypeFromNative(map[string]any{"name": "order.placed", "aliases": []any{"a", 1.5}})), Want: "decoding EventType.aliases[1]: want string, got float64"},
		{Name: "data schema", Err: avrotest.ErrOf(catalog.EventTypeFromNative(map[string]any{"data_schema": []byte("{}")})), Want: "decoding EventType.data_schema: want string, got []uint8"},
		{Name: "alias updated_at", Err: avrotest.ErrOf(catalog.EntityAliasFromNative(map[string]any{"updated_at": "yesterday"})), Want: "decoding EntityAlias.updated_at: want timestamp, got string"},
	})
}

func ExampleSourceFromNative() {
	src := catalog.Source{
		ID:        "magento-eu",
		Signature: &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex, Secret: "s3cret"},
	}
	native := src.Native()
	fmt.Println(native["signature"].(map[string]any)["dev.surge.v1.Signature"].(map[string]any)["scheme"])

	back, err := catalog.SourceFromNative(native)
	fmt.Println(back.ID, back.Signature.Scheme, err)
	// Output:
	// hmac-sha256-hex
	// magento-eu hmac-sha256-hex <nil>
}
