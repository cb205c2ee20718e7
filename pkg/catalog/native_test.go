package catalog_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/schemas"
)

// avroRoundTrip converts v to native form, encodes it to Avro binary with
// the schema text from the schemas module, decodes it and converts it back.
func avroRoundTrip[T any](t *testing.T, schema string, v T, toNative func(T) map[string]any, fromNative func(any) (T, error)) T {
	t.Helper()
	c, err := goavro.NewCodec(schemas.MustText(schema))
	if err != nil {
		t.Fatalf("parsing schema %s: %v", schema, err)
	}
	bin, err := c.BinaryFromNative(nil, toNative(v))
	if err != nil {
		t.Fatalf("encoding: %v", err)
	}
	native, rest, err := c.NativeFromBinary(bin)
	if err != nil {
		t.Fatalf("decoding: %v", err)
	}
	if len(rest) != 0 {
		t.Fatalf("decoding: %d bytes left over", len(rest))
	}
	got, err := fromNative(native)
	if err != nil {
		t.Fatalf("converting from native: %v", err)
	}
	return got
}

func TestSourceNativeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   catalog.Source
	}{
		{
			name: "standard webhooks with loaders",
			in: catalog.Source{
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
			name: "hmac with timestamp header, no loaders",
			in: catalog.Source{
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
			name: "unsigned with a loader",
			in: catalog.Source{
				ID:            "default",
				AllowUnsigned: true,
				Loaders:       map[string]catalog.Loader{"stock": {URL: "http://127.0.0.1:9000/stock/{id}", TimeoutMS: 250}},
			},
		},
		{
			name: "unsigned, nothing else",
			in:   catalog.Source{ID: "default", AllowUnsigned: true},
		},
		{
			name: "identity rules",
			in: catalog.Source{ID: "akeneo", AllowUnsigned: true, Identity: map[string]catalog.IdentityRule{
				"product":          {Field: "data.product.identifier", Aliases: true},
				"category":         {Aliases: true},
				"attribute_option": {Field: "data.attribute_option.code"},
			}},
		},
		{
			name: "the default source",
			in:   catalog.DefaultSource(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := avroRoundTrip(t, schemas.Source, tt.in, catalog.Source.Native, catalog.SourceFromNative)
			if !reflect.DeepEqual(got, tt.in) {
				t.Errorf("\n got: %#v\nwant: %#v", got, tt.in)
			}
			if (got.Signature == nil) != (tt.in.Signature == nil) {
				t.Errorf("signature presence changed: got %v", got.Signature)
			}
		})
	}
}

func TestEntityAliasNativeRoundTrip(t *testing.T) {
	for _, in := range []catalog.EntityAlias{
		{Source: "akeneo", EntityType: "product", SenderID: "6a9f8486-2c36-4680-b87f-6f5f8f01b6cf", EntityID: "24-MB01",
			UpdatedAt: time.Date(2025, 7, 15, 9, 41, 12, 519e6, time.UTC)},
		{Source: "s", EntityType: "family", SenderID: "a/b c", EntityID: "日本語"},
	} {
		got := avroRoundTrip(t, schemas.EntityAlias, in, catalog.EntityAlias.Native, catalog.EntityAliasFromNative)
		if !reflect.DeepEqual(got, in) {
			t.Errorf("\n got: %#v\nwant: %#v", got, in)
		}
	}
	if _, err := catalog.EntityAliasFromNative(map[string]any{"updated_at": "yesterday"}); err == nil ||
		err.Error() != "decoding EntityAlias.updated_at: want timestamp, got string" {
		t.Errorf("a bad updated_at: %v", err)
	}
}

func TestEventTypeNativeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   catalog.EventType
	}{
		{
			name: "with a data schema",
			in: catalog.EventType{
				Name:        "order.placed",
				EntityType:  "order",
				Aliases:     []string{"be-observer.sales_order_place_after", "com.example.order.created"},
				Description: "A customer placed an order.",
				DataSchema:  json.RawMessage(`{"type": "object", "required": ["increment_id"], "properties": {"grand_total": {"type": "number"}}}`),
			},
		},
		{
			name: "a delete type without aliases or schema",
			in:   catalog.EventType{Name: "customer.deleted", EntityType: "customer", Delete: true},
		},
		{
			name: "boolean schema, any entity type",
			in:   catalog.EventType{Name: "custom.ping", DataSchema: json.RawMessage(`true`)},
		},
	}
	for _, et := range catalog.Builtin() {
		tests = append(tests, struct {
			name string
			in   catalog.EventType
		}{"builtin " + et.Name, et})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := avroRoundTrip(t, schemas.EventType, tt.in, catalog.EventType.Native, catalog.EventTypeFromNative)
			if !reflect.DeepEqual(got, tt.in) {
				t.Errorf("\n got: %#v\nwant: %#v", got, tt.in)
			}
		})
	}
}

