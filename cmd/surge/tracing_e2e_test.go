package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/tracing/otlptest"
	"github.com/surgehq/surge/pkg/webhook/webhooktest"
)

// TestOneEventIsOneTraceAcrossThePipeline is issue 16's OpenTelemetry run
// on surge dev, configured the way an operator does it (the OTEL_*
// variables) with an OTLP/HTTP receiver in the test: an event posted with
// a traceparent gives, in that trace, ingest's server and send spans,
// enrich's and fanout's process spans and one client span per delivery
// attempt, each the child of the one before, with the semantic
// conventions' attributes, and each stage's transaction span links to its
// record's span; the endpoint sees each attempt's traceparent
// and the record on commerce.events.enriched carries enrich's. Two
// events of a batch each get a trace of their own linked to the request's
// span, and a CloudEvent's own traceparent attribute wins over the
// request's.
func TestOneEventIsOneTraceAcrossThePipeline(t *testing.T) {
	otlp := otlptest.NewReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100") // ms: spans reach the receiver soon
	t.Setenv("OTEL_SERVICE_NAME", "")          // each service names itself
	stack, dir := startTestDev(t, zap.ErrorLevel)

	// The endpoint fails each delivery's first attempt and takes the second.
	target := webhooktest.NewReceiver(t)
	target.Respond(func(a webhooktest.Arrival) (int, http.Header) {
		if a.Attempt == 1 {
			return http.StatusInternalServerError, nil
		}
		return http.StatusOK, nil
	})
	adminCall(t, stack.AdminURL, adminToken(t, dir), "POST", "/v1/subscriptions",
		fmt.Sprintf(`{"url":%q,"event_types":["order.*"],"retry_schedule":["1s"]}`, target.URL+"/orders"))

	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		caller  = "00f067aa0ba902b7"
	)
	status, body := postEvent(t, stack.IngestURL, `{"type":"order.placed","entity":{"type":"order","id":"T-1"},"data":{"total":1}}`,
		map[string]string{"traceparent": "00-" + traceID + "-" + caller + "-01", "tracestate": "shop=1"})
	if status != http.StatusAccepted {
		t.Fatalf("POST: %d %v", status, body)
	}
	eventID := body["id"].(string)

	var tr spanTrace
	kafkatest.WaitFor(t, 60*time.Second, "the event's spans through both delivery attempts", func() bool {
		tr = traceOf(otlp.Spans(), traceID)
		return len(tr.named("POST")) == 2
	})

	server := tr.one(t, "POST /v1/events", "server", "surge-ingest", caller)
	tr.attrs(t, server, map[string]any{"http.request.method": "POST", "http.route": "/v1/events", "url.path": "/v1/events", "http.response.status_code": int64(202)})
	send := tr.one(t, "send commerce.events.raw", "producer", "surge-ingest", server.SpanID)
	tr.attrs(t, send, map[string]any{"messaging.system": "kafka", "messaging.operation.type": "send", "messaging.destination.name": "commerce.events.raw",
		"messaging.kafka.message.key": "order:T-1", "surge.event_id": eventID})
	enrich := tr.one(t, "process commerce.events.raw", "consumer", "surge-enrich", send.SpanID)
	tr.attrs(t, enrich, map[string]any{"messaging.system": "kafka", "messaging.operation.type": "process", "messaging.operation.name": "process",
		"messaging.destination.name": "commerce.events.raw", "messaging.consumer.group.name": topics.GroupEnrich, "messaging.kafka.message.key": "order:T-1"})
	fanout := tr.one(t, "process commerce.events.enriched", "consumer", "surge-fanout", enrich.SpanID)
	tr.attrs(t, fanout, map[string]any{"messaging.system": "kafka", "messaging.operation.type": "process",
		"messaging.destination.name": "commerce.events.enriched", "messaging.consumer.group.name": topics.GroupFanout})
	for _, s := range []otlptest.Span{enrich, fanout} {
		if _, ok := s.Attrs["messaging.kafka.offset"].(int64); !ok {
			t.Errorf("%s: messaging.kafka.offset %v", s.Name, s.Attrs["messaging.kafka.offset"])
		}
		if _, ok := s.Attrs["messaging.destination.partition.id"].(string); !ok {
			t.Errorf("%s: messaging.destination.partition.id %v", s.Name, s.Attrs["messaging.destination.partition.id"])
		}
	}

	// Each stage's transaction is a span of its own, linked to the
	// record's process span.
	for _, proc := range []otlptest.Span{enrich, fanout} {
		topic := proc.Attrs["messaging.destination.name"]
		found := false
		for _, s := range otlp.Spans() {
			if s.Name == fmt.Sprint("commit ", topic) && s.ParentID == "" && s.Attrs["messaging.operation.type"] == "settle" {
				for _, l := range s.Links {
					found = found || l == (otlptest.Link{TraceID: traceID, SpanID: proc.SpanID})
				}
			}
		}
		if !found {
			t.Errorf("no commit %s span linked to %s's span %s", topic, proc.Service, proc.SpanID)
		}
	}

	// One client span per attempt, both children of fanout's span: the
	// first failed (500), the second (resend 1) delivered.
	attempts := tr.named("POST")
	if attempts[0].Attrs["http.response.status_code"] == int64(200) {
		attempts[0], attempts[1] = attempts[1], attempts[0]
	}
	host, port := strings.TrimPrefix(target.URL, "http://"), int64(0)
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		_, _ = fmt.Sscan(host[i+1:], &port)
		host = host[:i]
	}
	for i, want := range []map[string]any{
		{"http.response.status_code": int64(500), "error.type": "500", "surge.delivery.outcome": "retry"},
		{"http.response.status_code": int64(200), "http.request.resend_count": int64(1), "surge.delivery.outcome": "delivered"},
	} {
		a := attempts[i]
		if a.Kind != "client" || a.Service != "surge-dispatcher" || a.ParentID != fanout.SpanID {
			t.Errorf("attempt %d: kind %s service %s parent %s, want a client span of surge-dispatcher under fanout's %s", i+1, a.Kind, a.Service, a.ParentID, fanout.SpanID)
		}
		want["http.request.method"], want["url.full"], want["server.address"], want["server.port"] = "POST", target.URL+"/orders", host, port
		tr.attrs(t, a, want)
		if a.Error != (i == 0) {
			t.Errorf("attempt %d: error status %v", i+1, a.Error)
		}
	}
	if _, ok := attempts[0].Attrs["http.request.resend_count"]; ok {
		t.Errorf("the first attempt has http.request.resend_count %v", attempts[0].Attrs["http.request.resend_count"])
	}

	// The endpoint saw each attempt's own span as the parent.
	arrivals := target.Answered("orders", http.StatusInternalServerError)
	arrivals = append(arrivals, target.Answered("orders", http.StatusOK)...)
	if len(arrivals) != 2 {
		t.Fatalf("arrivals at the endpoint: %d, want 2", len(arrivals))
	}
	for i, a := range arrivals {
		want := "00-" + traceID + "-" + attempts[i].SpanID + "-01"
		if got := a.Header.Get("traceparent"); got != want {
			t.Errorf("attempt %d arrived with traceparent %q, want %q", i+1, got, want)
		}
		if got := a.Header.Get("tracestate"); got != "shop=1" {
			t.Errorf("attempt %d arrived with tracestate %q, want the caller's", i+1, got)
		}
	}

	// The enriched record carries enrich's span, for a data team's consumer.
	var enriched *kgo.Record
	for _, r := range records(t, stack, topics.EventsEnriched) {
		if stream.Header(r, topics.HeaderEventID) == eventID {
			enriched = r
		}
	}
	if enriched == nil {
		t.Fatalf("no record of event %s on %s", eventID, topics.EventsEnriched)
	}
	if got, want := stream.Header(enriched, topics.HeaderTraceParent), "00-"+traceID+"-"+enrich.SpanID+"-01"; got != want {
		t.Errorf("the enriched record's traceparent %q, want %q", got, want)
	}

	// A batch: each event its own trace, linked to the request's span.
	const batchTrace = "0af7651916cd43dd8448eb211c80319c"
	status, body = postEvent(t, stack.IngestURL, `{"events":[`+
		`{"type":"order.placed","entity":{"type":"order","id":"B-1"},"data":{}},`+
		`{"type":"order.placed","entity":{"type":"order","id":"B-2"},"data":{}}]}`,
		map[string]string{"traceparent": "00-" + batchTrace + "-b7ad6b7169203331-01"})
	if status != http.StatusAccepted {
		t.Fatalf("POST batch: %d %v", status, body)
	}
	// A CloudEvent carrying its own trace context.
	const ceTrace, ceSpan = "5b8aa5a2d2c872e8321cf37308d69df2", "051581bf3cb55c13"
	req := jsonRequest(t, http.MethodPost, stack.IngestURL+"/v1/sources/default/cloudevents", "application/cloudevents+json",
		`{"specversion":"1.0","id":"ce-1","type":"order.placed","source":"shop","subject":"C-1","data":{"total":3},`+
			`"traceparent":"00-`+ceTrace+`-`+ceSpan+`-01"}`)
	req.Header.Set("traceparent", "00-"+batchTrace+"-c7ad6b7169203331-01")
	if status, body := sendJSON(t, req); status != http.StatusAccepted {
		t.Fatalf("POST CloudEvent: %d %v", status, body)
	}
	var batchServer, ceServer otlptest.Span
	var batchSends []otlptest.Span
	var ceSend spanTrace
	kafkatest.WaitFor(t, 30*time.Second, "the batch's and the CloudEvent's spans", func() bool {
		spans := otlp.Spans()
		batch := traceOf(spans, batchTrace)
		batchSends = batchSends[:0]
		for _, s := range spans {
			if s.Name == "send commerce.events.raw" && s.TraceID != batchTrace && s.TraceID != traceID && s.TraceID != ceTrace {
				batchSends = append(batchSends, s)
			}
		}
		ceSend = traceOf(spans, ceTrace)
		for _, s := range batch.named("POST /v1/events") {
			batchServer = s
		}
		for _, s := range batch.named("POST /v1/sources/{source}/cloudevents") {
			ceServer = s
		}
		return batchServer.SpanID != "" && ceServer.SpanID != "" && len(batchSends) == 2 && len(ceSend.named("send commerce.events.raw")) == 1
	})
	for _, s := range batchSends {
		if s.ParentID != "" || len(s.Links) != 1 || s.Links[0] != (otlptest.Link{TraceID: batchTrace, SpanID: batchServer.SpanID}) {
			t.Errorf("a batch event's send span: trace %s parent %q links %v, want a root linked to the request's span %s", s.TraceID, s.ParentID, s.Links, batchServer.SpanID)
		}
	}
	if batchSends[0].TraceID == batchSends[1].TraceID {
		t.Errorf("the batch's two events share trace %s", batchSends[0].TraceID)
	}
	s := ceSend.named("send commerce.events.raw")[0]
	if s.ParentID != ceSpan || len(s.Links) != 1 || s.Links[0] != (otlptest.Link{TraceID: batchTrace, SpanID: ceServer.SpanID}) {
		t.Errorf("the CloudEvent's send span: parent %q links %v, want the CloudEvent's %s linked to the request's span %s", s.ParentID, s.Links, ceSpan, ceServer.SpanID)
	}
}

