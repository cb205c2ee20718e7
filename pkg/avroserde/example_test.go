package avroserde_test

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/event"
)

func ExampleCodec() {
	ctx := context.Background()
	fake := srfake.New() // stands in for a Confluent-compatible schema registry
	defer fake.Close()
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	if err != nil {
		fmt.Println(err)
		return
	}
	reg := avroserde.NewRegistry(cl)

	events := avroserde.NewEventCodec(reg, "commerce.events.raw")
	if err := events.Register(ctx); err != nil { // subject commerce.events.raw-value
		fmt.Println(err)
		return
	}
	at := time.Date(2025, 7, 15, 9, 30, 5, 0, time.UTC)
	value, err := events.Encode(event.Event{
		ID:         "2zm8Q1y0R5VdqDkH9XcTnUwA7bE",
		Type:       "order.placed",
		Source:     "default",
		Time:       at,
		ReceivedAt: at,
		Entity:     event.EntityRef{Type: "order", ID: "100012"},
		Data:       []byte(`{"status":"pending"}`),
		Format:     event.FormatCanonical,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("header: % x\n", value[:avroserde.HeaderLen])

	ev, err := events.Decode(ctx, value)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("key:", ev.Entity.Key(), "data:", string(ev.Data))

	js, err := reg.DecodeJSON(ctx, value)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(js))
	// Output:
	// header: 00 00 00 00 01
	// key: order:100012 data: {"status":"pending"}
	// {"id":"2zm8Q1y0R5VdqDkH9XcTnUwA7bE","type":"order.placed","source":"default","time":1752571805000,"received_at":1752571805000,"entity":{"type":"order","id":"100012"},"data":"{\"status\":\"pending\"}","idempotency_key":null,"correlation_id":"","format":"canonical","original_type":"","attributes":{},"origin":null}
}
