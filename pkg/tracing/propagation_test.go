package tracing

import (
	"context"
	"net/http"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/surgehq/surge/pkg/topics"
)

const (
	testTraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	testTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	testSpanID      = "00f067aa0ba902b7"
)

func TestRecordContextRoundTrip(t *testing.T) {
	in := []kgo.RecordHeader{
		{Key: topics.HeaderEventID, Value: []byte("ev1")},
		{Key: topics.HeaderTraceParent, Value: []byte(testTraceParent)},
		{Key: topics.HeaderTraceState, Value: []byte("k=v")},
	}
	ctx := FromRecord(context.Background(), in)
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsRemote() || sc.TraceID().String() != testTraceID || sc.SpanID().String() != testSpanID || !sc.IsSampled() || sc.TraceState().Get("k") != "v" {
		t.Fatalf("span context %+v", sc)
	}
	out := AppendContext(ctx, []kgo.RecordHeader{{Key: topics.HeaderEventID, Value: []byte("ev1")}})
	want := []string{"surge.event-id=ev1", "traceparent=" + testTraceParent, "tracestate=k=v"}
	if got := list(out); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("headers %q, want %q", got, want)
	}
}

func TestRecordWithoutContext(t *testing.T) {
	ctx := context.Background()
	for name, h := range map[string][]kgo.RecordHeader{
		"none":    {{Key: topics.HeaderEventID, Value: []byte("ev1")}},
		"invalid": {{Key: topics.HeaderTraceParent, Value: []byte("00-zz-01")}},
	} {
		if got := FromRecord(ctx, h); trace.SpanContextFromContext(got).IsValid() {
			t.Errorf("%s: a span context from %q", name, list(h))
		}
		if got := AppendContext(ctx, h); len(got) != len(h) {
			t.Errorf("%s: AppendContext without a span context added %q", name, list(got))
		}
	}
}

func TestAppendContextReplacesWithoutTouchingTheInput(t *testing.T) {
	old := []kgo.RecordHeader{{Key: topics.HeaderTraceParent, Value: []byte("00-old")}}
	ctx := FromRecord(context.Background(), []kgo.RecordHeader{{Key: topics.HeaderTraceParent, Value: []byte(testTraceParent)}})
	out := AppendContext(ctx, old)
	if got := list(out); len(got) != 1 || got[0] != "traceparent="+testTraceParent {
		t.Errorf("headers %q", got)
	}
	if string(old[0].Value) != "00-old" {
		t.Errorf("the input's header changed to %q", old[0].Value)
	}
}

func TestHTTPContext(t *testing.T) {
	h := http.Header{}
	h.Set("Traceparent", testTraceParent)
	ctx := FromHTTP(context.Background(), h)
	out := http.Header{}
	ToHTTP(ctx, out)
	if out.Get("traceparent") != testTraceParent {
		t.Errorf("traceparent %q", out.Get("traceparent"))
	}
	none := http.Header{}
	ToHTTP(context.Background(), none)
	if len(none) != 0 {
		t.Errorf("headers without a span context: %v", none)
	}
}

func TestParse(t *testing.T) {
	if sc := Parse(testTraceParent, "a=b"); sc.TraceID().String() != testTraceID || sc.TraceState().Get("a") != "b" {
		t.Errorf("Parse: %+v", sc)
	}
	for _, bad := range []string{"", "nope", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		if Parse(bad, "").IsValid() {
			t.Errorf("Parse(%q) is valid", bad)
		}
	}
}

func list(h []kgo.RecordHeader) []string {
	out := make([]string, len(h))
	for i, x := range h {
		out[i] = x.Key + "=" + string(x.Value)
	}
	return out
}

// BenchmarkRecordWithoutContext is the cost on every record when nobody
// traces: no allocation.
func BenchmarkRecordWithoutContext(b *testing.B) {
	h := []kgo.RecordHeader{{Key: topics.HeaderEventID, Value: []byte("ev1")}, {Key: topics.HeaderCorrelationID, Value: []byte("c")}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h = AppendContext(FromRecord(ctx, h), h)
	}
}
