package avroserde

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/surgehq/surge/pkg/event"
)

// The fast paths of the records of package event, field by field in the
// order of their schemas. Each appendX writes what goavro writes from
// X.Native() with schemas/x.avsc; each readX returns what XFromNative
// returns for goavro's decoding of the same bytes. fast_test.go pins both
// to goavro.

// fieldLen bounds the encoded size of a scalar field.
const fieldLen = binary.MaxVarintLen64

// appendEvent encodes e with schemas/event.avsc.
func appendEvent(dst []byte, e event.Event) []byte {
	dst = slices.Grow(dst, 12*fieldLen+len(e.ID)+len(e.Type)+len(e.Source)+
		len(e.Entity.Type)+len(e.Entity.ID)+len(e.Data)+len(e.IdempotencyKey)+
		len(e.CorrelationID)+len(e.Format)+len(e.OriginalType)+originLen(e.Origin))
	dst = appendAvroString(dst, e.ID)
	dst = appendAvroString(dst, e.Type)
	dst = appendAvroString(dst, e.Source)
	dst = appendAvroTime(dst, e.Time)
	dst = appendAvroTime(dst, e.ReceivedAt)
	dst = appendAvroString(dst, e.Entity.Type)
	dst = appendAvroString(dst, e.Entity.ID)
	if isNullJSON(e.Data) { // data: ["null", "string"]
		dst = append(dst, 0)
	} else {
		dst = appendAvroBytes(append(dst, 2), e.Data)
	}
	if e.IdempotencyKey == "" { // idempotency_key: ["null", "string"]
		dst = append(dst, 0)
	} else {
		dst = appendAvroString(append(dst, 2), e.IdempotencyKey)
	}
	dst = appendAvroString(dst, e.CorrelationID)
	dst = appendAvroString(dst, e.Format)
	dst = appendAvroString(dst, e.OriginalType)
	dst = appendAvroStringMap(dst, e.Attributes)
	return appendOrigin(dst, e.Origin)
}

// appendOrigin appends o as a ["null", Origin] union: null for the zero
// Origin, as event.Origin's native form has it.
func appendOrigin(dst []byte, o event.Origin) []byte {
	if o.IsZero() {
		return append(dst, 0)
	}
	dst = append(dst, 2) // branch 1, zig-zag encoded
	dst = appendAvroString(dst, o.Format)
	dst = appendAvroString(dst, o.ID)
	dst = appendAvroString(dst, o.Type)
	dst = appendAvroString(dst, o.Source)
	return appendAvroString(dst, o.EntityID)
}

// originLen bounds the encoded size of o.
func originLen(o event.Origin) int {
	return 6*fieldLen + len(o.Format) + len(o.ID) + len(o.Type) + len(o.Source) + len(o.EntityID)
}

// origin reads a ["null", Origin] union; null gives the zero Origin.
func (r *avroReader) origin() event.Origin {
	if r.branch("origin", 2) != 1 {
		return event.Origin{}
	}
	return event.Origin{
		Format:   r.str("origin.format"),
		ID:       r.str("origin.id"),
		Type:     r.str("origin.type"),
		Source:   r.str("origin.source"),
		EntityID: r.str("origin.entity_id"),
	}
}

// readEvent decodes an Event written with schemas/event.avsc.
func readEvent(b []byte) (event.Event, error) {
	r := newAvroReader("Event", b)
	var e event.Event
	e.ID = r.str("id")
	e.Type = r.str("type")
	e.Source = r.str("source")
	e.Time = r.time("time")
	e.ReceivedAt = r.time("received_at")
	e.Entity.Type = r.str("entity.type")
	e.Entity.ID = r.str("entity.id")
	if r.branch("data", 2) == 1 {
		e.Data = r.json("data")
	}
	if r.branch("idempotency_key", 2) == 1 {
		e.IdempotencyKey = r.str("idempotency_key")
	}
	e.CorrelationID = r.str("correlation_id")
	e.Format = r.str("format")
	e.OriginalType = r.str("original_type")
	e.Attributes = r.stringMap("attributes")
	e.Origin = r.origin()
	if err := r.end(); err != nil {
		return event.Event{}, err
	}
	return e, nil
}

