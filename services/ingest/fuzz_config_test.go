package ingest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"testing"

	"github.com/linkedin/goavro/v2"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/schemas"
	"github.com/surgehq/surge/services/ingest"
)

// Fuzz targets for the configuration bodies ingest lives by: a source
// (PUT /v1/sources/{id}) and an event type (PUT /v1/event-types/{type}),
// decoded as the admin API decodes them and checked with the same
// Validate. What passes is stored in Kafka and used by every ingest, so
// the properties are: it survives its Avro schema unchanged; a source's
// redacted form hides its secrets, its durations are positive, and its
// signature check is usable (a request signed as the scheme says
// verifies; nothing fails as a configuration fault, which is a 500 for
// every request of the source); an event type's data schema compiles, and
// events of the type decode with documented outcomes only.

// decodeStrict decodes one JSON value into v as the admin API does:
// unknown fields and trailing data are refused.
func decodeStrict(body []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if dec.Decode(v) != nil {
		return false
	}
	_, err := dec.Token()
	return err == io.EOF
}

var avroCodecs sync.Map // schema name → *goavro.Codec

// avroRoundTrip writes native with the named schema and reads it back.
func avroRoundTrip[T any](t *testing.T, schema string, native map[string]any, fromNative func(any) (T, error)) T {
	t.Helper()
	c, ok := avroCodecs.Load(schema)
	if !ok {
		codec, err := goavro.NewCodec(schemas.MustText(schema))
		if err != nil {
			t.Fatal(err)
		}
		c, _ = avroCodecs.LoadOrStore(schema, codec)
	}
	codec := c.(*goavro.Codec)
	bin, err := codec.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatalf("does not encode with the %s schema: %v", schema, err)
	}
	back, _, err := codec.NativeFromBinary(bin)
	if err != nil {
		t.Fatal(err)
	}
	v, err := fromNative(back)
	if err != nil {
		t.Fatalf("reading back the %s record: %v", schema, err)
	}
	return v
}

func FuzzSourceBody(f *testing.F) {
	for _, s := range []string{
		`{"allow_unsigned":true}`,
		`{"id":"shop","signature":{"scheme":"standard-webhooks","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}`,
		`{"signature":{"scheme":"hmac-sha256-hex","header":"X-Magento-Signature","secret":"shpss_6c1e0b9a7d","timestamp_header":"X-Timestamp","tolerance_s":600}}`,
		`{"signature":{"scheme":"hmac-sha256-base64","secret":"k"},"loaders":{"order":{"url":"https://shop.example/rest/V1/orders/{id}","headers":{"Authorization":"Bearer t"},"timeout_ms":2000,"cache_ttl_s":60}}}`,
		`{"signature":{"scheme":"hmac-sha256-hex","secret":"k","tolerance_s":5}}`,
		`{"signature":{"scheme":"rot13","secret":"k"}}`,
		`{"allow_unsigned":true,"loaders":{"Order":{"url":"ftp://x/{id}"}}}`,
		`{"signature":{"scheme":"hmac-sha256-hex","secret":"k","timestamp_header":"X-T","tolerance_s":9223372037}}`,
		`{"allow_unsigned":true,"loaders":{"order":{"url":"https://x/{id}","timeout_ms":9223372036855,"cache_ttl_s":9223372037}}}`,
	} {
		f.Add([]byte(s), []byte(`{"type":"order.placed"}`), "sha256=00")
	}
	f.Fuzz(func(t *testing.T, body, request []byte, sent string) {
		var src catalog.Source
		if !decodeStrict(body, &src) {
			return // 400 at the admin API
		}
		if src.ID == "" {
			src.ID = "shop" // the path's id, as PUT /v1/sources/shop sets it
		}
		if src.Validate() != nil {
			return // 400 at the admin API
		}

		if back := avroRoundTrip(t, schemas.Source, src.Native(), catalog.SourceFromNative); !reflect.DeepEqual(normalSource(back), normalSource(src)) {
			t.Fatalf("the Source record changed the source:\n  in %+v\n out %+v", src, back)
		}
		if red := src.Redacted(); red.Signature != nil && red.Signature.Secret != "[redacted]" {
			t.Fatalf("the redacted source shows its secret: %+v", *red.Signature)
		} else {
			for e, l := range red.Loaders {
				for k, v := range l.Headers {
					if v != "[redacted]" {
						t.Fatalf("the redacted source shows loader %s's header %s", e, k)
					}
				}
			}
		}
		for e, l := range src.Loaders {
			if l.Timeout() <= 0 || l.CacheTTL() < 0 {
				t.Fatalf("loader %s: timeout %s, cache TTL %s", e, l.Timeout(), l.CacheTTL())
			}
		}
		if src.Signature == nil {
			return
		}
		if src.Signature.Tolerance() <= 0 {
			t.Fatalf("tolerance_s %d gives a tolerance of %s", src.Signature.ToleranceS, src.Signature.Tolerance())
		}
		// Whatever the request carries: verified or a 401, never a fault.
		if sent, ok := headerValue(sent); ok {
			h := http.Header{}
			for _, name := range []string{src.Signature.HeaderName(), "webhook-signature", "webhook-id", "webhook-timestamp", src.Signature.TimestampHeader} {
				if name != "" {
					h.Set(name, sent)
				}
			}
			verify(t, src.Signature, h, request)
		}
		// Signed as the scheme says, at the server's now.
		if !verify(t, src.Signature, signAs(t, src.Signature, request), request) {
			t.Fatalf("a request signed correctly for source %+v does not verify", *src.Signature)
		}
	})
}