// spanTrace is the spans of one trace.
type spanTrace []otlptest.Span

func traceOf(spans []otlptest.Span, traceID string) spanTrace {
	var tr spanTrace
	for _, s := range spans {
		if s.TraceID == traceID {
			tr = append(tr, s)
		}
	}
	return tr
}

func (tr spanTrace) named(name string) []otlptest.Span {
	var out []otlptest.Span
	for _, s := range tr {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// one is the trace's one span named name, checked to be of kind, from
// service, and the child of parent.
func (tr spanTrace) one(t *testing.T, name, kind, service, parent string) otlptest.Span {
	t.Helper()
	got := tr.named(name)
	if len(got) != 1 {
		t.Fatalf("%d spans named %q in the trace, want 1; the trace: %+v", len(got), name, tr)
	}
	s := got[0]
	if s.Kind != kind || s.Service != service || s.ParentID != parent {
		t.Errorf("%s: kind %s service %s parent %s, want %s %s %s", name, s.Kind, s.Service, s.ParentID, kind, service, parent)
	}
	return s
}

func (tr spanTrace) attrs(t *testing.T, s otlptest.Span, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if s.Attrs[k] != v {
			t.Errorf("%s: %s = %#v, want %#v", s.Name, k, s.Attrs[k], v)
		}
	}
}

// TestTracingOffPassesTheCallersContextOn runs surge dev without an OTLP
// endpoint: Surge records no spans, and the caller's traceparent and
// tracestate reach the enriched record and the endpoint unchanged, so the
// caller's own trace goes on past Surge.
func TestTracingOffPassesTheCallersContextOn(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	stack, dir := startTestDev(t, zap.ErrorLevel)
	for _, tp := range stack.traces {
		if tp != nil {
			t.Fatal("a service traces without an OTLP endpoint")
		}
	}
	target := webhooktest.NewReceiver(t)
	subscribeAt(t, target, stack.AdminURL, dir, "orders", "order.*")
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	status, body := postEvent(t, stack.IngestURL, `{"type":"order.placed","entity":{"type":"order","id":"T-2"},"data":{"total":1}}`,
		map[string]string{"traceparent": traceparent, "tracestate": "shop=1"})
	if status != http.StatusAccepted {
		t.Fatalf("POST: %d %v", status, body)
	}
	eventID := body["id"].(string)
	var a webhooktest.Arrival
	kafkatest.WaitFor(t, 30*time.Second, "the delivery", func() bool {
		var ok bool
		a, ok = target.OfEvent(eventID)
		return ok
	})
	if a.Header.Get("traceparent") != traceparent || a.Header.Get("tracestate") != "shop=1" {
		t.Errorf("the endpoint got traceparent %q tracestate %q, want the caller's", a.Header.Get("traceparent"), a.Header.Get("tracestate"))
	}
	found := false
	for _, r := range records(t, stack, topics.EventsEnriched) {
		if stream.Header(r, topics.HeaderEventID) == eventID {
			found = true
			if stream.Header(r, topics.HeaderTraceParent) != traceparent || stream.Header(r, topics.HeaderTraceState) != "shop=1" {
				t.Errorf("the enriched record's trace headers: %q %q, want the caller's", stream.Header(r, topics.HeaderTraceParent), stream.Header(r, topics.HeaderTraceState))
			}
		}
	}
	if !found {
		t.Errorf("no record of event %s on %s", eventID, topics.EventsEnriched)
	}
}
