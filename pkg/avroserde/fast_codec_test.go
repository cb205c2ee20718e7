package avroserde

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/surgehq/surge/pkg/avrowire"
	"github.com/surgehq/surge/pkg/avrowire/avrotest"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/schemas"
)

// fastRegistry returns a Registry over an in-memory schema registry.
func fastRegistry(t testing.TB) (*srfake.Registry, *Registry) {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	return fake, registryAt(t, fake.URL())
}

// registryAt returns a Registry, its cache empty, of the registry at url.
func registryAt(t testing.TB, url string) *Registry {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	return NewRegistry(cl)
}

// goavroOnly returns a codec of the same schema and conversions as
// ft.newCodec, without the fast path.
func (ft fastType[T]) goavroOnly(reg *Registry, topic string) *Codec[T] {
	return NewCodec(reg, topic, ft.schema, ft.native, ft.fromNative)
}

func register(t testing.TB, cs ...interface{ Register(context.Context) error }) {
	t.Helper()
	for _, c := range cs {
		if err := c.Register(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFastCodec checks that a codec with a fast path writes goavro's bytes
// and reads its own and goavro's bytes to goavro's value.
func TestFastCodec(t *testing.T) {
	for _, r := range fastRecords {
		t.Run(r.recordName(), r.testCodec)
	}
}

// testCodec runs testFastCodec with the sample, the zero value and a
// random value.
func (ft fastType[T]) testCodec(t *testing.T) {
	var zero T
	testFastCodec(t, ft, append([]T{ft.sample, zero}, ft.randoms(20, 1)...)...)
}

func testFastCodec[T any](t *testing.T, ft fastType[T], values ...T) {
	ctx := context.Background()
	fake, reg := fastRegistry(t)
	fast, slow := ft.newCodec(reg, "topic"), ft.goavroOnly(reg, "topic")
	register(t, fast, slow)
	if fast.ID() != slow.ID() {
		t.Fatalf("ids %d and %d for one schema", fast.ID(), slow.ID())
	}
	// A codec that never registered decodes everything with goavro.
	unregistered := ft.newCodec(registryAt(t, fake.URL()), "topic")

	for _, v := range values {
		prefix := []byte("key")
		fb, err := fast.AppendEncode(prefix, v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(fb, prefix) {
			t.Fatalf("AppendEncode overwrote dst: %q", fb)
		}
		fb = fb[len(prefix):]
		sb, err := slow.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fb[:HeaderLen], sb[:HeaderLen]) {
			t.Fatalf("header % x, goavro's % x", fb[:HeaderLen], sb[:HeaderLen])
		}
		if ft.mapLen(v) <= 1 && !bytes.Equal(fb, sb) {
			t.Errorf("fast encoding % x\n      goavro's % x", fb, sb)
		}
		want, err := slow.Decode(ctx, sb)
		if err != nil {
			t.Fatal(err)
		}
		for _, dec := range []*Codec[T]{fast, slow, unregistered} {
			for _, b := range [][]byte{fb, sb} {
				got, err := dec.Decode(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("decoded\n got: %#v\nwant: %#v", got, want)
				}
			}
		}
	}
}

// overlongFirstLength returns wire-format b with the length of the record's
// first field (a string shorter than 64 bytes) written as an 11-byte
// varint. goavro reads it; the fast decoder rejects it, which tells which
// of the two decoded a value.
func overlongFirstLength(t testing.TB, b []byte) []byte {
	t.Helper()
	n := b[HeaderLen]
	if n >= 0x80 {
		t.Fatalf("first length % x takes more than a byte", n)
	}
	out := append([]byte(nil), b[:HeaderLen]...)
	out = append(out, n|0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0)
	return append(out, b[HeaderLen+1:]...)
}

// TestFastOnlyForRegisteredID checks that the fast decoder reads only
// values written with the schema id the codec registered: a value of any
// other id, even of the same record with identical binary encoding, is
// decoded by goavro with the writer's schema.
func TestFastOnlyForRegisteredID(t *testing.T) {
	t.Run("event", func(t *testing.T) {
		testFastOnlyForRegisteredID(t, fastEvent, sampleEventValue, []string{"original_type", "attributes", "origin"},
			func(e *event.Event) { e.OriginalType, e.Attributes, e.Origin = "", nil, event.Origin{} })
	})
	t.Run("enriched", func(t *testing.T) {
		testFastOnlyForRegisteredID(t, fastEnriched, sampleEnrichedValue, []string{"flags", "correlation_id", "attributes", "warnings", "origin"},
			func(e *event.EnrichedEvent) {
				e.Flags, e.CorrelationID, e.Attributes, e.Warnings, e.Origin = nil, "", nil, nil, event.Origin{}
			})
	})
	t.Run("delivery", func(t *testing.T) {
		testFastOnlyForRegisteredID(t, fastDelivery, sampleDeliveryValue, []string{"next_attempt_at", "first_failure_at", "last_failure_at", "last_status", "last_error"},
			func(d *event.Delivery) {
				d.NextAttemptAt, d.FirstFailureAt, d.LastFailureAt, d.LastStatus, d.LastError = nil, nil, nil, 0, ""
			})
	})
	t.Run("attempt", func(t *testing.T) {
		testFastOnlyForRegisteredID(t, fastAttempt, sampleAttemptValue, []string{"next_attempt_at", "correlation_id"},
			func(a *event.DeliveryAttempt) { a.NextAttemptAt, a.CorrelationID = nil, "" })
	})
}

func testFastOnlyForRegisteredID[T any](t *testing.T, ft fastType[T], v T, older []string, clear func(*T)) {
	ctx := context.Background()
	_, reg := fastRegistry(t)

	// Older versions of the subject: one without some fields, one that
	// differs from the current schema in its doc only.
	oldID, err := reg.Register(ctx, "topic", avrotest.WithoutFields(t, schemas.MustText(ft.schema), older...))
	if err != nil {
		t.Fatal(err)
	}
	docID, err := reg.Register(ctx, "topic", avrotest.EditSchema(t, schemas.MustText(ft.schema), func(s map[string]any) { s["doc"] = "an older doc" }))
	if err != nil {
		t.Fatal(err)
	}
	fast := ft.newCodec(reg, "topic")
	register(t, fast)
	if fast.ID() == oldID || fast.ID() == docID || oldID == docID {
		t.Fatalf("ids %d, %d, %d", fast.ID(), oldID, docID)
	}
	encode := func(id int, drop []string) []byte {
		codec, err := reg.Codec(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		native := ft.native(v)
		for _, name := range drop {
			delete(native, name)
		}
		b, err := AppendEncode(nil, id, codec, native)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want, err := fast.Decode(ctx, encode(fast.ID(), nil))
	if err != nil {
		t.Fatal(err)
	}

	// The older schema without some fields: they read as their defaults.
	got, err := fast.Decode(ctx, encode(oldID, older))
	if err != nil {
		t.Fatal(err)
	}
	wantOld := want
	clear(&wantOld)
	if !reflect.DeepEqual(got, wantOld) {
		t.Errorf("value of the older schema\n got: %#v\nwant: %#v", got, wantOld)
	}

	// The same bytes under the current id and under another id of the same
	// binary encoding: goavro reads the overlong length, the fast decoder
	// does not.
	current := overlongFirstLength(t, encode(fast.ID(), nil))
	if _, err := fast.Decode(ctx, current); !errors.Is(err, ErrUndecodable) || !errors.Is(err, avrowire.ErrVarintOverflow) {
		t.Errorf("overlong length under the registered id: error %v, want ErrUndecodable (fast decoder)", err)
	}
	if got, err := ft.goavroOnly(reg, "topic").Decode(ctx, current); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("goavro does not read the overlong length as expected: %v", err)
	}
	docOnly := overlongFirstLength(t, encode(docID, nil))
	got, err = fast.Decode(ctx, docOnly)
	if err != nil {
		t.Fatalf("value of another id, same encoding: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("value of another id, same encoding\n got: %#v\nwant: %#v", got, want)
	}
}

// TestFastCorrupt checks that truncated and corrupted values decode to
// ErrUndecodable (or to goavro's value where the corruption still decodes)
// and never panic.
func TestFastCorrupt(t *testing.T) {
	for _, r := range fastRecords {
		t.Run(r.recordName(), r.testCorrupt)
	}
}

// testCorrupt runs testFastCorrupt with the sample and two random values.
func (ft fastType[T]) testCorrupt(t *testing.T) {
	testFastCorrupt(t, ft, append([]T{ft.sample}, ft.randoms(30, 2)...)...)
}

func testFastCorrupt[T any](t *testing.T, ft fastType[T], values ...T) {
	ctx := context.Background()
	_, reg := fastRegistry(t)
	fast := ft.newCodec(reg, "topic")
	register(t, fast)
	c := ft.goavroCodec(t)
	r := rand.New(rand.NewPCG(uint64(len(values)), 7))
	class := func(b []byte, want error) {
		t.Helper()
		_, err := fast.Decode(ctx, b)
		if classes := errorClasses(err); len(classes) != 1 || classes[0] != want {
			t.Fatalf("error %v, of the classes %v, want %v only\n% x", err, classes, want, b)
		}
	}
	for _, v := range values {
		b, err := fast.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(b) {
			want := ErrUndecodable
			if i < HeaderLen {
				want = ErrNotWireFormat
			}
			class(b[:i], want)
		}
		class(append(append([]byte(nil), b...), 0), ErrUndecodable)
		class(append(append([]byte(nil), b...), b[HeaderLen:]...), ErrUndecodable)

		for range 1000 {
			bad := append([]byte(nil), b...)
			for range 1 + r.IntN(3) {
				i := HeaderLen + r.IntN(len(b)-HeaderLen)
				switch r.IntN(3) {
				case 0:
					bad[i] ^= 1 << r.IntN(8)
				case 1:
					bad[i] = byte(r.Uint32())
				default:
					bad[i] |= 0x80 // a varint that goes on
				}
			}
			if _, err := fast.Decode(ctx, bad); err != nil && !errors.Is(err, ErrUndecodable) {
				t.Fatalf("error %v, want ErrUndecodable", err)
			}
			ft.checkRead(t, c, bad[HeaderLen:])
		}
	}
}

// TestWithFastNil checks that a nil fast encoder or decoder leaves that
// direction to goavro.
func TestWithFastNil(t *testing.T) {
	ctx := context.Background()
	_, reg := fastRegistry(t)
	readOnly := NewCodec(reg, "topic", schemas.Delivery, event.Delivery.Native, event.DeliveryFromNative).WithFast(nil, event.DeliveryFromAvro)
	writeOnly := NewCodec(reg, "topic", schemas.Delivery, event.Delivery.Native, event.DeliveryFromNative).WithFast(event.AppendDeliveryAvro, nil)
	register(t, readOnly, writeOnly)
	a, err := readOnly.Encode(sampleDeliveryValue)
	if err != nil {
		t.Fatal(err)
	}
	b, err := writeOnly.Encode(sampleDeliveryValue)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("encodings differ\n% x\n% x", a, b)
	}
	overlong := overlongFirstLength(t, a)
	if _, err := readOnly.Decode(ctx, overlong); !errors.Is(err, avrowire.ErrVarintOverflow) {
		t.Errorf("read-only fast codec: error %v, want the fast decoder's", err)
	}
	if _, err := writeOnly.Decode(ctx, overlong); err != nil {
		t.Errorf("write-only fast codec does not decode with goavro: %v", err)
	}
}
