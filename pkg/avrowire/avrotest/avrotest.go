// Package avrotest checks code written by avrogen against goavro: Check,
// which the generated avro_gen_test.go files call for every record, and
// the helpers of the hand-written tests of records (round trips through
// goavro, tables of what FromNative calls return, schemas edited into an
// older writer's).
package avrotest

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/surgehq/surge/schemas"
)

// Check tests the generated code of the record of schemas/<schema>.avsc
// against goavro with random values made from the schema itself, so a new
// field or record is covered without writing a test for it: goavro's
// encoding of a random native value decodes with the fast decoder to what
// FromNative makes of goavro's decoding; the fast encoding of that value
// is goavro's encoding of its Native form (or decodes to the same value,
// as maps are written in another order); and it decodes back to itself.
// The generator writes a test calling it for every record
// (avro_gen_test.go).
func Check[T any](t *testing.T, schema string, fromAvro func([]byte) (T, error), fromNative func(any) (T, error),
	appendAvro func([]byte, T) []byte, native func(T) map[string]any) {
	t.Helper()
	n := 2000
	if testing.Short() {
		n = 200
	}
	c := Codec(t, schema)
	var parsed any
	if err := json.Unmarshal([]byte(schemas.MustText(schema)), &parsed); err != nil {
		t.Fatal(err)
	}
	seed := uint64(0)
	for _, b := range []byte(schema) {
		seed = seed*31 + uint64(b)
	}
	g := nativeGen{rand.New(rand.NewPCG(seed, 0xa7))}
	for range n {
		native0 := g.value(parsed)
		bin, err := c.BinaryFromNative(nil, native0)
		if err != nil {
			t.Fatalf("goavro cannot encode %v: %v", native0, err)
		}
		fast, err := fromAvro(bin)
		if err != nil {
			t.Fatalf("fast decoder: %v", err)
		}
		decoded, _, err := c.NativeFromBinary(bin)
		if err != nil {
			t.Fatal(err)
		}
		slow, err := fromNative(decoded)
		if err != nil {
			t.Fatalf("FromNative: %v", err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast decoder and FromNative differ\nfast: %#v\nslow: %#v", fast, slow)
		}
		enc := appendAvro(nil, fast)
		again, err := fromAvro(enc)
		if err != nil || !reflect.DeepEqual(again, fast) {
			t.Fatalf("the fast encoding does not decode to its value (%v)\nwant: %#v\ngot:  %#v", err, fast, again)
		}
		want, err := c.BinaryFromNative(nil, native(fast))
		if err != nil {
			t.Fatalf("goavro cannot encode Native(): %v", err)
		}
		if !bytes.Equal(enc, want) {
			viaGoavro, _, err := c.NativeFromBinary(enc)
			if err != nil {
				t.Fatalf("goavro cannot decode the fast encoding: %v", err)
			}
			fromFast, err := fromNative(viaGoavro)
			if err != nil || !reflect.DeepEqual(fromFast, fast) {
				t.Fatalf("the fast encoding is not goavro's encoding of Native() (%v)\nfast:   %x\ngoavro: %x", err, enc, want)
			}
		}
	}
}

// nativeGen makes random goavro native values of a schema.
type nativeGen struct{ r *rand.Rand }

func (g nativeGen) value(schema any) any {
	switch s := schema.(type) {
	case string:
		return g.primitive(s)
	case []any: // ["null", X]
		if g.r.IntN(3) == 0 {
			return nil
		}
		return goavro.Union(branchName(s[1]), g.value(s[1]))
	case map[string]any:
		if s["logicalType"] == "timestamp-millis" {
			if g.r.IntN(5) == 0 {
				return time.UnixMilli(0).UTC()
			}
			return time.UnixMilli(g.r.Int64N(4e12) - 1e12).UTC()
		}
		switch s["type"] {
		case "record":
			m := map[string]any{}
			for _, f := range s["fields"].([]any) {
				fm := f.(map[string]any)
				m[fm["name"].(string)] = g.value(fm["type"])
			}
			return m
		case "array":
			out := make([]any, g.r.IntN(4))
			for i := range out {
				out[i] = g.value(s["items"])
			}
			return out
		case "map":
			m := map[string]any{}
			for range g.r.IntN(4) {
				m[g.str()] = g.value(s["values"])
			}
			return m
		}
		return g.primitive(s["type"].(string))
	}
	panic("unknown schema")
}

func branchName(s any) string {
	switch s := s.(type) {
	case string:
		return s
	case map[string]any:
		if lt, ok := s["logicalType"].(string); ok {
			return s["type"].(string) + "." + lt
		}
		if s["type"] == "record" {
			return s["namespace"].(string) + "." + s["name"].(string)
		}
		return s["type"].(string)
	}
	panic("unknown branch")
}

func (g nativeGen) primitive(name string) any {
	switch name {
	case "string":
		return g.str()
	case "long":
		if g.r.IntN(4) == 0 { // wide, but a duration in milliseconds still fits time.Duration
			return int64(g.r.Uint64()) >> 24
		}
		return g.r.Int64N(1<<20) - 1<<19
	case "int":
		if g.r.IntN(4) == 0 {
			return int32(g.r.Uint32())
		}
		return int32(g.r.IntN(1000)) - 100
	case "double":
		return []float64{0, -1.5, math.MaxFloat64, math.SmallestNonzeroFloat64, g.r.Float64() * 1e6}[g.r.IntN(5)]
	case "boolean":
		return g.r.IntN(2) == 0
	}
	panic("unknown primitive " + name)
}

func (g nativeGen) str() string {
	switch g.r.IntN(6) {
	case 0:
		return ""
	case 1:
		return "null"
	case 2:
		return ` {"a": [1, "ß"]} `
	case 3:
		return strings.Repeat("xy", 40+g.r.IntN(100))
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_.:-Ä日🧀"
	runes := []rune(alphabet)
	out := make([]rune, g.r.IntN(16))
	for i := range out {
		out[i] = runes[g.r.IntN(len(runes))]
	}
	return string(out)
}
