package event_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/surgehq/surge/pkg/avrowire/avrotest"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/schemas"
)

// ms returns a UTC time with millisecond precision, as Avro's
// timestamp-millis keeps it.
func ms(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC().Truncate(time.Millisecond)
}

func ptr(t time.Time) *time.Time { return &t }

func TestEventRoundTrip(t *testing.T) {
	avrotest.NativeRoundTrips(t, schemas.Event, event.Event.Native, event.EventFromNative, []avrotest.Named[event.Event]{
		{
			Name: "full",
			Value: event.Event{
				ID:             "2zm8Q1y0R5VdqDkH9XcTnUwA7bE",
				Type:           "order.placed",
				Source:         "magento-eu",
				Time:           ms("2025-07-15T09:30:05Z"),
				ReceivedAt:     ms("2025-07-15T09:30:05.342Z"),
				Entity:         event.EntityRef{Type: "order", ID: "100012"},
				Data:           json.RawMessage(`{"increment_id":"100012","grand_total":129.9,"items":[{"sku":"24-MB01","qty":2}]}`),
				IdempotencyKey: "7f3c1a52-9e4b-4d1a-b8f2-3c6e0d9a4b71",
				CorrelationID:  "4bf92f3577b34da6a3ce929d0e0e4736",
				Format:         event.FormatAdobe,
				OriginalType:   "com.adobe.commerce.observer.sales_order_place_after",
				Attributes:     map[string]string{"adobe_uid": "7f3c1a52", "string": "not a union"},
				Origin:         event.Origin{Format: event.FormatAdobe, ID: "7f3c1a52", Type: "com.adobe.commerce.observer.sales_order_place_after"},
			},
		},
		{
			Name: "thin, no optionals",
			Value: event.Event{
				ID:         "2zm8Q1y0R5VdqDkH9XcTnUwA7bF",
				Type:       "product.updated",
				Source:     "default",
				Time:       ms("2025-07-15T09:30:05.001Z"),
				ReceivedAt: ms("2025-07-15T09:30:05.002Z"),
				Entity:     event.EntityRef{Type: "product", ID: "SKU-1"},
				Format:     event.FormatCanonical,
			},
		},
	})
}

func TestEnrichedEventRoundTrip(t *testing.T) {
	avrotest.NativeRoundTrips(t, schemas.EnrichedEvent, event.EnrichedEvent.Native, event.EnrichedEventFromNative, []avrotest.Named[event.EnrichedEvent]{
		{
			Name: "full",
			Value: event.EnrichedEvent{
				ID:            "2zm8Sx4bHq0LpW3e7YjKd9NfRtA",
				Type:          "product.updated",
				Source:        "akeneo",
				Time:          ms("2025-07-15T09:41:12Z"),
				ReceivedAt:    ms("2025-07-15T09:41:12.519Z"),
				EnrichedAt:    ms("2025-07-15T09:41:12.587Z"),
				Entity:        event.EntityRef{Type: "product", ID: "24-MB01"},
				EntityVersion: 7,
				Data:          json.RawMessage(`{"sku":"24-MB01","price":29.0,"qty":118}`),
				Changes:       []string{"price", "updated_at"},
				Flags:         []string{"price_drop"},
				CorrelationID: "0af7651916cd43dd8448eb211c80319c",
				Attributes:    map[string]string{"ce_source": "urn:akeneo:pim:eu-1", "ce_type": "com.akeneo.pim.v1.product.updated"},
				Warnings: []event.Warning{
					{Code: "not_loaded", Field: "data", Message: "the loader answered 404"},
					{Code: "snapshot_unreadable"},
				},
				Origin: event.Origin{Format: event.FormatCloudEvents, ID: "018e32f9", Type: "com.akeneo.pim.v1.product.updated",
					Source: "urn:akeneo:pim:eu-1", EntityID: "6a9f8486-2c36-4680-b87f-6f5f8f01b6cf"},
			},
		},
		{
			Name: "deleted",
			Value: event.EnrichedEvent{
				ID:            "2zm8Sx4bHq0LpW3e7YjKd9NfRtB",
				Type:          "product.deleted",
				Source:        "akeneo",
				Time:          ms("2025-07-15T10:00:00Z"),
				ReceivedAt:    ms("2025-07-15T10:00:00.010Z"),
				EnrichedAt:    ms("2025-07-15T10:00:00.020Z"),
				Entity:        event.EntityRef{Type: "product", ID: "24-MB01"},
				EntityVersion: 8,
				Deleted:       true,
			},
		},
	})
}

