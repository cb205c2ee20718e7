package ingest

import (
	"context"
	"net/http"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/tracing"
)

// The CloudEvents distributed-tracing extension's attributes, as the
// decoder keeps them (AttrCloudEventsPrefix + name).
const (
	attrCloudEventsTraceParent = AttrCloudEventsPrefix + topics.HeaderTraceParent
	attrCloudEventsTraceState  = AttrCloudEventsPrefix + topics.HeaderTraceState
)

// traceRequest returns r with the trace context of the request in its
// context and the function that ends the request's span with its status.
// With tracing on, that is the SERVER span of the request, a child of the
// request's traceparent; with tracing off it is the request's traceparent
// alone (no span), which the events' records then carry unchanged.
func (s *Service) traceRequest(r *http.Request) (*http.Request, func(status int)) {
	if s.tracer == nil {
		if ctx := tracing.FromHTTP(r.Context(), r.Header); ctx != r.Context() {
			r = r.WithContext(ctx)
		}
		return r, func(int) {}
	}
	ctx, span := tracing.StartServer(s.tracer, r, route(r.Pattern))
	return r.WithContext(ctx), func(status int) { tracing.EndServer(span, status) }
}

// route is the path of a mux pattern ("POST /v1/events" → "/v1/events").
func route(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		return pattern[i+1:]
	}
	return pattern
}

// traceEvent writes the trace context of an event's record on rec and,
// with tracing on, returns the record's PRODUCER span ("send
// commerce.events.raw") for the caller to end when the write does. The
// event's trace is, in order:
//
//   - the CloudEvent's own traceparent (distributed-tracing extension),
//     with a link to the request's span: the event's sender traced it;
//   - for one event, the request's (a child of the request's span);
//   - for an event of a batch, a trace of its own, linked to the
//     request's span, so a batch of thousands of events is not one trace
//     of thousands of records.
//
// With tracing off no span is made and the record carries the
// CloudEvent's or the request's traceparent unchanged, when there is one.
func (s *Service) traceEvent(ctx context.Context, ev *event.Event, rec *kgo.Record, batch bool) trace.Span {
	parent := ctx
	var opts []trace.SpanStartOption
	request := trace.SpanContextFromContext(ctx)
	if sc := tracing.Parse(ev.Attributes[attrCloudEventsTraceParent], ev.Attributes[attrCloudEventsTraceState]); sc.IsValid() {
		parent = trace.ContextWithRemoteSpanContext(ctx, sc)
		if request.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: request}))
		}
	} else if batch && s.tracer != nil {
		opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: request}))
	}
	if s.tracer == nil {
		rec.Headers = tracing.AppendContext(parent, rec.Headers)
		return nil
	}
	opts = append(opts, trace.WithAttributes(tracing.AttrEventID.String(ev.ID), semconv.MessagingMessageID(ev.ID)))
	sctx, span := tracing.StartSend(parent, s.tracer, rec.Topic, rec.Key, opts...)
	rec.Headers = tracing.AppendContext(sctx, rec.Headers)
	return span
}

// failSpans marks the send spans of a write that failed.
func failSpans(spans []trace.Span, err error) {
	for _, span := range spans {
		span.SetAttributes(semconv.ErrorTypeOther)
		span.SetStatus(codes.Error, err.Error())
	}
}
