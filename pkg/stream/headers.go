package stream

import (
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/tracing"
)

// deadLetter builds the DLQ record for in: same key, value and headers,
// same partition number, plus the error headers.
func (s *Stage) deadLetter(in *kgo.Record, perm *PermanentError) *kgo.Record {
	now := s.Now()
	headers := DeadLetterHeaders(in, s.Name, perm.Class, perm.Err, max(perm.Attempts, 1), now, now)
	headers = append(headers, perm.Headers...)
	r := &kgo.Record{Topic: s.DLQ, Key: in.Key, Value: in.Value, Headers: headers}
	return kafkax.WithPartition(r, in.Partition)
}

// DeadLetterHeaders are in's headers followed by the surge.dlq.* headers
// DESIGN.md fixes: where the record came from, which stage failed it, the
// error class and message, the attempts made, the first and last failure
// time. Every stage that dead-letters uses it.
func DeadLetterHeaders(in *kgo.Record, stage, class string, err error, attempts int, first, last time.Time) []kgo.RecordHeader {
	msg := ""
	if err != nil {
		msg = truncate(err.Error(), 1024)
	}
	headers := make([]kgo.RecordHeader, 0, len(in.Headers)+9)
	headers = append(headers, in.Headers...)
	return append(headers,
		kgo.RecordHeader{Key: topics.HeaderDLQTopic, Value: []byte(in.Topic)},
		kgo.RecordHeader{Key: topics.HeaderDLQPartition, Value: []byte(strconv.Itoa(int(in.Partition)))},
		kgo.RecordHeader{Key: topics.HeaderDLQOffset, Value: []byte(strconv.FormatInt(in.Offset, 10))},
		kgo.RecordHeader{Key: topics.HeaderDLQStage, Value: []byte(stage)},
		kgo.RecordHeader{Key: topics.HeaderDLQErrorClass, Value: []byte(class)},
		kgo.RecordHeader{Key: topics.HeaderDLQError, Value: []byte(msg)},
		kgo.RecordHeader{Key: topics.HeaderDLQAttempts, Value: []byte(strconv.Itoa(attempts))},
		kgo.RecordHeader{Key: topics.HeaderDLQFirstFailure, Value: []byte(first.UTC().Format(time.RFC3339Nano))},
		kgo.RecordHeader{Key: topics.HeaderDLQLastFailure, Value: []byte(last.UTC().Format(time.RFC3339Nano))},
	)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Header returns the value of the first header named key, or "".
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// CarryHeaders returns the headers every stage copies from an input to its
// outputs: the event id, the correlation id and the trace context
// (traceparent, tracestate), in the input's order. A typed handler's
// outputs get them from the typed layer (Carry), which writes the stage's
// own span's context instead when the stage traces.
func CarryHeaders(in *kgo.Record) []kgo.RecordHeader {
	var out []kgo.RecordHeader
	for _, h := range in.Headers {
		if carried(h.Key, false) {
			out = append(out, h)
		}
	}
	return out
}

// carried reports whether a header named key is copied from an input to
// its outputs: the ids always, the trace context unless the output gets
// its own (traced).
func carried(key string, traced bool) bool {
	return key == topics.HeaderEventID || key == topics.HeaderCorrelationID || (!traced && tracing.IsTraceHeader(key))
}