// signAs signs body at sigNow the way a sender following sig does.
func signAs(t *testing.T, sig *catalog.Signature, body []byte) http.Header {
	t.Helper()
	h := http.Header{}
	ts := strconv.FormatInt(sigNow.Unix(), 10)
	switch sig.Scheme {
	case catalog.SchemeStandardWebhooks:
		wh, err := standardwebhooks.NewWebhook(sig.Secret)
		if err != nil {
			t.Fatalf("a validated Standard Webhooks secret is refused by the library: %v", err)
		}
		s, err := wh.Sign("msg_1", sigNow, body)
		if err != nil {
			t.Fatal(err)
		}
		h.Set("webhook-id", "msg_1")
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", s)
		return h
	}
	parts := [][]byte{body}
	if sig.TimestampHeader != "" {
		h.Set(sig.TimestampHeader, ts)
		parts = [][]byte{[]byte(ts), []byte("."), body}
	}
	mac := sigMAC(sig.Secret, parts...)
	if sig.Scheme == catalog.SchemeHMACSHA256Hex {
		h.Set(sig.HeaderName(), hex.EncodeToString(mac))
	} else {
		h.Set(sig.HeaderName(), base64.StdEncoding.EncodeToString(mac))
	}
	return h
}

// normalSource makes empty and nil maps alike, as the Avro form does.
func normalSource(s catalog.Source) catalog.Source {
	if len(s.Loaders) == 0 {
		s.Loaders = nil
	}
	for e, l := range s.Loaders {
		if len(l.Headers) == 0 {
			l.Headers = nil
		}
		s.Loaders[e] = l
	}
	return s
}

func FuzzEventTypeBody(f *testing.F) {
	schema := decFixture(f, "order_placed.schema.json")
	for _, s := range []string{
		`{"name":"order.placed","entity_type":"order","data_schema":` + string(schema) + `}`,
		`{"name":"return.requested","entity_type":"return","aliases":["magento.rma_created"],"description":"RMA opened"}`,
		`{"name":"product.created","data_schema":{"type":"object","required":["sku"],"properties":{"price":{"type":"number"}}}}`,
		`{"name":"x.y","data_schema":true}`,
		`{"name":"x.y","data_schema":{"$ref":"#/$defs/a","$defs":{"a":{"type":"object"}}}}`,
		`{"name":"x.y","data_schema":{"type":"object","properties":{"n":{"pattern":"^[0-9]+$"}}}}`,
		`{"name":"customer.deleted","entity_type":"customer","delete":true}`,
	} {
		f.Add([]byte(s), []byte(`{"increment_id":"1","total":59.9,"items":[{"sku":"A","qty":1}]}`))
	}
	f.Fuzz(func(t *testing.T, body, data []byte) {
		var et catalog.EventType
		if !decodeStrict(body, &et) || et.Validate() != nil {
			return // 400 at the admin API
		}
		cat := catalog.New(catalog.Builtin()...)
		if cat.Put(et) != nil {
			return // a name or alias of another type: 400 at the admin API
		}
		back := avroRoundTrip(t, schemas.EventType, et.Native(), catalog.EventTypeFromNative)
		if len(back.Aliases) == 0 {
			back.Aliases = nil
		}
		want := et
		if len(want.Aliases) == 0 {
			want.Aliases = nil
		}
		if len(want.DataSchema) == 0 {
			want.DataSchema = nil
		}
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("the EventType record changed the type:\n  in %+v\n out %+v", want, back)
		}
		v := ingest.NewDataValidator()
		if err := v.Compile(et); err != nil {
			t.Fatalf("the admin API accepts event type %s, whose data schema does not compile: %v", et.Name, err)
		}
		// An event of the type, with the fuzzed data when it is JSON.
		entityType := et.EntityType
		if entityType == "" {
			entityType = "thing"
		}
		ev := map[string]any{"type": et.Name, "entity": map[string]string{"type": entityType, "id": "1"}}
		if json.Valid(data) {
			ev["data"] = json.RawMessage(data)
		}
		req, _ := json.Marshal(ev)
		env := fuzzEnv{cat: cat, v: v}
		evs, err := ingest.Decoder{Source: decSource, Catalog: cat, Validator: v, Now: decNow}.Canonical(req, "")
		env.check(t, evs, err, jsonStatuses)
		for _, e := range evs {
			if e.Type != et.Name {
				t.Fatalf("an event of %s decoded as %s", et.Name, e.Type)
			}
		}
	})
}
