package otlptest_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/tracing/otlptest"
)

// TestReceiverDecodesTheSDKsExports sends spans with the SDK's own
// OTLP/HTTP exporter, gzip and not, and reads them back.
func TestReceiverDecodesTheSDKsExports(t *testing.T) {
	for _, compression := range []otlptracehttp.Compression{otlptracehttp.NoCompression, otlptracehttp.GzipCompression} {
		rc := otlptest.NewReceiver(t)
		exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(rc.URL+"/v1/traces"), otlptracehttp.WithCompression(compression))
		if err != nil {
			t.Fatal(err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "svc"))))
		ctx, parent := tp.Tracer("scope").Start(context.Background(), "parent", trace.WithSpanKind(trace.SpanKindServer))
		_, child := tp.Tracer("scope").Start(ctx, "child", trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithLinks(trace.Link{SpanContext: parent.SpanContext()}),
			trace.WithAttributes(attribute.String("s", "v"), attribute.Int("i", 7), attribute.Bool("b", true)))
		child.End()
		parent.End()
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		var spans []otlptest.Span
		kafkatest.WaitFor(t, 10*time.Second, "two spans", func() bool { spans = rc.Spans(); return len(spans) == 2 })
		c, p := spans[0], spans[1]
		psc := parent.SpanContext()
		if c.Name != "child" || c.Kind != "producer" || c.Service != "svc" || c.Scope != "scope" ||
			c.TraceID != psc.TraceID().String() || c.ParentID != psc.SpanID().String() ||
			c.Attrs["s"] != "v" || c.Attrs["i"] != int64(7) || c.Attrs["b"] != true ||
			len(c.Links) != 1 || c.Links[0] != (otlptest.Link{TraceID: psc.TraceID().String(), SpanID: psc.SpanID().String()}) {
			t.Errorf("compression %v: child %+v", compression, c)
		}
		if p.Name != "parent" || p.Kind != "server" || p.ParentID != "" || p.SpanID != psc.SpanID().String() {
			t.Errorf("compression %v: parent %+v", compression, p)
		}
	}
}
