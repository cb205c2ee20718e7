package stream_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// BenchmarkTypedCarry is the typed layer's work on one record with one
// Carry output, as enrich and fanout run it untraced: its allocations are
// the per-record cost of carrying headers.
func BenchmarkTypedCarry(b *testing.B) {
	in := &kgo.Record{Topic: "in", Key: []byte("k"), Value: []byte("v"), Headers: []kgo.RecordHeader{
		{Key: topics.HeaderEventID, Value: []byte("ev1")}, {Key: topics.HeaderCorrelationID, Value: []byte("c1")},
		{Key: topics.HeaderEventType, Value: []byte("order.placed")}, {Key: topics.HeaderSource, Value: []byte("shop")},
	}}
	h := stream.Typed("word", func(_ context.Context, v []byte) (string, error) { return "", nil },
		func(_ context.Context, in stream.Input[string]) ([]stream.Output, error) {
			return []stream.Output{stream.Carry(&kgo.Record{Topic: "out", Headers: []kgo.RecordHeader{{Key: "x", Value: in.Record.Value}}})}, nil
		})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
