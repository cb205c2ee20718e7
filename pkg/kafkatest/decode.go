package kafkatest

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/avroserde"
)

// Decoded is a record read back and its value, decoded.
type Decoded[V any] struct {
	Record *kgo.Record
	Value  V
}

// DecodeAll decodes the value of every record of rs with codec, in
// order; a record that does not decode fails t.
func DecodeAll[V any](t testing.TB, codec *avroserde.Codec[V], rs []*kgo.Record) []Decoded[V] {
	t.Helper()
	out := make([]Decoded[V], 0, len(rs))
	for _, r := range rs {
		v, err := codec.Decode(context.Background(), r.Value)
		if err != nil {
			t.Fatalf("decoding the record at %s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		out = append(out, Decoded[V]{Record: r, Value: v})
	}
	return out
}
