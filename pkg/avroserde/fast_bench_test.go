package avroserde

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/surgehq/surge/pkg/event"
)

// Values the size of the pipeline's: a product of about 1 KiB of JSON, the
// webhook body built from it.
var (
	benchData = json.RawMessage(`{"sku":"24-MB01","name":"Joust Duffle Bag","price":34.0,"special_price":29.0,` +
		`"qty":100,"is_in_stock":true,"description":"` + strings.Repeat("The sporty Joust Duffle Bag can't be beat. ", 18) +
		`","categories":["Gear","Bags"],"updated_at":"2025-07-15 09:41:12"}`)
	benchEnriched = event.EnrichedEvent{
		ID:            "2zm8Sx4bHq0LpW3e7YjKd9NfRtA",
		Type:          "product.updated",
		Source:        "magento-eu",
		Time:          utc("2025-07-15T09:41:12Z"),
		ReceivedAt:    utc("2025-07-15T09:41:12.519Z"),
		EnrichedAt:    utc("2025-07-15T09:41:12.587Z"),
		Entity:        event.EntityRef{Type: "product", ID: "24-MB01"},
		EntityVersion: 1742,
		Data:          benchData,
		Changes:       []string{"price", "special_price", "updated_at"},
		Flags:         []string{"price_drop"},
		CorrelationID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Attributes:    map[string]string{"magento_store": "eu", "adobe_uid": "0b4c2a8e-5b7d-4c1f-9e0a-3f2d1c6b7a89"},
	}
	benchDelivery = event.Delivery{
		ID:             "msg_2zm8Sx4bHq0LpW3e7YjKd9NfRtA_sub_1",
		EventID:        "2zm8Sx4bHq0LpW3e7YjKd9NfRtA",
		SubscriptionID: "sub_2zm8Q1y0R5VdqDkH9XcTnUwA",
		EntityKey:      "product:24-MB01",
		EventType:      "product.updated",
		EntityVersion:  1742,
		Body:           json.RawMessage(`{"id":"2zm8Sx4bHq0LpW3e7YjKd9NfRtA","type":"product.updated","data":` + string(benchData) + `}`),
		CreatedAt:      utc("2025-07-15T09:41:12.601Z"),
		CorrelationID:  "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	benchEvent = event.Event{
		ID:            "2zm8Q1y0R5VdqDkH9XcTnUwA7bE",
		Type:          "product.updated",
		Source:        "magento-eu",
		Time:          utc("2025-07-15T09:41:12Z"),
		ReceivedAt:    utc("2025-07-15T09:41:12.519Z"),
		Entity:        event.EntityRef{Type: "product", ID: "24-MB01"},
		Data:          json.RawMessage(`{"sku":"24-MB01","price":34.0,"special_price":29.0,"updated_at":"2025-07-15 09:41:12"}`),
		CorrelationID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Format:        event.FormatAdobe,
		OriginalType:  "com.adobe.commerce.observer.catalog_product_save_commit_after",
		Attributes:    map[string]string{"adobe_uid": "0b4c2a8e-5b7d-4c1f-9e0a-3f2d1c6b7a89"},
	}
)

// BenchmarkCodec compares the codecs with and without their fast paths,
// through Codec.AppendEncode and Codec.Decode.
func BenchmarkCodec(b *testing.B) {
	b.Run("enriched", func(b *testing.B) { benchCodec(b, fastEnriched, benchEnriched) })
	b.Run("delivery", func(b *testing.B) { benchCodec(b, fastDelivery, benchDelivery) })
	b.Run("attempt", func(b *testing.B) { benchCodec(b, fastAttempt, sampleAttemptValue) })
	b.Run("event", func(b *testing.B) { benchCodec(b, fastEvent, benchEvent) })
}

func benchCodec[T any](b *testing.B, ft fastType[T], v T) {
	ctx := context.Background()
	_, reg := fastRegistry(b)
	codecs := []struct {
		name string
		c    *Codec[T]
	}{
		{"goavro", ft.goavroOnly(reg, "topic")},
		{"fast", ft.newCodec(reg, "topic")},
	}
	for _, c := range codecs {
		register(b, c.c)
	}
	wire, err := codecs[0].c.Encode(v)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		for _, c := range codecs {
			b.Run(c.name, func(b *testing.B) {
				buf := make([]byte, 0, 2*len(wire))
				b.SetBytes(int64(len(wire)))
				b.ReportAllocs()
				for b.Loop() {
					if buf, err = c.c.AppendEncode(buf[:0], v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
	b.Run("decode", func(b *testing.B) {
		for _, c := range codecs {
			b.Run(c.name, func(b *testing.B) {
				b.SetBytes(int64(len(wire)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.c.Decode(ctx, wire); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
}
