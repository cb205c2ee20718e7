package stream_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// word is the decoded value of the typed tests' inputs.
type word struct{ text string }

// decodeWord reads a test input: "bad..." is not the wire format,
// "unknown..." names a schema the registry does not know, "down..." meets
// a registry that does not answer; anything else is a word.
func decodeWord(_ context.Context, b []byte) (word, error) {
	v := string(b)
	switch {
	case strings.HasPrefix(v, "bad"):
		return word{}, fmt.Errorf("reading %q: %w", v, avroserde.ErrNotWireFormat)
	case strings.HasPrefix(v, "unknown"):
		return word{}, fmt.Errorf("schema 99: %w", avroserde.ErrUnknownSchema)
	case strings.HasPrefix(v, "down"):
		return word{}, errors.New("registry unreachable")
	}
	return word{text: v}, nil
}

// upperWord is upper as a typed handler: poison is permanent, drop is
// filtered out, anything else continues the input's event upper-cased.
func upperWord(_ context.Context, in stream.Input[word]) ([]stream.Output, error) {
	switch {
	case strings.HasPrefix(in.Value.text, "poison"):
		return nil, stream.Permanent(stream.ClassInvalid, fmt.Errorf("value %q is poison", in.Value.text))
	case strings.HasPrefix(in.Value.text, "drop"):
		return nil, nil
	}
	return []stream.Output{stream.Carry(&kgo.Record{Topic: outTopic, Key: in.Record.Key, Value: []byte(strings.ToUpper(in.Value.text))})}, nil
}

func header(key, value string) kgo.RecordHeader {
	return kgo.RecordHeader{Key: key, Value: []byte(value)}
}

// headerList is hs as "key=value" lines, for comparing and printing.
func headerList(hs []kgo.RecordHeader) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.Key+"="+string(h.Value))
	}
	return out
}