// appendEnrichedEvent encodes e with schemas/enriched_event.avsc. Nil Data
// is written as the JSON literal null.
func appendEnrichedEvent(dst []byte, e event.EnrichedEvent) []byte {
	dst = slices.Grow(dst, 12*fieldLen+len(e.ID)+len(e.Type)+len(e.Source)+
		len(e.Entity.Type)+len(e.Entity.ID)+len(e.Data)+len(e.CorrelationID)+
		stringsLen(e.Changes)+stringsLen(e.Flags)+warningsLen(e.Warnings)+originLen(e.Origin))
	dst = appendAvroString(dst, e.ID)
	dst = appendAvroString(dst, e.Type)
	dst = appendAvroString(dst, e.Source)
	dst = appendAvroTime(dst, e.Time)
	dst = appendAvroTime(dst, e.ReceivedAt)
	dst = appendAvroTime(dst, e.EnrichedAt)
	dst = appendAvroString(dst, e.Entity.Type)
	dst = appendAvroString(dst, e.Entity.ID)
	dst = appendAvroLong(dst, e.EntityVersion)
	if len(e.Data) == 0 {
		dst = appendAvroString(dst, "null")
	} else {
		dst = appendAvroBytes(dst, e.Data)
	}
	dst = appendAvroStrings(dst, e.Changes)
	dst = appendAvroBoolean(dst, e.Deleted)
	dst = appendAvroStrings(dst, e.Flags)
	dst = appendAvroString(dst, e.CorrelationID)
	dst = appendAvroStringMap(dst, e.Attributes)
	dst = appendWarnings(dst, e.Warnings)
	return appendOrigin(dst, e.Origin)
}

// appendWarnings appends ws as an array of EnrichmentWarning records: one
// block, as goavro writes it, or just the end marker when ws is empty.
func appendWarnings(dst []byte, ws []event.Warning) []byte {
	if len(ws) > 0 {
		dst = appendAvroLong(dst, int64(len(ws)))
		for _, w := range ws {
			dst = appendAvroString(dst, w.Code)
			dst = appendAvroString(dst, w.Field)
			dst = appendAvroString(dst, w.Message)
		}
	}
	return append(dst, 0)
}

// warningsLen bounds the encoded size of ws.
func warningsLen(ws []event.Warning) int {
	n := 2 * fieldLen
	for _, w := range ws {
		n += 3*fieldLen + len(w.Code) + len(w.Field) + len(w.Message)
	}
	return n
}

// warnings reads the warnings field, an array of EnrichmentWarning
// records; empty gives nil.
func (r *avroReader) warnings() []event.Warning {
	var out []event.Warning
	for n := r.blockCount("warnings", 3); n > 0; n = r.blockCount("warnings", 3) {
		if out == nil {
			out = make([]event.Warning, 0, n) // one block, as goavro writes it
		} else {
			out = slices.Grow(out, n)
		}
		for range n {
			var w event.Warning
			w.Code = r.str("warnings.code")
			w.Field = r.str("warnings.field")
			w.Message = r.str("warnings.message")
			out = append(out, w)
		}
	}
	if r.err != nil {
		return nil
	}
	return out
}

// readEnrichedEvent decodes an EnrichedEvent written with
// schemas/enriched_event.avsc.
func readEnrichedEvent(b []byte) (event.EnrichedEvent, error) {
	r := newAvroReader("EnrichedEvent", b)
	var e event.EnrichedEvent
	e.ID = r.str("id")
	e.Type = r.str("type")
	e.Source = r.str("source")
	e.Time = r.time("time")
	e.ReceivedAt = r.time("received_at")
	e.EnrichedAt = r.time("enriched_at")
	e.Entity.Type = r.str("entity.type")
	e.Entity.ID = r.str("entity.id")
	e.EntityVersion = r.long("entity.version")
	e.Data = r.json("data")
	e.Changes = r.strings("changes")
	e.Deleted = r.boolean("deleted")
	e.Flags = r.strings("flags")
	e.CorrelationID = r.str("correlation_id")
	e.Attributes = r.stringMap("attributes")
	e.Warnings = r.warnings()
	e.Origin = r.origin()
	if err := r.end(); err != nil {
		return event.EnrichedEvent{}, err
	}
	return e, nil
}

