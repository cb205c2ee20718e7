package stream

import (
	"errors"

	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/surgehq/surge/pkg/tracing"
)

// endProcess ends a record's process span with how its handler ended: a
// deferred record is no error, a dead-lettered one is an error whose
// error.type is its class, any other error (the batch aborts) is an
// error of type _OTHER.
func endProcess(span trace.Span, err error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrDefer):
		span.AddEvent("deferred")
	default:
		class := semconv.ErrorTypeOther.Value.AsString()
		if perm, ok := AsPermanent(err); ok {
			class = perm.Class
		}
		span.SetAttributes(semconv.ErrorTypeKey.String(class))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// endCommit ends a transaction's span: committed or not, and why not.
func endCommit(span trace.Span, committed bool, err error) {
	span.SetAttributes(tracing.AttrCommitted.Bool(committed))
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeOther)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