func TestTypedPutsTheInputsHeadersOnItsOutputs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     []kgo.RecordHeader
		carry  []string // a Carry output with an own header x=1
		bare   []string // a Carry output without headers of its own
		derive []string
	}{
		{
			name:  "event and correlation ids",
			in:    []kgo.RecordHeader{header(topics.HeaderEventID, "ev1"), header("x-other", "00-ab"), header(topics.HeaderCorrelationID, "c1"), header(topics.HeaderSource, "shop")},
			carry: []string{"surge.event-id=ev1", "surge.correlation-id=c1", "x=1"},
			bare:  []string{"surge.event-id=ev1", "surge.correlation-id=c1"},
			derive: []string{"surge.event-id=ev2", "surge.correlation-id=c1", "surge.causation-id=ev1",
				"surge.event-type=inventory.reserved", "surge.source=surge"},
		},
		{
			name: "the trace context, copied as it is when the stage does not trace",
			in: []kgo.RecordHeader{header(topics.HeaderEventID, "ev1"), header(topics.HeaderTraceParent, "00-ab"),
				header(topics.HeaderCorrelationID, "c1"), header(topics.HeaderTraceState, "k=v")},
			carry: []string{"surge.event-id=ev1", "traceparent=00-ab", "surge.correlation-id=c1", "tracestate=k=v", "x=1"},
			bare:  []string{"surge.event-id=ev1", "traceparent=00-ab", "surge.correlation-id=c1", "tracestate=k=v"},
			derive: []string{"surge.event-id=ev2", "surge.correlation-id=c1", "surge.causation-id=ev1", "traceparent=00-ab", "tracestate=k=v",
				"surge.event-type=inventory.reserved", "surge.source=surge"},
		},
		{
			name:  "correlation id first",
			in:    []kgo.RecordHeader{header(topics.HeaderCorrelationID, "c1"), header(topics.HeaderEventID, "ev1")},
			carry: []string{"surge.correlation-id=c1", "surge.event-id=ev1", "x=1"},
			bare:  []string{"surge.correlation-id=c1", "surge.event-id=ev1"},
			derive: []string{"surge.event-id=ev2", "surge.correlation-id=c1", "surge.causation-id=ev1",
				"surge.event-type=inventory.reserved", "surge.source=surge"},
		},
		{
			name:  "no correlation id",
			in:    []kgo.RecordHeader{header(topics.HeaderEventID, "ev1")},
			carry: []string{"surge.event-id=ev1", "x=1"},
			bare:  []string{"surge.event-id=ev1"},
			derive: []string{"surge.event-id=ev2", "surge.causation-id=ev1",
				"surge.event-type=inventory.reserved", "surge.source=surge"},
		},
		{
			name:  "an empty correlation id is not carried onto a new event",
			in:    []kgo.RecordHeader{header(topics.HeaderEventID, "ev1"), header(topics.HeaderCorrelationID, "")},
			carry: []string{"surge.event-id=ev1", "surge.correlation-id=", "x=1"},
			bare:  []string{"surge.event-id=ev1", "surge.correlation-id="},
			derive: []string{"surge.event-id=ev2", "surge.causation-id=ev1",
				"surge.event-type=inventory.reserved", "surge.source=surge"},
		},
		{
			name:   "no headers",
			carry:  []string{"x=1"},
			bare:   []string{},
			derive: []string{"surge.event-id=ev2", "surge.causation-id=ev1", "surge.event-type=inventory.reserved", "surge.source=surge"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &kgo.Record{Topic: "in", Key: []byte("k"), Value: []byte("order"), Headers: tc.in}
			var seen stream.Input[word]
			h := stream.Typed("test value", decodeWord, func(_ context.Context, in stream.Input[word]) ([]stream.Output, error) {
				seen = in
				return []stream.Output{
					stream.Carry(&kgo.Record{Topic: "out", Headers: []kgo.RecordHeader{header("x", "1")}}),
					stream.Carry(&kgo.Record{Topic: "snapshots"}),
					stream.Derive(&kgo.Record{Topic: "raw", Headers: []kgo.RecordHeader{
						header(topics.HeaderEventType, "inventory.reserved"), header(topics.HeaderSource, "surge"),
					}}, "ev2", "ev1"),
				}, nil
			})
			outs, err := h(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if seen.Record != in || seen.Value.text != "order" {
				t.Errorf("the handler saw %+v, want the input record and its decoded value", seen)
			}
			if len(outs) != 3 || outs[0].Topic != "out" || outs[1].Topic != "snapshots" || outs[2].Topic != "raw" {
				t.Fatalf("outputs %v, want out, snapshots and raw in that order", outs)
			}
			for i, want := range [][]string{tc.carry, tc.bare, tc.derive} {
				if got := headerList(outs[i].Headers); !reflect.DeepEqual(got, want) {
					t.Errorf("output %s headers\n got %q\nwant %q", outs[i].Topic, got, want)
				}
			}
			if got := headerList(in.Headers); !reflect.DeepEqual(got, headerList(tc.in)) {
				t.Errorf("the input's headers changed to %q", got)
			}
		})
	}
}

func TestTypedClassifiesDecodeFailures(t *testing.T) {
	for _, tc := range []struct {
		value, class, msg string // class "": transient
	}{
		{"bad-1", stream.ClassUndecodable, `decoding test value: reading "bad-1": ` + avroserde.ErrNotWireFormat.Error()},
		{"unknown-1", stream.ClassUnknownSchema, "decoding test value: schema 99: " + avroserde.ErrUnknownSchema.Error()},
		{"down-1", "", "decoding test value: registry unreachable"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			called := false
			h := stream.Typed("test value", decodeWord, func(context.Context, stream.Input[word]) ([]stream.Output, error) {
				called = true
				return nil, nil
			})
			outs, err := h(context.Background(), &kgo.Record{Value: []byte(tc.value)})
			if called || outs != nil {
				t.Errorf("the handler ran (%v) or outputs came back (%v) for a value that does not decode", called, outs)
			}
			perm, ok := stream.AsPermanent(err)
			switch {
			case tc.class == "" && ok:
				t.Fatalf("error %v is permanent (%s), want transient", err, perm.Class)
			case tc.class == "" && err != nil && err.Error() != tc.msg:
				t.Fatalf("error %q, want %q", err, tc.msg)
			case tc.class == "" && err == nil:
				t.Fatal("no error for a value the registry could not read")
			case tc.class != "" && !ok:
				t.Fatalf("error %v is not permanent, want class %s", err, tc.class)
			case tc.class != "" && (perm.Class != tc.class || perm.Err.Error() != tc.msg):
				t.Fatalf("permanent %s %q, want %s %q", perm.Class, perm.Err, tc.class, tc.msg)
			}
		})
	}
}

