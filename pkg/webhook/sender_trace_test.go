package webhook_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/webhook"
)

// TestSendCarriesTheTraceContext: the request carries the traceparent and
// tracestate of the caller's context, over a subscription's custom header
// of that name, and none without one.
func TestSendCarriesTheTraceContext(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := newSender(t, webhook.Config{AllowLoopback: true})
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ts, _ := trace.ParseTraceState("k=v")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts})
	for _, tc := range []struct {
		name          string
		ctx           context.Context
		custom        map[string]string
		parent, state string
	}{
		{"a span context", trace.ContextWithSpanContext(context.Background(), sc), map[string]string{"Traceparent": "00-custom"},
			"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "k=v"},
		{"none", context.Background(), map[string]string{"X-Other": "1"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := s.Send(tc.ctx, webhook.Request{URL: rcv.URL, ID: "msg_1", Body: []byte("{}"), Secrets: []event.Secret{current(t)},
				Headers: tc.custom})
			if res.Outcome != webhook.Delivered {
				t.Fatalf("Send: %v %v", res.Outcome, res.Err)
			}
			reqs := rcv.got()
			h := reqs[len(reqs)-1].header
			if h.Get("traceparent") != tc.parent || h.Get("tracestate") != tc.state {
				t.Errorf("traceparent %q tracestate %q, want %q %q", h.Get("traceparent"), h.Get("tracestate"), tc.parent, tc.state)
			}
		})
	}
}
