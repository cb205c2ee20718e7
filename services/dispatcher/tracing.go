package dispatcher

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/trace"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/tracing"
	"github.com/surgehq/surge/pkg/webhook"
)

// traceAttempt returns the context of one HTTP attempt of it's delivery
// and the function that ends the attempt's span with its result. The
// webhook request carries that context's traceparent (webhook.Sender),
// so the endpoint can continue the event's trace. With tracing on it is a
// CLIENT span per attempt, a child of the context the delivery's record
// carries (fanout's span), with the HTTP client attributes and
// http.request.resend_count from the second attempt on; with tracing off
// it is the record's context alone, passed on unchanged.
func (s *Service) traceAttempt(ctx context.Context, it *item, sub event.Subscription) (context.Context, func(webhook.Result)) {
	if it.rec != nil {
		ctx = tracing.FromRecord(ctx, it.rec.Headers)
	}
	if s.tracer == nil {
		return ctx, func(webhook.Result) {}
	}
	ctx, span := tracing.StartClient(ctx, s.tracer, sub.URL, int(it.d.Attempts),
		tracing.AttrSubscriptionID.String(sub.ID), tracing.AttrDeliveryID.String(it.d.ID))
	return ctx, func(res webhook.Result) { endAttempt(span, res) }
}

// endAttempt ends an attempt's span: its status, its outcome, and the
// error's type when no response came (timeout, canceled, refused).
func endAttempt(span trace.Span, res webhook.Result) {
	span.SetAttributes(tracing.AttrOutcome.String(res.Outcome.String()))
	errType := ""
	switch {
	case errors.Is(res.Err, webhook.ErrTimeout):
		errType = "timeout"
	case errors.Is(res.Err, webhook.ErrCanceled):
		errType = "canceled"
	case res.Outcome == webhook.Refused:
		errType = "refused"
	}
	tracing.EndClient(span, res.Status, res.Err, errType)
}