func TestSubscriptionRoundTrip(t *testing.T) {
	avrotest.NativeRoundTrips(t, schemas.Subscription, event.Subscription.Native, event.SubscriptionFromNative, []avrotest.Named[event.Subscription]{
		{
			Name: "rotating secrets",
			Value: event.Subscription{
				ID:            "sub_2zm7Zb3cQ9yTf1KdA0WxLp4VnHs",
				URL:           "https://erp.example.com/hooks/surge",
				EventTypes:    []string{"order.*", "shipment.created"},
				Filter:        `type == "order.placed" && data.grand_total > 100.0`,
				Headers:       map[string]string{"X-Tenant": "eu-1", "X-Api-Version": "2"},
				TimeoutMS:     5000,
				RateLimitPerS: 20.5,
				MaxInFlight:   4,
				RetrySchedule: []string{"5s", "30s", "2m"},
				Enabled:       true,
				AllowPrivate:  true,
				Secrets: []event.Secret{
					{Value: "whsec_bmV3", CreatedAt: ms("2025-07-15T08:00:00Z")},
					{Value: "whsec_b2xk", CreatedAt: ms("2025-05-01T00:00:00Z"), ExpiresAt: ptr(ms("2025-07-16T08:00:00Z"))},
				},
				Description: "ERP order intake (EU)",
				CreatedAt:   ms("2025-05-01T00:00:00Z"),
				UpdatedAt:   ms("2025-07-15T08:00:00.123Z"),
			},
		},
		{
			Name: "disabled, paused, no optionals",
			Value: event.Subscription{
				ID:             "sub_2",
				URL:            "https://crm.example.com/in",
				Paused:         true,
				DisabledReason: "endpoint answered 410 Gone",
				CreatedAt:      ms("2025-05-01T00:00:00Z"),
				UpdatedAt:      ms("2025-05-01T00:00:00Z"),
			},
		},
	})
}

func TestDeliveryRoundTrip(t *testing.T) {
	avrotest.NativeRoundTrips(t, schemas.Delivery, event.Delivery.Native, event.DeliveryFromNative, []avrotest.Named[event.Delivery]{
		{
			Name: "third attempt",
			Value: event.Delivery{
				ID:             "msg_2zm8Q1y0R5VdqDkH9XcTnUwA7bE",
				EventID:        "2zm8Q1y0R5VdqDkH9XcTnUwA7bE",
				SubscriptionID: "sub_2zm7Zb3cQ9yTf1KdA0WxLp4VnHs",
				EntityKey:      "order:100012",
				EventType:      "order.placed",
				EntityVersion:  1,
				Body:           json.RawMessage(`{"id":"2zm8Q1y0R5VdqDkH9XcTnUwA7bE", "type":"order.placed"}`),
				CreatedAt:      ms("2025-07-15T09:30:05.401Z"),
				CorrelationID:  "4bf92f3577b34da6a3ce929d0e0e4736",
				Attempts:       2,
				NextAttemptAt:  ptr(ms("2025-07-15T09:32:07.911Z")),
				FirstFailureAt: ptr(ms("2025-07-15T09:30:06.012Z")),
				LastFailureAt:  ptr(ms("2025-07-15T09:30:37.911Z")),
				LastStatus:     503,
				LastError:      "unexpected status 503 Service Unavailable",
			},
		},
		{
			Name: "new",
			Value: event.Delivery{
				ID:             "msg_1",
				EventID:        "e1",
				SubscriptionID: "s1",
				EntityKey:      "product:SKU-1",
				EventType:      "product.updated",
				EntityVersion:  3,
				Body:           json.RawMessage(`{}`),
				CreatedAt:      ms("2025-07-15T09:30:05.401Z"),
			},
		},
	})
}

func TestDeliveryAttemptRoundTrip(t *testing.T) {
	avrotest.NativeRoundTrips(t, schemas.DeliveryAttempt, event.DeliveryAttempt.Native, event.DeliveryAttemptFromNative, []avrotest.Named[event.DeliveryAttempt]{
		{
			Name: "retry after 429",
			Value: event.DeliveryAttempt{
				DeliveryID:      "msg_1",
				EventID:         "e1",
				SubscriptionID:  "s1",
				EntityKey:       "order:100012",
				Attempt:         2,
				URL:             "https://erp.example.com/hooks/surge",
				StartedAt:       ms("2025-07-15T09:30:37.488Z"),
				Duration:        423117 * time.Microsecond,
				StatusCode:      429,
				Outcome:         event.OutcomeRetry,
				Error:           "unexpected status 429 Too Many Requests",
				ResponseHeaders: map[string]string{"Retry-After": "90", "Content-Type": "application/json"},
				ResponseBody:    `{"error":"slow down"}`,
				NextAttemptAt:   ptr(ms("2025-07-15T09:32:07.911Z")),
				CorrelationID:   "4bf92f3577b34da6a3ce929d0e0e4736",
			},
		},
		{
			Name: "network error",
			Value: event.DeliveryAttempt{
				DeliveryID: "msg_1",
				Attempt:    1,
				URL:        "https://erp.example.com/hooks/surge",
				StartedAt:  ms("2025-07-15T09:30:06Z"),
				Duration:   2 * time.Second,
				Outcome:    event.OutcomeDeadLettered,
				Error:      "dial tcp: connection refused",
			},
		},
	})
}

