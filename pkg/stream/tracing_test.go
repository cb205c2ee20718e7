package stream_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/tracing"
)

// TestTracedStageContinuesEachRecordsTrace runs a traced stage on Kafka:
// each input gets a CONSUMER "process" span, a child of the traceparent
// its record carries (or a new trace's root without one), with the Kafka
// messaging attributes; its output carries that span's context, not the
// input's; a dead-lettered input's span is an error of its class; each
// transaction's span is a root linked to its records' spans.
func TestTracedStageContinuesEachRecordsTrace(t *testing.T) {
	brokers := newCluster(t)
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		parent  = "00f067aa0ba902b7"
	)
	cl, err := kgo.NewClient(kafkax.ClientOpts(config.Kafka{Brokers: brokers}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	in := func(key, value string, h ...kgo.RecordHeader) *kgo.Record {
		return &kgo.Record{Topic: inTopic, Key: []byte(key), Value: []byte(value), Partition: 0,
			Headers: append([]kgo.RecordHeader{{Key: topics.HeaderEventID, Value: []byte("ev-" + key)}}, h...)}
	}
	tp := kgo.RecordHeader{Key: topics.HeaderTraceParent, Value: []byte("00-" + traceID + "-" + parent + "-01")}
	if err := cl.ProduceSync(context.Background(),
		in("traced", "a", tp, kgo.RecordHeader{Key: topics.HeaderTraceState, Value: []byte("vendor=1")}),
		in("untraced", "b"),
		in("poison", "poison", tp),
	).FirstErr(); err != nil {
		t.Fatal(err)
	}

	exp := tracetest.NewInMemoryExporter()
	sdk := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = sdk.Shutdown(context.Background()) }()
	st := stage(brokers, stream.Typed("word", func(_ context.Context, v []byte) (string, error) { return string(v), nil },
		func(_ context.Context, in stream.Input[string]) ([]stream.Output, error) {
			if in.Value == "poison" {
				return nil, stream.Permanent(stream.ClassInvalid, fmt.Errorf("poison"))
			}
			return []stream.Output{stream.Carry(&kgo.Record{Topic: outTopic, Key: in.Record.Key, Value: []byte(strings.ToUpper(in.Value))})}, nil
		}))
	st.Tracer = tracing.New(sdk).Tracer()
	var outs []*kgo.Record
	runUntil(t, st, func() bool {
		outs = readCommitted(t, brokers, outTopic)
		return len(outs) >= 2 && len(readCommitted(t, brokers, dlqTopic)) >= 1
	})

	spans := map[string]tracetest.SpanStub{} // by the input's key
	var commits []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == "commit "+inTopic {
			commits = append(commits, s)
			continue
		}
		spans[attrOf(s.Attributes, "messaging.kafka.message.key")] = s
	}
	// The transactions' spans are roots linked to the records' spans, not
	// their parents.
	linked := map[trace.SpanID]bool{}
	for _, c := range commits {
		if c.Parent.IsValid() || c.SpanKind != trace.SpanKindClient || attrOf(c.Attributes, "messaging.operation.type") != "settle" ||
			attrOf(c.Attributes, "messaging.consumer.group.name") != prefix+"g" || attrOf(c.Attributes, "messaging.batch.message_count") == "" {
			t.Errorf("transaction span %q: parent %v kind %v attributes %v", c.Name, c.Parent, c.SpanKind, c.Attributes)
		}
		for _, l := range c.Links {
			linked[l.SpanContext.SpanID()] = true
		}
	}
	for key, s := range spans {
		if !linked[s.SpanContext.SpanID()] {
			t.Errorf("%s: its process span is linked to no transaction span (%d of them)", key, len(commits))
		}
	}
	for key, want := range map[string]struct {
		parent string
		error  bool
	}{"traced": {parent: parent}, "untraced": {}, "poison": {parent: parent, error: true}} {
		s, ok := spans[key]
		if !ok {
			t.Fatalf("no span for input %s; spans %v", key, exp.GetSpans())
		}
		if s.Name != "process "+inTopic || s.SpanKind != trace.SpanKindConsumer {
			t.Errorf("%s: span %q kind %v", key, s.Name, s.SpanKind)
		}
		if want.parent != "" && (s.Parent.TraceID().String() != traceID || s.Parent.SpanID().String() != parent || s.SpanContext.TraceID().String() != traceID) {
			t.Errorf("%s: span in trace %s with parent %s, want trace %s parent %s", key, s.SpanContext.TraceID(), s.Parent.SpanID(), traceID, parent)
		}
		if want.parent == "" && s.Parent.IsValid() {
			t.Errorf("%s: span has parent %v, want a root", key, s.Parent)
		}
		for k, v := range map[string]string{
			"messaging.system": "kafka", "messaging.operation.type": "process", "messaging.destination.name": inTopic,
			"messaging.destination.partition.id": "0", "messaging.consumer.group.name": prefix + "g",
		} {
			if got := attrOf(s.Attributes, k); got != v {
				t.Errorf("%s: %s = %q, want %q", key, k, got, v)
			}
		}
		if attrOf(s.Attributes, "messaging.kafka.offset") == "" {
			t.Errorf("%s: no messaging.kafka.offset", key)
		}
		if isErr := s.Status.Code == codes.Error; isErr != want.error || (want.error && attrOf(s.Attributes, "error.type") != stream.ClassInvalid) {
			t.Errorf("%s: status %v, error.type %q", key, s.Status, attrOf(s.Attributes, "error.type"))
		}
	}
	for _, out := range outs {
		key := string(out.Key)
		s := spans[key]
		want := "00-" + s.SpanContext.TraceID().String() + "-" + s.SpanContext.SpanID().String() + "-01"
		if got := stream.Header(out, topics.HeaderTraceParent); got != want {
			t.Errorf("output of %s: traceparent %q, want the stage's span %q", key, got, want)
		}
		if key == "traced" && stream.Header(out, topics.HeaderTraceState) != "vendor=1" {
			t.Errorf("output of %s: tracestate %q, want the input's", key, stream.Header(out, topics.HeaderTraceState))
		}
	}
}

// attrOf is the value of the attribute named key as text; "" when absent.
func attrOf(attrs []attribute.KeyValue, key string) string {
	for _, a := range attrs {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}
