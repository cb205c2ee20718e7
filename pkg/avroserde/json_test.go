package avroserde_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/surgehq/surge/pkg/avroserde"
)

func TestDecodeJSONEvent(t *testing.T) {
	ctx := context.Background()
	_, reg := newRegistry(t)
	c, b := registeredEvent(t, reg)
	got, err := reg.DecodeJSON(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"2zm8Q1y0R5VdqDkH9XcTnUwA7bE","type":"order.placed","source":"magento-eu",` +
		`"time":1752571805000,"received_at":1752571805342,"entity":{"type":"order","id":"100012"},` +
		`"data":"{\"increment_id\":\"100012\",\"grand_total\":129.9}","idempotency_key":null,` +
		`"correlation_id":"4bf92f3577b34da6a3ce929d0e0e4736","format":"canonical","original_type":"",` +
		`"attributes":{"magento_store":"eu"},` +
		`"origin":{"format":"canonical","id":"ord-100012-placed","type":"order.placed","source":"magento","entity_id":""}}`
	if string(got) != want {
		t.Errorf("DecodeJSON\n got: %s\nwant: %s", got, want)
	}

	withKey := sampleEvent
	withKey.IdempotencyKey = "k-1"
	b, err = c.Encode(withKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err = reg.DecodeJSON(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	if m["idempotency_key"] != "k-1" {
		t.Errorf("idempotency_key = %#v, want \"k-1\"", m["idempotency_key"])
	}

	if _, err := reg.DecodeJSON(ctx, []byte("garbage")); !errors.Is(err, avroserde.ErrNotWireFormat) {
		t.Errorf("DecodeJSON of garbage: error = %v, want ErrNotWireFormat", err)
	}
}

// miscSchema uses every kind of Avro type. Its Inner record has one field
// named "string", which a renderer that guessed unions from the native
// value alone would mistake for a union value.
const miscSchema = `{
  "type": "record", "name": "Misc", "namespace": "test.v1",
  "fields": [
    {"name": "inner", "type": {"type": "record", "name": "Inner", "fields": [{"name": "string", "type": "string"}]}},
    {"name": "u", "type": ["null", "string", "Inner", {"type": "array", "items": "int"}, {"type": "map", "values": "double"}, {"type": "long", "logicalType": "timestamp-millis"}]},
    {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
    {"name": "raw", "type": "bytes"},
    {"name": "fx", "type": {"type": "fixed", "name": "Two", "size": 2}},
    {"name": "f", "type": "float"},
    {"name": "d", "type": "double"},
    {"name": "ok", "type": "boolean"},
    {"name": "us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
    {"name": "list", "type": {"type": "array", "items": "test.v1.Inner"}},
    {"name": "next", "type": ["null", "Misc"], "default": null}
  ]
}`

// encodeToJSON returns what Registry.DecodeJSON makes of native, written
// in the wire format with schema id and its codec.
func encodeToJSON(t *testing.T, reg *avroserde.Registry, id int, codec *goavro.Codec, native any) []byte {
	t.Helper()
	b, err := avroserde.AppendEncode(nil, id, codec, native)
	if err != nil {
		t.Fatal(err)
	}
	got, err := reg.DecodeJSON(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestDecodeJSONTypes(t *testing.T) {
	_, reg := newRegistry(t)
	id, codec := registerSchema(t, reg, "misc", miscSchema)
	base := func(u any) map[string]any {
		return map[string]any{
			"inner": map[string]any{"string": "not a union"},
			"u":     u,
			"color": "GREEN",
			"raw":   []byte{0x00, 'a', 0xff},
			"fx":    []byte{0x01, 0x02},
			"f":     float32(1.5),
			"d":     math.Inf(1),
			"ok":    true,
			"us":    time.UnixMicro(1752571805342123),
			"day":   time.Date(2025, 7, 15, 0, 0, 0, 0, time.UTC),
			"price": big.NewRat(12990, 100),
			"list":  []any{map[string]any{"string": "a"}, map[string]any{"string": "b"}},
			"next":  nil,
		}
	}
	// Bytes as Avro's JSON encoding has them: byte 0xff is U+00FF, ÿ.
	const rest = `"color":"GREEN","raw":"\u0000aÿ","fx":"\u0001\u0002","f":1.5,"d":"Infinity","ok":true,` +
		`"us":1752571805342123,"day":20284,"price":129.90,"list":[{"string":"a"},{"string":"b"}]`
	const prefix = `{"inner":{"string":"not a union"},"u":`
	tests := []struct {
		name string
		in   map[string]any
		want string
	}{
		{name: "null", in: base(nil), want: prefix + `null,` + rest + `,"next":null}`},
		{name: "string", in: base(goavro.Union("string", "x")), want: prefix + `"x",` + rest + `,"next":null}`},
		{name: "record", in: base(goavro.Union("test.v1.Inner", map[string]any{"string": "y"})), want: prefix + `{"string":"y"},` + rest + `,"next":null}`},
		{name: "array", in: base(goavro.Union("array", []any{int32(1), int32(2)})), want: prefix + `[1,2],` + rest + `,"next":null}`},
		{name: "map", in: base(goavro.Union("map", map[string]any{"z": 0.5, "a": -2.0})), want: prefix + `{"a":-2,"z":0.5},` + rest + `,"next":null}`},
		{name: "timestamp", in: base(goavro.Union("long.timestamp-millis", time.UnixMilli(1752571805342))), want: prefix + `1752571805342,` + rest + `,"next":null}`},
		{
			name: "recursive",
			in: func() map[string]any {
				m := base(nil)
				m["next"] = goavro.Union("test.v1.Misc", base(nil))
				return m
			}(),
			want: prefix + `null,` + rest + `,"next":` + prefix + `null,` + rest + `,"next":null}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encodeToJSON(t, reg, id, codec, tt.in)
			if string(got) != tt.want {
				t.Errorf("\n got: %s\nwant: %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Error("not valid JSON")
			}
		})
	}
}

func TestDecodeJSONStrings(t *testing.T) {
	_, reg := newRegistry(t)
	id, codec := registerSchema(t, reg, "strings", `"string"`)
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "plain", in: "order.placed", want: `"order.placed"`},
		{name: "embedded JSON", in: `{"a":"<b>&"}`, want: `"{\"a\":\"<b>&\"}"`},
		{name: "escapes", in: "a\\b\n\r\t\x01\x7f", want: `"a\\b\n\r\t\u0001\u007f"`},
		{name: "unicode", in: "Grüße 🛒", want: `"Grüße 🛒"`},
		{name: "line separators", in: "a\u2028b\u2029", want: `"a\u2028b\u2029"`},
		{name: "invalid UTF-8", in: "a\xffb", want: `"a\ufffdb"`},
		{name: "empty", in: "", want: `""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encodeToJSON(t, reg, id, codec, tt.in)
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			var back string
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			if tt.name != "invalid UTF-8" && back != tt.in {
				t.Errorf("decodes back to %q", back)
			}
		})
	}
}
