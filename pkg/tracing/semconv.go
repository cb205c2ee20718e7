package tracing

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Surge's own span attributes, next to the semantic conventions'.
const (
	AttrEventID        = attribute.Key("surge.event_id")
	AttrStage          = attribute.Key("surge.stage")
	AttrSubscriptionID = attribute.Key("surge.subscription_id")
	AttrDeliveryID     = attribute.Key("surge.delivery_id")
	AttrOutcome        = attribute.Key("surge.delivery.outcome")
	// AttrCommitted says whether a stage's transaction committed (an
	// abort by a rebalance is no error).
	AttrCommitted = attribute.Key("surge.transaction.committed")
)

// StartProcess starts the CONSUMER span of a stage processing one record
// it read from rec.Topic in consumer group group: "process <topic>", a
// child of the context rec's headers carry (the span that wrote it), or
// a new trace's root when they carry none, with the messaging attributes
// of the semantic conventions for Kafka.
func StartProcess(ctx context.Context, t trace.Tracer, stage, group string, rec *kgo.Record) (context.Context, trace.Span) {
	ctx = FromRecord(ctx, rec.Headers)
	return t.Start(ctx, "process "+rec.Topic, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		semconv.MessagingSystemKafka,
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingOperationName("process"),
		semconv.MessagingDestinationName(rec.Topic),
		semconv.MessagingDestinationPartitionID(strconv.Itoa(int(rec.Partition))),
		semconv.MessagingKafkaOffset(int(rec.Offset)),
		semconv.MessagingConsumerGroupName(group),
		semconv.MessagingKafkaMessageKey(string(rec.Key)),
		semconv.MessagingMessageBodySize(len(rec.Value)),
		AttrStage.String(stage),
	))
}

// StartCommit starts the CLIENT span of a stage's Kafka transaction over
// one poll of records from topic: "commit <topic>", a root of its own
// with messaging.operation.type=settle. The records' process spans are
// not its children (each continues its own event's trace): the caller
// links each of them to it (AddLink), so one batch of thousands of
// records is no trace of thousands of spans under one parent. The SDK
// keeps the first 128 links (OTEL_SPAN_LINK_COUNT_LIMIT).
func StartCommit(ctx context.Context, t trace.Tracer, stage, group, topic string, records int) (context.Context, trace.Span) {
	return t.Start(ctx, "commit "+topic, trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		semconv.MessagingSystemKafka,
		semconv.MessagingOperationTypeSettle,
		semconv.MessagingOperationName("commit"),
		semconv.MessagingDestinationName(topic),
		semconv.MessagingConsumerGroupName(group),
		semconv.MessagingBatchMessageCount(records),
		AttrStage.String(stage),
	))
}

// StartSend starts the PRODUCER span of writing one record to topic:
// "send <topic>", with opts for its parent or links. The record's headers
// take its context (AppendContext) so the stage reading it continues the
// trace.
func StartSend(ctx context.Context, t trace.Tracer, topic string, key []byte, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	opts = append(opts, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		semconv.MessagingSystemKafka,
		semconv.MessagingOperationTypeSend,
		semconv.MessagingOperationName("send"),
		semconv.MessagingDestinationName(topic),
		semconv.MessagingKafkaMessageKey(string(key)),
	))
	return t.Start(ctx, "send "+topic, opts...)
}

// StartServer starts the SERVER span of an HTTP request handled by the
// route pattern route ("POST /v1/events"): a child of the trace context
// the request carries, or a new trace's root.
func StartServer(t trace.Tracer, r *http.Request, route string) (context.Context, trace.Span) {
	ctx := FromHTTP(r.Context(), r.Header)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(r.Method),
		semconv.URLPath(r.URL.Path),
		semconv.URLScheme(scheme),
		semconv.HTTPRoute(route),
	}
	if host, port := hostPort(r.Host); host != "" {
		attrs = append(attrs, semconv.ServerAddress(host))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	return t.Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
}

// EndServer ends a SERVER span with the response's status: a 5xx is an
// error (error.type is the status code), a 4xx is the client's and is
// not.
func EndServer(span trace.Span, status int) {
	span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// StartClient starts the CLIENT span of one HTTP attempt, POST to target:
// "POST", with the URL without its user info or query (which may hold
// credentials), and resends, the attempts made before this one, as
// http.request.resend_count when there were any.
func StartClient(ctx context.Context, t trace.Tracer, target string, resends int, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	attrs = append(attrs, semconv.HTTPRequestMethodPost)
	if u, err := url.Parse(target); err == nil {
		host, port := hostPort(u.Host)
		if port == 0 {
			port = map[string]int{"http": 80, "https": 443}[u.Scheme]
		}
		clean := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
		attrs = append(attrs, semconv.URLFull(clean.String()), semconv.ServerAddress(host))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if resends > 0 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(resends))
	}
	return t.Start(ctx, http.MethodPost, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// EndClient ends a CLIENT span with what the attempt came to: the
// response status when there was one; error.type (the status code from
// 400 up, or errType when no response came) and an error status when the
// attempt failed.
func EndClient(span trace.Span, status int, err error, errType string) {
	if status > 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	switch {
	case status >= 400:
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
		span.SetStatus(codes.Error, http.StatusText(status))
	case err != nil:
		if errType == "" {
			errType = semconv.ErrorTypeOther.Value.AsString()
		}
		span.SetAttributes(semconv.ErrorTypeKey.String(errType))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// hostPort splits a host[:port]; port is 0 when absent or not a number.
func hostPort(hp string) (string, int) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return hp, 0
	}
	port, _ := strconv.Atoi(p)
	return host, port
}
