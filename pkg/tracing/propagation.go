package tracing

import (
	"context"
	"net/http"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/surgehq/surge/pkg/topics"
)

// propagator reads and writes the W3C trace context: the traceparent and
// tracestate headers (topics.HeaderTraceParent, topics.HeaderTraceState
// on records).
var propagator = propagation.TraceContext{}

// FromRecord returns ctx with the remote span context of headers'
// traceparent and tracestate, or ctx itself when they carry none (or an
// invalid one); without a traceparent it allocates nothing.
func FromRecord(ctx context.Context, headers []kgo.RecordHeader) context.Context {
	if !HasContext(headers) {
		return ctx
	}
	h := headers // a parameter given to the carrier would escape on every call
	return propagator.Extract(ctx, recordCarrier{headers: &h})
}

// HasContext reports whether headers hold a traceparent.
func HasContext(headers []kgo.RecordHeader) bool {
	for _, h := range headers {
		if h.Key == topics.HeaderTraceParent {
			return true
		}
	}
	return false
}

// AppendContext returns headers followed by the traceparent (and
// tracestate, when not empty) of ctx's span context; headers unchanged
// when ctx has no valid span context.
func AppendContext(ctx context.Context, headers []kgo.RecordHeader) []kgo.RecordHeader {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return headers
	}
	h, n := headers, len(headers) // a parameter given to the carrier would escape on every call
	propagator.Inject(ctx, recordCarrier{headers: &h})
	// The propagator writes tracestate first; records carry traceparent
	// first, as the header table lists them.
	if len(h) == n+2 && h[n].Key == topics.HeaderTraceState {
		h[n], h[n+1] = h[n+1], h[n]
	}
	return h
}

// IsTraceHeader reports whether a record header named key is one of the
// trace context's, which AppendContext writes.
func IsTraceHeader(key string) bool {
	return key == topics.HeaderTraceParent || key == topics.HeaderTraceState
}

// FromHTTP returns ctx with the remote span context of an HTTP request's
// traceparent and tracestate headers, or ctx when it has none.
func FromHTTP(ctx context.Context, h http.Header) context.Context {
	if h.Get(topics.HeaderTraceParent) == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// ToHTTP sets an HTTP request's traceparent and tracestate headers to
// ctx's span context; it changes nothing when ctx has no valid one.
func ToHTTP(ctx context.Context, h http.Header) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		propagator.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// Parse returns the span context of a traceparent and tracestate given
// as values (a CloudEvent's distributed-tracing extension attributes); it
// is not valid when traceparent is not a W3C traceparent.
func Parse(traceparent, tracestate string) trace.SpanContext {
	if traceparent == "" {
		return trace.SpanContext{}
	}
	c := propagation.MapCarrier{topics.HeaderTraceParent: traceparent}
	if tracestate != "" {
		c[topics.HeaderTraceState] = tracestate
	}
	return trace.SpanContextFromContext(propagator.Extract(context.Background(), c))
}

// recordCarrier lets the propagator read and write a record's headers.
type recordCarrier struct{ headers *[]kgo.RecordHeader }

func (c recordCarrier) Get(key string) string {
	for _, h := range *c.headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set replaces the header named key, in a copy of the headers so a
// slice shared with another record is left alone, or appends it.
func (c recordCarrier) Set(key, value string) {
	for i, h := range *c.headers {
		if h.Key == key {
			hs := slices.Clone(*c.headers)
			hs[i].Value = []byte(value)
			*c.headers = hs
			return
		}
	}
	*c.headers = append(*c.headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
}

func (c recordCarrier) Keys() []string {
	keys := make([]string, len(*c.headers))
	for i, h := range *c.headers {
		keys[i] = h.Key
	}
	return keys
}