// appendDelivery encodes d with schemas/delivery.avsc.
func appendDelivery(dst []byte, d event.Delivery) []byte {
	dst = slices.Grow(dst, 15*fieldLen+len(d.ID)+len(d.EventID)+len(d.SubscriptionID)+
		len(d.EntityKey)+len(d.EventType)+len(d.Body)+len(d.CorrelationID)+len(d.LastError))
	dst = appendAvroString(dst, d.ID)
	dst = appendAvroString(dst, d.EventID)
	dst = appendAvroString(dst, d.SubscriptionID)
	dst = appendAvroString(dst, d.EntityKey)
	dst = appendAvroString(dst, d.EventType)
	dst = appendAvroLong(dst, d.EntityVersion)
	dst = appendAvroBytes(dst, d.Body)
	dst = appendAvroTime(dst, d.CreatedAt)
	dst = appendAvroString(dst, d.CorrelationID)
	dst = appendAvroLong(dst, int64(d.Attempts))
	dst = appendAvroOptTime(dst, d.NextAttemptAt)
	dst = appendAvroOptTime(dst, d.FirstFailureAt)
	dst = appendAvroOptTime(dst, d.LastFailureAt)
	dst = appendAvroLong(dst, int64(d.LastStatus))
	return appendAvroString(dst, d.LastError)
}

// readDelivery decodes a Delivery written with schemas/delivery.avsc. The
// body is kept byte for byte.
func readDelivery(b []byte) (event.Delivery, error) {
	r := newAvroReader("Delivery", b)
	var d event.Delivery
	d.ID = r.str("id")
	d.EventID = r.str("event_id")
	d.SubscriptionID = r.str("subscription_id")
	d.EntityKey = r.str("entity_key")
	d.EventType = r.str("event_type")
	d.EntityVersion = r.long("entity_version")
	d.Body = r.body("body")
	d.CreatedAt = r.time("created_at")
	d.CorrelationID = r.str("correlation_id")
	d.Attempts = r.int("attempts")
	d.NextAttemptAt = r.optTime("next_attempt_at")
	d.FirstFailureAt = r.optTime("first_failure_at")
	d.LastFailureAt = r.optTime("last_failure_at")
	d.LastStatus = r.int("last_status")
	d.LastError = r.str("last_error")
	if err := r.end(); err != nil {
		return event.Delivery{}, err
	}
	return d, nil
}

// appendDeliveryAttempt encodes a with schemas/delivery_attempt.avsc.
func appendDeliveryAttempt(dst []byte, a event.DeliveryAttempt) []byte {
	dst = slices.Grow(dst, 16*fieldLen+len(a.DeliveryID)+len(a.EventID)+len(a.SubscriptionID)+
		len(a.EntityKey)+len(a.URL)+len(a.Outcome)+len(a.Error)+len(a.ResponseBody)+len(a.CorrelationID))
	dst = appendAvroString(dst, a.DeliveryID)
	dst = appendAvroString(dst, a.EventID)
	dst = appendAvroString(dst, a.SubscriptionID)
	dst = appendAvroString(dst, a.EntityKey)
	dst = appendAvroLong(dst, int64(a.Attempt))
	dst = appendAvroString(dst, a.URL)
	dst = appendAvroTime(dst, a.StartedAt)
	dst = appendAvroLong(dst, a.Duration.Microseconds())
	dst = appendAvroLong(dst, int64(a.StatusCode))
	dst = appendAvroString(dst, a.Outcome)
	dst = appendAvroString(dst, a.Error)
	dst = appendAvroStringMap(dst, a.ResponseHeaders)
	dst = appendAvroString(dst, a.ResponseBody)
	dst = appendAvroOptTime(dst, a.NextAttemptAt)
	return appendAvroString(dst, a.CorrelationID)
}

// readDeliveryAttempt decodes a DeliveryAttempt written with
// schemas/delivery_attempt.avsc.
func readDeliveryAttempt(b []byte) (event.DeliveryAttempt, error) {
	r := newAvroReader("DeliveryAttempt", b)
	var a event.DeliveryAttempt
	a.DeliveryID = r.str("delivery_id")
	a.EventID = r.str("event_id")
	a.SubscriptionID = r.str("subscription_id")
	a.EntityKey = r.str("entity_key")
	a.Attempt = r.int("attempt")
	a.URL = r.str("url")
	a.StartedAt = r.time("started_at")
	a.Duration = time.Duration(r.long("duration_us")) * time.Microsecond
	a.StatusCode = r.int("status_code")
	a.Outcome = r.str("outcome")
	a.Error = r.str("error")
	a.ResponseHeaders = r.stringMap("response_headers")
	a.ResponseBody = r.str("response_body")
	a.NextAttemptAt = r.optTime("next_attempt_at")
	a.CorrelationID = r.str("correlation_id")
	if err := r.end(); err != nil {
		return event.DeliveryAttempt{}, err
	}
	return a, nil
}
