package avrotest

import (
	"reflect"
	"testing"

	"github.com/linkedin/goavro/v2"
)

// Named is a value of a table-driven test and the name of its subtest.
type Named[T any] struct {
	Name  string
	Value T
}

// NativeRoundTrip converts v to its native form, has goavro encode it to
// Avro binary with schemas/<schema>.avsc and decode it again, and converts
// the result back with fromNative (GoavroRoundTrip).
func NativeRoundTrip[T any](t testing.TB, schema string, v T, native func(T) map[string]any, fromNative func(any) (T, error)) T {
	t.Helper()
	return GoavroRoundTrip(t, Codec(t, schema), native(v), fromNative)
}

// GoavroRoundTrip has c encode the native value to Avro binary and decode
// it again, and converts the result with fromNative. Any failure on the
// way, or bytes left after the value, fails the test.
func GoavroRoundTrip[T any](t testing.TB, c *goavro.Codec, native any, fromNative func(any) (T, error)) T {
	t.Helper()
	bin, err := c.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatalf("encoding: %v", err)
	}
	decoded, rest, err := c.NativeFromBinary(bin)
	if err != nil {
		t.Fatalf("decoding: %v", err)
	}
	if len(rest) != 0 {
		t.Fatalf("decoding: %d bytes left over", len(rest))
	}
	got, err := fromNative(decoded)
	if err != nil {
		t.Fatalf("converting from native: %v", err)
	}
	return got
}

// NativeRoundTrips checks, in a subtest per value and in subtest "zero"
// for the zero value of T, that NativeRoundTrip gives back a value deeply
// equal to the one it was given.
func NativeRoundTrips[T any](t *testing.T, schema string, native func(T) map[string]any, fromNative func(any) (T, error), values []Named[T]) {
	t.Helper()
	for _, v := range append([]Named[T]{{Name: "zero"}}, values...) {
		t.Run(v.Name, func(t *testing.T) {
			if got := NativeRoundTrip(t, schema, v.Value, native, fromNative); !reflect.DeepEqual(got, v.Value) {
				t.Errorf("round trip\n got: %#v\nwant: %#v", got, v.Value)
			}
		})
	}
}