// TestFromNativeDefaults reads records written with fewer fields (an older
// schema): what is missing takes its default.
func TestFromNativeDefaults(t *testing.T) {
	src, err := catalog.SourceFromNative(map[string]any{"id": "s1", "signature": nil})
	if err != nil {
		t.Fatal(err)
	}
	if want := (catalog.Source{ID: "s1"}); !reflect.DeepEqual(src, want) {
		t.Errorf("source: got %#v, want %#v", src, want)
	}

	src, err = catalog.SourceFromNative(map[string]any{
		"id": "s2",
		// A bare record and int fields, as an older writer might give.
		"signature": map[string]any{"scheme": catalog.SchemeHMACSHA256Hex, "secret": "k", "tolerance_s": int32(30)},
		"loaders":   map[string]any{"order": map[string]any{"url": "https://x.example/{id}"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := catalog.Source{
		ID:        "s2",
		Signature: &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex, Secret: "k", ToleranceS: 30},
		Loaders:   map[string]catalog.Loader{"order": {URL: "https://x.example/{id}"}},
	}
	if !reflect.DeepEqual(src, want) {
		t.Errorf("source: got %#v, want %#v", src, want)
	}

	et, err := catalog.EventTypeFromNative(map[string]any{"name": "order.placed"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (catalog.EventType{Name: "order.placed"}); !reflect.DeepEqual(et, want) {
		t.Errorf("event type: got %#v, want %#v", et, want)
	}
}

func TestFromNativeErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      func() error
		wantErr string
	}{
		{
			name:    "source not a record",
			in:      func() error { _, err := catalog.SourceFromNative("magento"); return err },
			wantErr: "decoding Source: want record, got string",
		},
		{
			name:    "event type nil",
			in:      func() error { _, err := catalog.EventTypeFromNative(nil); return err },
			wantErr: "decoding EventType: want record, got <nil>",
		},
		{
			name: "signature field",
			in: func() error {
				_, err := catalog.SourceFromNative(map[string]any{"id": "s",
					"signature": goavro.Union("dev.surge.v1.Signature", map[string]any{"scheme": "hmac-sha256-hex", "secret": int64(7)})})
				return err
			},
			wantErr: "decoding Source.signature.secret: want string, got int64",
		},
		{
			name: "signature not a record",
			in: func() error {
				_, err := catalog.SourceFromNative(map[string]any{"signature": "hmac"})
				return err
			},
			wantErr: "decoding Source.signature: want record, got string",
		},
		{
			name: "loader header",
			in: func() error {
				_, err := catalog.SourceFromNative(map[string]any{"loaders": map[string]any{
					"order": map[string]any{"url": "https://x.example/{id}", "headers": map[string]any{"A": "ok", "B": 2}},
				}})
				return err
			},
			wantErr: `decoding Source.loaders["order"].headers["B"]: want string, got int`,
		},
		{
			name: "loader timeout",
			in: func() error {
				_, err := catalog.SourceFromNative(map[string]any{"loaders": map[string]any{
					"order": map[string]any{"url": "https://x.example/{id}", "timeout_ms": "2s"},
				}})
				return err
			},
			wantErr: `decoding Source.loaders["order"].timeout_ms: want long, got string`,
		},
		{
			name: "loaders not a map",
			in: func() error {
				_, err := catalog.SourceFromNative(map[string]any{"loaders": []any{"order"}})
				return err
			},
			wantErr: "decoding Source.loaders: want map of records, got []interface {}",
		},
		{
			name: "allow_unsigned",
			in: func() error {
				_, err := catalog.SourceFromNative(map[string]any{"allow_unsigned": "yes"})
				return err
			},
			wantErr: "decoding Source.allow_unsigned: want boolean, got string",
		},
		{
			name: "alias",
			in: func() error {
				_, err := catalog.EventTypeFromNative(map[string]any{"name": "order.placed", "aliases": []any{"a", 1.5}})
				return err
			},
			wantErr: "decoding EventType.aliases[1]: want string, got float64",
		},
		{
			name: "data schema",
			in: func() error {
				_, err := catalog.EventTypeFromNative(map[string]any{"data_schema": []byte("{}")})
				return err
			},
			wantErr: "decoding EventType.data_schema: want string, got []uint8",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in()
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
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
