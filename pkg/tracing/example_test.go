package tracing_test

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/tracing"
)

// A data team's consumer continues an event's trace from the record's
// headers: FromRecord gives the context to start its span in, and
// AppendContext writes a context on the records it produces.
func ExampleFromRecord() {
	in := &kgo.Record{Headers: []kgo.RecordHeader{
		{Key: "surge.event-id", Value: []byte("2pQ4...")},
		{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")},
	}}
	ctx := tracing.FromRecord(context.Background(), in.Headers)
	out := tracing.AppendContext(ctx, nil)
	for _, h := range out {
		fmt.Printf("%s: %s\n", h.Key, h.Value)
	}
	// Output:
	// traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
}