func TestTypedReturnsTheHandlersErrors(t *testing.T) {
	poison := stream.Permanent(stream.ClassInvalid, errors.New("poison"))
	deferred := fmt.Errorf("waiting for the loader: %w", stream.ErrDefer)
	for _, want := range []error{poison, deferred, errors.New("loader timed out")} {
		h := stream.Typed("test value", decodeWord, func(context.Context, stream.Input[word]) ([]stream.Output, error) {
			return []stream.Output{stream.Carry(&kgo.Record{Topic: "out"})}, want
		})
		outs, err := h(context.Background(), &kgo.Record{Value: []byte("v")})
		if err != want || outs != nil {
			t.Errorf("Typed returned %v, %v; want no outputs and the handler's %v", outs, err, want)
		}
	}
}

// TestTypedStageDeadLettersAndCarriesHeaders runs a stage with a typed
// handler: inputs that do not decode and inputs the handler fails for good
// are dead-lettered with their class, error and original headers, and the
// outputs carry their inputs' event and correlation ids.
func TestTypedStageDeadLettersAndCarriesHeaders(t *testing.T) {
	brokers := newCluster(t)
	const n = 200
	produceInputs(t, brokers, n, 10, func(i int) string {
		switch i % 20 {
		case 3:
			return "bad-" + strconv.Itoa(i)
		case 4:
			return "unknown-" + strconv.Itoa(i)
		case 5:
			return "poison-" + strconv.Itoa(i)
		case 6:
			return "drop-" + strconv.Itoa(i)
		}
		return "v-" + strconv.Itoa(i)
	})
	const want = n - 4*n/20
	runUntil(t, stage(brokers, stream.Typed("test value", decodeWord, upperWord)), func() bool {
		return len(readCommitted(t, brokers, outTopic)) >= want
	})
	outs := readCommitted(t, brokers, outTopic)
	assertOrderedOnce(t, outs, n, func(i int) bool { return i%20 < 3 || i%20 > 6 })
	for _, r := range outs {
		i := strings.TrimPrefix(string(r.Value), "V-")
		if got, want := headerList(r.Headers), []string{"surge.event-id=ev" + i, "surge.correlation-id=corr" + i}; !reflect.DeepEqual(got, want) {
			t.Fatalf("output %s headers %q, want %q", r.Value, got, want)
		}
	}

	dlq := readCommitted(t, brokers, dlqTopic)
	if len(dlq) != 3*n/20 {
		t.Fatalf("%d dead letters, want %d", len(dlq), 3*n/20)
	}
	for _, r := range dlq {
		v := string(r.Value)
		i := v[strings.IndexByte(v, '-')+1:]
		var class, msg string
		switch {
		case strings.HasPrefix(v, "bad-"):
			class, msg = stream.ClassUndecodable, fmt.Sprintf("decoding test value: reading %q: %v", v, avroserde.ErrNotWireFormat)
		case strings.HasPrefix(v, "unknown-"):
			class, msg = stream.ClassUnknownSchema, "decoding test value: schema 99: "+avroserde.ErrUnknownSchema.Error()
		case strings.HasPrefix(v, "poison-"):
			class, msg = stream.ClassInvalid, fmt.Sprintf("value %q is poison", v)
		default:
			t.Fatalf("dead letter %q was not expected", v)
		}
		got := headerList(r.Headers)
		if len(got) < 2 || got[0] != "surge.event-id=ev"+i || got[1] != "surge.correlation-id=corr"+i {
			t.Errorf("dead letter %s does not start with its original headers: %q", v, got)
		}
		for key, want := range map[string]string{
			topics.HeaderDLQErrorClass: class,
			topics.HeaderDLQError:      msg,
			topics.HeaderDLQStage:      "test",
			topics.HeaderDLQTopic:      inTopic,
		} {
			if got := stream.Header(r, key); got != want {
				t.Errorf("dead letter %s: header %s = %q, want %q", v, key, got, want)
			}
		}
	}
}
