package kafkatest

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/avroserde"
)

// EncodeRecord is a record of topic with key whose value is v encoded
// with codec, carrying headers; a failing encode fails t.
func EncodeRecord[V any](t testing.TB, codec *avroserde.Codec[V], topic, key string, v V, headers []kgo.RecordHeader) *kgo.Record {
	t.Helper()
	value, err := codec.Encode(v)
	if err != nil {
		t.Fatalf("encoding a record of %s: %v", topic, err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: value, Headers: headers}
}

// Headers are record headers from alternating keys and values.
func Headers(kv ...string) []kgo.RecordHeader {
	hs := make([]kgo.RecordHeader, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

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
