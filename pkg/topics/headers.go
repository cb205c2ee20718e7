package topics

import "slices"

// Header is one record header Surge writes: its name and what it holds.
type Header struct {
	Name string
	Doc  string
}

// Headers is the table of every record header Surge writes. A Layout names
// the ones its topic's records carry; the AsyncAPI document
// (pkg/asyncapi) prints them with these docs.
var Headers = []Header{
	{HeaderEventID, "The event's id (a KSUID). Every stage copies it from its input to the outputs that continue the event; a record that is a new event made from another has its own."},
	{HeaderCorrelationID, "The correlation id the sender gave (the X-Correlation-Id request header) or, without one, the event's own id; copied to every record made from the event."},
	{HeaderCausationID, "On a record that is a new event made from another (an inventory.reserved enrich writes for an order.placed, an inventory.changed for a stock.updated): the id of the event it was made from."},
	{HeaderTraceParent, "The W3C trace context (Trace Context specification) of the span that wrote the record, so a consumer continues the event's trace: ingest takes it from the request's traceparent header or the CloudEvent's traceparent attribute, or starts a trace when tracing is on; each stage writes its own span's context, and copies its input's unchanged when tracing is off. Absent when neither the sender nor Surge traces the event."},
	{HeaderTraceState, "The W3C tracestate that goes with traceparent, when the trace has one."},
	{HeaderEventType, "The event type, e.g. order.placed."},
	{HeaderSource, "The id of the source (sender) the event came from."},
	{HeaderSubscriptionID, "The subscription a delivery is for."},
	{HeaderOriginOffset, "On a commerce.deliveries.retry record: the offset in commerce.deliveries its delivery was first read at; the dispatcher orders a key's deliveries by it, wherever in the retry topic their copies are."},
	{HeaderRetryFinished, "Marks a commerce.deliveries.retry record that is no delivery: the dispatcher's note of retry offsets it finished (value: \"a-b,c,...\"), so the next owner of the partition skips them wherever they are."},
	{HeaderDLQTopic, "Dead letters: the topic the record was read from."},
	{HeaderDLQPartition, "Dead letters: the partition it was read from."},
	{HeaderDLQOffset, "Dead letters: the offset it was read at."},
	{HeaderDLQStage, "Dead letters: the stage that gave up on it (enrich, fanout, dispatcher)."},
	{HeaderDLQErrorClass, "Dead letters: why, as a class (e.g. invalid, unknown_schema, exhausted, rejected, subscription_deleted)."},
	{HeaderDLQError, "Dead letters: the error, at most 1,024 bytes."},
	{HeaderDLQAttempts, "Dead letters: how many times it was tried."},
	{HeaderDLQFirstFailure, "Dead letters: the first failure's time (RFC 3339)."},
	{HeaderDLQLastFailure, "Dead letters: the last failure's time (RFC 3339)."},
	{HeaderDLQHTTPStatus, "Dead deliveries: the last HTTP status the endpoint answered, when it answered."},
	{HeaderDLQAWSErrorCode, "Dead deliveries to an SQS or EventBridge destination: the AWS error code of the last attempt (e.g. QueueDoesNotExist, AccessDeniedException), when AWS gave one."},
	{HeaderReplayID, "On a record written by a DLQ replay: the replay's id."},
	{HeaderReplayCount, "On a record written by a DLQ replay: how many times the record has been replayed."},
}

// HeaderDoc returns the doc of the header named name; ok is false when
// the table has no such header.
func HeaderDoc(name string) (doc string, ok bool) {
	for _, h := range Headers {
		if h.Name == name {
			return h.Doc, true
		}
	}
	return "", false
}

// The header sets the layouts share.
var (
	deadLettered = []string{HeaderDLQTopic, HeaderDLQPartition, HeaderDLQOffset, HeaderDLQStage, HeaderDLQErrorClass,
		HeaderDLQError, HeaderDLQAttempts, HeaderDLQFirstFailure, HeaderDLQLastFailure}
	replayed = []string{HeaderReplayID, HeaderReplayCount}
	traced   = []string{HeaderTraceParent, HeaderTraceState}
)

// join is the header sets one after the other, in a new slice.
func join(sets ...[]string) []string {
	var out []string
	for _, s := range sets {
		out = append(out, s...)
	}
	return slices.Clip(out)
}
