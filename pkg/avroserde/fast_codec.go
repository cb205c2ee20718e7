package avroserde

import (
	"fmt"
	"math"
)

// Fast paths: hand-written Avro binary encoders and decoders for the records
// every event passes through, which skip goavro's generic native form (a
// map per record, an interface per field). Encoding and decoding through
// the native form dominated the profiles of enrich and fanout.
//
// A fast path knows one schema only: the text of the schemas module this
// build has. A Codec therefore encodes with it only under the id Register
// got for that text, and decodes with it only values written under that
// id; any other writer schema goes through goavro with its own schema, so
// older records keep decoding as before.

// WithFast gives c hand-written replacements for goavro and returns c.
// Call it before the codec is used; it is not safe to call concurrently
// with Encode or Decode.
//
// appendValue appends the Avro binary encoding of v (no wire-format header)
// to dst; it must produce the bytes goavro produces from the codec's
// toNative(v) with the codec's schema, maps in any order.
//
// read decodes the Avro binary encoding of one value (no header), written
// with exactly the codec's schema, to what fromNative gives for goavro's
// decoding of the same bytes. It must fail on bytes left over after the
// value; Decode classifies its errors as ErrUndecodable. Decode calls it
// only for values whose schema id is the one Register got; values of any
// other id are decoded by goavro with their writer's schema.
//
// Either may be nil: that direction then goes through goavro.
func (c *Codec[T]) WithFast(appendValue func(dst []byte, v T) []byte, read func(avro []byte) (T, error)) *Codec[T] {
	c.fastAppend = appendValue
	c.fastRead = read
	return c
}

// appendFast is AppendEncode with the fast encoder, for a registered codec.
func (c *Codec[T]) appendFast(dst []byte, id int, v T) ([]byte, error) {
	if id < 0 || id > math.MaxInt32 {
		return dst, fmt.Errorf("encoding value for topic %s: encoding with schema id %d: id out of range", c.topic, id)
	}
	return c.fastAppend(AppendHeader(dst, id), v), nil
}

// decodeFast decodes b with the fast decoder when it was written with the
// schema id Register got. ok is false when it was not (or when b has no
// valid header, whose error the goavro path reports): the caller decodes b
// with goavro.
func (c *Codec[T]) decodeFast(b []byte) (v T, ok bool, err error) {
	if c.fastRead == nil {
		return v, false, nil
	}
	r := c.current.Load()
	if r == nil {
		return v, false, nil
	}
	id, payload, err := ParseHeader(b)
	if err != nil || id != r.id {
		return v, false, nil
	}
	v, err = c.fastRead(payload)
	if err != nil {
		var zero T
		return zero, true, fmt.Errorf("decoding value with schema id %d: %w: %w", id, ErrUndecodable, err)
	}
	return v, true, nil
}
