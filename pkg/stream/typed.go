package stream

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/tracing"
)

// Input is one input record handed to a typed handler (Typed) with its
// value decoded. Record is the record as read, for its key, partition,
// offset and timestamp; like a Handler's input it must not be kept after
// the handler returns.
type Input[T any] struct {
	Record *kgo.Record
	Value  T
}

// Output is one record a typed handler produces. The handler sets the
// record's topic, key, value, partition and its own headers; the typed
// layer puts the headers the record takes from its input in front of its
// own: see Carry and Derive for which. The record is handed over with the
// output (the layer sets its headers), so each output has a record of its
// own.
type Output struct {
	record *kgo.Record
	// derived is set by Derive: the record is a new event, eventID,
	// caused by the input event causedBy.
	derived           bool
	eventID, causedBy string
}

// Carry is an output that continues its input's event (enrich's enriched
// event and snapshot, fanout's deliveries): its headers are the input's
// event id and correlation id headers, its trace context (the stage's
// span's when the stage traces, the input's otherwise), then r's own.
func Carry(r *kgo.Record) Output { return Output{record: r} }

// Derive is an output that is a new event, eventID, made from the input
// event causedBy (an inventory.reserved enrich writes for an
// order.placed): its headers are its own event id, the input's
// correlation id when it has one, causedBy as the causation id, its
// trace context as for Carry, then r's own.
func Derive(r *kgo.Record, eventID, causedBy string) Output {
	return Output{record: r, derived: true, eventID: eventID, causedBy: causedBy}
}

// Typed returns the Handler that decodes each input's value with decode
// and hands it to handle, so a stage's handler sees values, not bytes,
// and owns neither decode failures nor header carrying:
//
//   - a value that does not decode is dead-lettered or retried the way
//     DecodeFailure classifies the error, what naming the value in the
//     error text ("raw event" gives "decoding raw event: ..."), and
//     handle is not called;
//   - handle's error is the Handler's, unchanged: Permanent dead-letters
//     the input, ErrDefer defers it, anything else aborts the batch;
//   - each output gets its headers from the input as Carry or Derive
//     says, in the order of the outputs handle returned; no outputs and
//     a nil error filter the input out.
func Typed[T any](what string, decode func(ctx context.Context, value []byte) (T, error), handle func(ctx context.Context, in Input[T]) ([]Output, error)) Handler {
	return func(ctx context.Context, in *kgo.Record) ([]*kgo.Record, error) {
		v, err := decode(ctx, in.Value)
		if err != nil {
			return nil, DecodeFailure(what, err)
		}
		outs, err := handle(ctx, Input[T]{Record: in, Value: v})
		if err != nil || len(outs) == 0 {
			return nil, err
		}
		recs := make([]*kgo.Record, len(outs))
		for i, o := range outs {
			o.record.Headers = o.headers(ctx, in)
			recs[i] = o.record
		}
		return recs, nil
	}
}

// headers are o's record's headers as produced from in: what it takes
// from in, then its own. ctx is the handler's: when the runtime traces the
// input (Stage.Tracer), its span's context is the output's trace context;
// otherwise the input's traceparent and tracestate are copied unchanged.
func (o Output) headers(ctx context.Context, in *kgo.Record) []kgo.RecordHeader {
	own := o.record.Headers
	traced := trace.SpanContextFromContext(ctx).IsValid()
	if o.derived {
		h := make([]kgo.RecordHeader, 0, 5+len(own))
		h = append(h, kgo.RecordHeader{Key: topics.HeaderEventID, Value: []byte(o.eventID)})
		if c := firstHeader(in, topics.HeaderCorrelationID); len(c.Value) > 0 {
			h = append(h, c)
		}
		h = append(h, kgo.RecordHeader{Key: topics.HeaderCausationID, Value: []byte(o.causedBy)})
		if traced {
			h = tracing.AppendContext(ctx, h)
		} else {
			for _, x := range in.Headers {
				if tracing.IsTraceHeader(x.Key) {
					h = append(h, x)
				}
			}
		}
		return append(h, own...)
	}
	n := 0
	for _, h := range in.Headers {
		if carried(h.Key, traced) {
			n++
		}
	}
	if traced {
		n += 2
	} else if n == 0 {
		return own
	}
	h := make([]kgo.RecordHeader, 0, n+len(own))
	for _, x := range in.Headers {
		if carried(x.Key, traced) {
			h = append(h, x)
		}
	}
	if traced {
		h = tracing.AppendContext(ctx, h)
	}
	return append(h, own...)
}

// firstHeader is r's first header named key; the zero header when it has
// none.
func firstHeader(r *kgo.Record, key string) kgo.RecordHeader {
	for _, h := range r.Headers {
		if h.Key == key {
			return h
		}
	}
	return kgo.RecordHeader{}
}
