// Package tracing is the one place Surge sets up OpenTelemetry tracing and
// carries trace context across Kafka and HTTP. FromEnv builds a service's
// Provider from the standard OTEL_* environment variables only, and
// tracing is off unless an OTLP endpoint is set: a nil *Provider, whose
// Tracer is nil, so the services start no spans and allocate nothing per
// record for tracing. Whatever the setting, the W3C trace context a
// record or a request already carries (traceparent, tracestate) is
// passed on: a data team's consumer or a webhook receiver can continue
// the sender's trace even when Surge records no spans of its own.
//
// The spans follow the OpenTelemetry semantic conventions for messaging
// (Kafka) and HTTP (semconv.go). The name clashes with nothing in `surge
// trace`, which follows one event through the topics by its id.
package tracing

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope name of every span Surge starts.
const Scope = "github.com/surgehq/surge"

// The environment variables FromEnv reads itself; the OpenTelemetry SDK
// reads the others it documents (OTEL_TRACES_SAMPLER and _ARG,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS,
// OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_BSP_*, ...).
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvTracesExporter = "OTEL_TRACES_EXPORTER"
	EnvSDKDisabled    = "OTEL_SDK_DISABLED"
)

// Provider is a service's tracing when it is on. A nil *Provider is
// tracing off: its Tracer is nil and its Shutdown does nothing. It is
// safe for concurrent use.
type Provider struct {
	sdk *sdktrace.TracerProvider
}

// New wraps an SDK tracer provider, as tests make one with an in-memory
// exporter. A nil tp is tracing off.
func New(tp *sdktrace.TracerProvider) *Provider {
	if tp == nil {
		return nil
	}
	return &Provider{sdk: tp}
}

// Tracer is the tracer a service starts its spans with; nil when p is
// nil (tracing off), which every caller checks before starting a span.
func (p *Provider) Tracer() trace.Tracer {
	if p == nil {
		return nil
	}
	return p.sdk.Tracer(Scope)
}

// Shutdown exports the spans still buffered and stops the exporter,
// within ctx. It does nothing on a nil Provider.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.sdk.Shutdown(ctx)
}

// FromEnv returns the Provider the OTEL_* environment variables describe
// for a service named service (the service.name unless
// OTEL_SERVICE_NAME sets one): nil, tracing off, unless
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is
// set, OTEL_SDK_DISABLED is not "true" and OTEL_TRACES_EXPORTER is
// "otlp" or unset. Spans are exported by OTLP over HTTP/protobuf (the
// default) or gRPC (OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL=grpc) in
// batches; the sampler is the SDK's from OTEL_TRACES_SAMPLER, by default
// parentbased_always_on. FromEnv does no I/O: an endpoint that does not
// answer loses spans, never events.
func FromEnv(ctx context.Context, service string) (*Provider, error) {
	if !enabled(os.Getenv) {
		return nil, nil
	}
	exp, err := exporter(ctx, os.Getenv)
	if err != nil {
		return nil, err
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(service)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, fmt.Errorf("reading OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	return New(sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))), nil
}

// enabled says whether getenv's settings turn tracing on.
func enabled(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv(EnvSDKDisabled)), "true") {
		return false
	}
	if e := strings.TrimSpace(getenv(EnvTracesExporter)); e != "" && e != "otlp" {
		return false
	}
	return strings.TrimSpace(getenv(EnvTracesEndpoint)) != "" || strings.TrimSpace(getenv(EnvEndpoint)) != ""
}

// exporter is the OTLP exporter of the configured protocol; the exporter
// reads its endpoint, headers, timeout and TLS settings itself.
func exporter(ctx context.Context, getenv func(string) string) (*otlptrace.Exporter, error) {
	protocol, setting := strings.TrimSpace(getenv(EnvTracesProtocol)), EnvTracesProtocol
	if protocol == "" {
		protocol, setting = strings.TrimSpace(getenv(EnvProtocol)), EnvProtocol
	}
	var (
		exp *otlptrace.Exporter
		err error
	)
	switch protocol {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("%s is %q: Surge exports traces with http/protobuf or grpc", setting, protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("making the OTLP trace exporter: %w", err)
	}
	return exp, nil
}