// TestEventNullData checks that every spelling of "no payload" is written as
// Avro null, a thin event.
func TestEventNullData(t *testing.T) {
	tests := []struct {
		name string
		in   json.RawMessage
		want any
	}{
		{name: "nil", in: nil, want: nil},
		{name: "empty", in: json.RawMessage{}, want: nil},
		{name: "null", in: json.RawMessage("null"), want: nil},
		{name: "spaced null", in: json.RawMessage(" null\n"), want: nil},
		{name: "object", in: json.RawMessage(`{"a":1}`), want: goavro.Union("string", `{"a":1}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := event.Event{Data: tt.in}.Native()["data"]
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("data = %#v, want %#v", got, tt.want)
			}
		})
	}
}

// TestFromNativeTolerant feeds values an older writer (or a hand-built
// native map) produces: missing fields take the schema default, the
// promotions Avro allows are accepted.
func TestFromNativeTolerant(t *testing.T) {
	avrotest.CheckValues(t, []avrotest.ValueCase{
		{
			Name: "event with only the first fields",
			Got: avrotest.ResultOf(event.EventFromNative(map[string]any{
				"id": "e1", "type": "order.placed", "source": "default",
				"entity": map[string]any{"type": "order", "id": "1"},
			})),
			Want: event.Event{ID: "e1", Type: "order.placed", Source: "default",
				Entity: event.EntityRef{Type: "order", ID: "1"}, Format: event.FormatCanonical},
		},
		{
			Name: "event timestamps as epoch millis, unions unwrapped",
			Got: avrotest.ResultOf(event.EventFromNative(map[string]any{
				"id":              "e1",
				"time":            int64(1752571805000),
				"received_at":     map[string]any{"long": int64(1752571805342)},
				"data":            map[string]any{"string": `{"a":1}`},
				"idempotency_key": "k1",
				"format":          nil,
				"attributes":      map[string]string{"map": "a real key"},
			})),
			Want: event.Event{ID: "e1", Time: ms("2025-07-15T09:30:05Z"), ReceivedAt: ms("2025-07-15T09:30:05.342Z"),
				Data: json.RawMessage(`{"a":1}`), IdempotencyKey: "k1", Format: event.FormatCanonical,
				Attributes: map[string]string{"map": "a real key"}},
		},
		{
			Name: "enriched event without entity version",
			Got: avrotest.ResultOf(event.EnrichedEventFromNative(map[string]any{
				"id": "e1", "entity": map[string]any{"type": "order", "id": "1"}, "data": "null",
			})),
			Want: event.EnrichedEvent{ID: "e1", Entity: event.EntityRef{Type: "order", ID: "1"}},
		},
		{
			Name: "subscription written before enabled and signature_scheme existed",
			Got: avrotest.ResultOf(event.SubscriptionFromNative(map[string]any{
				"id": "s1", "url": "https://x.example", "timeout_ms": int64(2000), "rate_limit_per_s": int32(5),
			})),
			Want: event.Subscription{ID: "s1", URL: "https://x.example", TimeoutMS: 2000, RateLimitPerS: 5, Enabled: true, SignatureScheme: "v1"},
		},
		{
			Name: "delivery with int counters promoted",
			Got:  avrotest.ResultOf(event.DeliveryFromNative(map[string]any{"id": "d1", "entity_version": int32(4), "attempts": 3})),
			Want: event.Delivery{ID: "d1", EntityVersion: 4, Attempts: 3},
		},
		{
			Name: "delivery attempt without attempt number",
			Got:  avrotest.ResultOf(event.DeliveryAttemptFromNative(map[string]any{"delivery_id": "d1", "duration_us": int64(1500)})),
			Want: event.DeliveryAttempt{DeliveryID: "d1", Attempt: 1, Duration: 1500 * time.Microsecond},
		},
	})
}

func TestFromNativeErrors(t *testing.T) {
	avrotest.CheckErrors(t, []avrotest.ErrorCase{
		{Name: "not a record", Err: avrotest.ErrOf(event.EventFromNative("x")), Want: "decoding Event: want record, got string"},
		{Name: "nil", Err: avrotest.ErrOf(event.DeliveryFromNative(nil)), Want: "decoding Delivery: want record, got <nil>"},
		{Name: "nested field", Err: avrotest.ErrOf(event.EventFromNative(map[string]any{"entity": map[string]any{"type": "order", "id": int64(7)}})), Want: "decoding Event.entity.id: want string, got int64"},
		{Name: "entity not a record", Err: avrotest.ErrOf(event.EnrichedEventFromNative(map[string]any{"entity": "order:1"})), Want: "decoding EnrichedEvent.entity: want record, got string"},
		{Name: "map value", Err: avrotest.ErrOf(event.EventFromNative(map[string]any{"attributes": map[string]any{"a": "ok", "b": 1}})), Want: `decoding Event.attributes["b"]: want string, got int`},
		{Name: "array item", Err: avrotest.ErrOf(event.EnrichedEventFromNative(map[string]any{"changes": []any{"a", true}})), Want: "decoding EnrichedEvent.changes[1]: want string, got bool"},
		{
			Name: "warning field",
			Err: avrotest.ErrOf(event.EnrichedEventFromNative(map[string]any{"warnings": []any{
				map[string]any{"code": "not_loaded"},
				map[string]any{"code": "line_item_skipped", "field": int64(3)},
			}})),
			Want: "decoding EnrichedEvent.warnings[1].field: want string, got int64",
		},
		{Name: "origin field", Err: avrotest.ErrOf(event.EventFromNative(map[string]any{"origin": map[string]any{"dev.surge.v1.Origin": map[string]any{"id": "a1", "source": true}}})), Want: "decoding Event.origin.source: want string, got bool"},
		{Name: "origin not a record", Err: avrotest.ErrOf(event.EnrichedEventFromNative(map[string]any{"origin": "a1"})), Want: "decoding EnrichedEvent.origin: want record, got string"},
		{
			Name: "secret time",
			Err: avrotest.ErrOf(event.SubscriptionFromNative(map[string]any{"secrets": []any{
				map[string]any{"value": "whsec_a"},
				map[string]any{"value": "whsec_b", "created_at": "yesterday"},
			}})),
			Want: "decoding Subscription.secrets[1].created_at: want timestamp, got string",
		},
		{Name: "int overflow", Err: avrotest.ErrOf(event.SubscriptionFromNative(map[string]any{"timeout_ms": int64(1) << 40})), Want: "decoding Subscription.timeout_ms: 1099511627776 overflows int"},
		{Name: "boolean", Err: avrotest.ErrOf(event.SubscriptionFromNative(map[string]any{"enabled": "yes"})), Want: "decoding Subscription.enabled: want boolean, got string"},
		{Name: "optional time", Err: avrotest.ErrOf(event.DeliveryAttemptFromNative(map[string]any{"next_attempt_at": goavro.Union("string", "soon")})), Want: "decoding DeliveryAttempt.next_attempt_at: want timestamp, got string"},
		{Name: "long", Err: avrotest.ErrOf(event.DeliveryFromNative(map[string]any{"entity_version": 1.5})), Want: "decoding Delivery.entity_version: want long, got float64"},
	})
}

// TestOlderWriterSchema decodes a record written with an older Event schema
// (without format, original_type and attributes): the missing fields read
// as their defaults.
func TestOlderWriterSchema(t *testing.T) {
	old, err := goavro.NewCodec(avrotest.WithoutFields(t, schemas.MustText(schemas.Event), "format", "original_type", "attributes"))
	if err != nil {
		t.Fatal(err)
	}
	in := event.Event{
		ID:         "e1",
		Type:       "order.placed",
		Source:     "default",
		Time:       ms("2025-07-15T09:30:05Z"),
		ReceivedAt: ms("2025-07-15T09:30:05.100Z"),
		Entity:     event.EntityRef{Type: "order", ID: "100012"},
		Data:       json.RawMessage(`{"status":"pending"}`),
	}
	native := in.Native()
	for _, f := range []string{"format", "original_type", "attributes"} {
		delete(native, f)
	}
	got := avrotest.GoavroRoundTrip(t, old, native, event.EventFromNative)
	want := in
	want.Format = event.FormatCanonical
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got: %#v\nwant: %#v", got, want)
	}
}

func ExampleEventFromNative() {
	thin := event.Event{ID: "e1", Type: "order.placed", Entity: event.EntityRef{Type: "order", ID: "100012"}}
	native := thin.Native()
	fmt.Println("data:", native["data"], "entity:", native["entity"])

	// A value written with an older schema lacks newer fields: they take
	// their defaults. A field of the wrong type is an error naming it.
	old, err := event.EventFromNative(map[string]any{"id": "e1", "type": "order.placed"})
	fmt.Printf("format: %q, attributes: %v, err: %v\n", old.Format, old.Attributes, err)
	_, err = event.EventFromNative(map[string]any{"entity": map[string]any{"type": "order", "id": 100012}})
	fmt.Println(err)
	// Output:
	// data: <nil> entity: map[id:100012 type:order]
	// format: "canonical", attributes: map[], err: <nil>
	// decoding Event.entity.id: want string, got int
}
