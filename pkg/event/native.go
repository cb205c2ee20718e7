package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/linkedin/goavro/v2"
)

// Conversion to and from goavro's native form: a record is a
// map[string]any keyed by the Avro field name, a non-null union value is
// goavro.Union(branch, value), null is nil, timestamp-millis is a time.Time
// (goavro decodes it in UTC, truncated to the millisecond), int is int32,
// long is int64 and double is float64.
//
// Conventions shared by all records:
//   - A zero time.Time is written as the Unix epoch (0) and 0 reads back as
//     the zero time.Time, so an unset time stays unset and other readers
//     never see year 1.
//   - Empty strings of nullable fields are written as null; nil maps and
//     slices as empty ones, and empty ones read back as nil.
//   - Durations are written in microseconds.
//
// The FromNative functions are tolerant, as a reader with a newer schema must
// be: a field missing from the map (the record was written with an older
// schema) takes its schema default, or the Go zero value when the schema has
// none. A field of the wrong Go type is an error that names the field, e.g.
// "decoding Event.entity.id: want string, got int64".

// Avro union branch names goavro uses for the optional fields.
const (
	branchString    = "string"
	branchTimestamp = "long.timestamp-millis"
	branchOrigin    = "dev.surge.v1.Origin"
)

// Native returns e in goavro's native form for schemas/event.avsc.
func (e Event) Native() map[string]any {
	return map[string]any{
		"id":              e.ID,
		"type":            e.Type,
		"source":          e.Source,
		"time":            timeNative(e.Time),
		"received_at":     timeNative(e.ReceivedAt),
		"entity":          map[string]any{"type": e.Entity.Type, "id": e.Entity.ID},
		"data":            optJSONNative(e.Data),
		"idempotency_key": optStringNative(e.IdempotencyKey),
		"correlation_id":  e.CorrelationID,
		"format":          e.Format,
		"original_type":   e.OriginalType,
		"attributes":      stringMapNative(e.Attributes),
		"origin":          originNative(e.Origin),
	}
}

// EventFromNative converts a value decoded with any version of
// schemas/event.avsc into an Event. Data that is null, empty or the JSON
// literal null becomes nil (a thin event).
func EventFromNative(v any) (Event, error) {
	r, err := newReader("Event", v)
	if err != nil {
		return Event{}, err
	}
	ent := r.record("entity")
	e := Event{
		ID:         r.str("id", ""),
		Type:       r.str("type", ""),
		Source:     r.str("source", ""),
		Time:       r.time("time"),
		ReceivedAt: r.time("received_at"),
		Entity: EntityRef{
			Type: ent.str("type", ""),
			ID:   ent.str("id", ""),
		},
		Data:           r.json("data"),
		IdempotencyKey: r.str("idempotency_key", ""),
		CorrelationID:  r.str("correlation_id", ""),
		Format:         r.str("format", FormatCanonical),
		OriginalType:   r.str("original_type", ""),
		Attributes:     r.stringMap("attributes"),
		Origin:         r.origin("origin"),
	}
	if err := r.error(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// Native returns e in goavro's native form for schemas/enriched_event.avsc.
// Nil Data is written as the JSON literal null.
func (e EnrichedEvent) Native() map[string]any {
	data := "null"
	if len(e.Data) > 0 {
		data = string(e.Data)
	}
	return map[string]any{
		"id":          e.ID,
		"type":        e.Type,
		"source":      e.Source,
		"time":        timeNative(e.Time),
		"received_at": timeNative(e.ReceivedAt),
		"enriched_at": timeNative(e.EnrichedAt),
		"entity": map[string]any{
			"type":    e.Entity.Type,
			"id":      e.Entity.ID,
			"version": e.EntityVersion,
		},
		"data":           data,
		"changes":        stringsNative(e.Changes),
		"deleted":        e.Deleted,
		"flags":          stringsNative(e.Flags),
		"correlation_id": e.CorrelationID,
		"attributes":     stringMapNative(e.Attributes),
		"warnings":       warningsNative(e.Warnings),
		"origin":         originNative(e.Origin),
	}
}

// EnrichedEventFromNative converts a value decoded with any version of
// schemas/enriched_event.avsc into an EnrichedEvent. Data that is empty or
// the JSON literal null (a deleted entity) becomes nil.
func EnrichedEventFromNative(v any) (EnrichedEvent, error) {
	r, err := newReader("EnrichedEvent", v)
	if err != nil {
		return EnrichedEvent{}, err
	}
	ent := r.record("entity")
	e := EnrichedEvent{
		ID:         r.str("id", ""),
		Type:       r.str("type", ""),
		Source:     r.str("source", ""),
		Time:       r.time("time"),
		ReceivedAt: r.time("received_at"),
		EnrichedAt: r.time("enriched_at"),
		Entity: EntityRef{
			Type: ent.str("type", ""),
			ID:   ent.str("id", ""),
		},
		EntityVersion: ent.long("version", 0),
		Data:          r.json("data"),
		Changes:       r.strings("changes"),
		Deleted:       r.boolean("deleted", false),
		Flags:         r.strings("flags"),
		CorrelationID: r.str("correlation_id", ""),
		Attributes:    r.stringMap("attributes"),
		Origin:        r.origin("origin"),
	}
	for _, wr := range r.records("warnings") {
		e.Warnings = append(e.Warnings, Warning{
			Code:    wr.str("code", ""),
			Field:   wr.str("field", ""),
			Message: wr.str("message", ""),
		})
	}
	if err := r.error(); err != nil {
		return EnrichedEvent{}, err
	}
	return e, nil
}

// Native returns s in goavro's native form for schemas/subscription.avsc.
func (s Subscription) Native() map[string]any {
	secrets := make([]any, len(s.Secrets))
	for i, sec := range s.Secrets {
		secrets[i] = map[string]any{
			"value":      sec.Value,
			"created_at": timeNative(sec.CreatedAt),
			"expires_at": optTimeNative(sec.ExpiresAt),
		}
	}
	return map[string]any{
		"id":               s.ID,
		"url":              s.URL,
		"event_types":      stringsNative(s.EventTypes),
		"filter":           s.Filter,
		"headers":          stringMapNative(s.Headers),
		"timeout_ms":       s.TimeoutMS,
		"rate_limit_per_s": s.RateLimitPerS,
		"max_in_flight":    s.MaxInFlight,
		"retry_schedule":   stringsNative(s.RetrySchedule),
		"enabled":          s.Enabled,
		"paused":           s.Paused,
		"disabled_reason":  s.DisabledReason,
		"allow_private":    s.AllowPrivate,
		"secrets":          secrets,
		"description":      s.Description,
		"created_at":       timeNative(s.CreatedAt),
		"updated_at":       timeNative(s.UpdatedAt),
	}
}

// SubscriptionFromNative converts a value decoded with any version of
// schemas/subscription.avsc into a Subscription. A record written before
// "enabled" existed reads as enabled, the schema default.
func SubscriptionFromNative(v any) (Subscription, error) {
	r, err := newReader("Subscription", v)
	if err != nil {
		return Subscription{}, err
	}
	s := Subscription{
		ID:             r.str("id", ""),
		URL:            r.str("url", ""),
		EventTypes:     r.strings("event_types"),
		Filter:         r.str("filter", ""),
		Headers:        r.stringMap("headers"),
		TimeoutMS:      r.int("timeout_ms", 0),
		RateLimitPerS:  r.double("rate_limit_per_s", 0),
		MaxInFlight:    r.int("max_in_flight", 0),
		RetrySchedule:  r.strings("retry_schedule"),
		Enabled:        r.boolean("enabled", true),
		Paused:         r.boolean("paused", false),
		DisabledReason: r.str("disabled_reason", ""),
		AllowPrivate:   r.boolean("allow_private", false),
		Description:    r.str("description", ""),
		CreatedAt:      r.time("created_at"),
		UpdatedAt:      r.time("updated_at"),
	}
	for _, sr := range r.records("secrets") {
		s.Secrets = append(s.Secrets, Secret{
			Value:     sr.str("value", ""),
			CreatedAt: sr.time("created_at"),
			ExpiresAt: sr.optTime("expires_at"),
		})
	}
	if err := r.error(); err != nil {
		return Subscription{}, err
	}
	return s, nil
}

// Native returns d in goavro's native form for schemas/delivery.avsc.
func (d Delivery) Native() map[string]any {
	return map[string]any{
		"id":               d.ID,
		"event_id":         d.EventID,
		"subscription_id":  d.SubscriptionID,
		"entity_key":       d.EntityKey,
		"event_type":       d.EventType,
		"entity_version":   d.EntityVersion,
		"body":             string(d.Body),
		"created_at":       timeNative(d.CreatedAt),
		"correlation_id":   d.CorrelationID,
		"attempts":         d.Attempts,
		"next_attempt_at":  optTimeNative(d.NextAttemptAt),
		"first_failure_at": optTimeNative(d.FirstFailureAt),
		"last_failure_at":  optTimeNative(d.LastFailureAt),
		"last_status":      d.LastStatus,
		"last_error":       d.LastError,
	}
}

// DeliveryFromNative converts a value decoded with any version of
// schemas/delivery.avsc into a Delivery. The body is kept byte for byte (it
// is what gets signed); an empty one becomes nil.
func DeliveryFromNative(v any) (Delivery, error) {
	r, err := newReader("Delivery", v)
	if err != nil {
		return Delivery{}, err
	}
	d := Delivery{
		ID:             r.str("id", ""),
		EventID:        r.str("event_id", ""),
		SubscriptionID: r.str("subscription_id", ""),
		EntityKey:      r.str("entity_key", ""),
		EventType:      r.str("event_type", ""),
		EntityVersion:  r.long("entity_version", 0),
		Body:           r.body("body"),
		CreatedAt:      r.time("created_at"),
		CorrelationID:  r.str("correlation_id", ""),
		Attempts:       r.int("attempts", 0),
		NextAttemptAt:  r.optTime("next_attempt_at"),
		FirstFailureAt: r.optTime("first_failure_at"),
		LastFailureAt:  r.optTime("last_failure_at"),
		LastStatus:     r.int("last_status", 0),
		LastError:      r.str("last_error", ""),
	}
	if err := r.error(); err != nil {
		return Delivery{}, err
	}
	return d, nil
}

// Native returns a in goavro's native form for
// schemas/delivery_attempt.avsc. Duration is written in microseconds.
func (a DeliveryAttempt) Native() map[string]any {
	return map[string]any{
		"delivery_id":      a.DeliveryID,
		"event_id":         a.EventID,
		"subscription_id":  a.SubscriptionID,
		"entity_key":       a.EntityKey,
		"attempt":          a.Attempt,
		"url":              a.URL,
		"started_at":       timeNative(a.StartedAt),
		"duration_us":      a.Duration.Microseconds(),
		"status_code":      a.StatusCode,
		"outcome":          a.Outcome,
		"error":            a.Error,
		"response_headers": stringMapNative(a.ResponseHeaders),
		"response_body":    a.ResponseBody,
		"next_attempt_at":  optTimeNative(a.NextAttemptAt),
		"correlation_id":   a.CorrelationID,
	}
}

// DeliveryAttemptFromNative converts a value decoded with any version of
// schemas/delivery_attempt.avsc into a DeliveryAttempt.
func DeliveryAttemptFromNative(v any) (DeliveryAttempt, error) {
	r, err := newReader("DeliveryAttempt", v)
	if err != nil {
		return DeliveryAttempt{}, err
	}
	a := DeliveryAttempt{
		DeliveryID:      r.str("delivery_id", ""),
		EventID:         r.str("event_id", ""),
		SubscriptionID:  r.str("subscription_id", ""),
		EntityKey:       r.str("entity_key", ""),
		Attempt:         r.int("attempt", 1),
		URL:             r.str("url", ""),
		StartedAt:       r.time("started_at"),
		Duration:        r.micros("duration_us"),
		StatusCode:      r.int("status_code", 0),
		Outcome:         r.str("outcome", ""),
		Error:           r.str("error", ""),
		ResponseHeaders: r.stringMap("response_headers"),
		ResponseBody:    r.str("response_body", ""),
		NextAttemptAt:   r.optTime("next_attempt_at"),
		CorrelationID:   r.str("correlation_id", ""),
	}
	if err := r.error(); err != nil {
		return DeliveryAttempt{}, err
	}
	return a, nil
}

// --- to native ---

// epoch stands for the zero time.Time on the wire.
var epoch = time.UnixMilli(0).UTC()

func timeNative(t time.Time) time.Time {
	if t.IsZero() {
		return epoch
	}
	return t
}

func optTimeNative(t *time.Time) any {
	if t == nil {
		return nil
	}
	return goavro.Union(branchTimestamp, timeNative(*t))
}

func optStringNative(s string) any {
	if s == "" {
		return nil
	}
	return goavro.Union(branchString, s)
}

func optJSONNative(b json.RawMessage) any {
	if isNullJSON(b) {
		return nil
	}
	return goavro.Union(branchString, string(b))
}

func stringMapNative(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// originNative writes a zero Origin as null.
func originNative(o Origin) any {
	if o.IsZero() {
		return nil
	}
	return goavro.Union(branchOrigin, map[string]any{
		"format":    o.Format,
		"id":        o.ID,
		"type":      o.Type,
		"source":    o.Source,
		"entity_id": o.EntityID,
	})
}

func warningsNative(ws []Warning) []any {
	out := make([]any, len(ws))
	for i, w := range ws {
		out[i] = map[string]any{"code": w.Code, "field": w.Field, "message": w.Message}
	}
	return out
}

func stringsNative(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// isNullJSON reports whether b is empty or the JSON literal null.
func isNullJSON(b []byte) bool {
	b = bytes.TrimSpace(b) // JSON white space is a subset of what this trims
	return len(b) == 0 || string(b) == "null"
}

// --- from native ---

// reader reads the fields of one native record. The first error is kept
// (shared with the readers of nested records) and later reads return
// defaults, so a FromNative function reads every field and checks once.
type reader struct {
	path string
	m    map[string]any
	err  *error
}

func newReader(record string, v any) (*reader, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decoding %s: want record, got %T", record, v)
	}
	return &reader{path: record, m: m, err: new(error)}, nil
}

func (r *reader) error() error { return *r.err }

// get returns the value of field name; ok is false when the field is
// missing or null.
func (r *reader) get(name string) (any, bool) {
	v, ok := r.m[name]
	return v, ok && v != nil
}

// scalar is get for a field of a scalar type, with the union wrapper of a
// nullable field removed. A single-key map is never a valid scalar, so
// unwrapping it is unambiguous.
func (r *reader) scalar(name string) (any, bool) {
	v, ok := r.get(name)
	if !ok {
		return nil, false
	}
	if u, isMap := v.(map[string]any); isMap && len(u) == 1 {
		for branch, inner := range u {
			if isScalarBranch(branch) {
				return inner, inner != nil
			}
		}
	}
	return v, true
}

// isScalarBranch reports whether name is how goavro names a union branch of
// a scalar type.
func isScalarBranch(name string) bool {
	switch name {
	case "string", "bytes", "boolean", "int", "long", "float", "double",
		"long.timestamp-millis", "long.timestamp-micros":
		return true
	}
	return false
}

// container is get for a field of type array or map, with the union wrapper
// of a nullable field ({"array": ...} or {"map": ...}) removed.
func (r *reader) container(name, branch string) (any, bool) {
	v, ok := r.get(name)
	if !ok {
		return nil, false
	}
	if u, isMap := v.(map[string]any); isMap && len(u) == 1 {
		inner, wrapped := u[branch]
		switch inner.(type) {
		case []any, map[string]any: // a map of strings never holds these
			return inner, true
		case nil:
			if wrapped {
				return nil, false
			}
		}
	}
	return v, true
}

func (r *reader) fail(name, want string, got any) {
	if *r.err == nil {
		*r.err = fmt.Errorf("decoding %s.%s: want %s, got %T", r.path, name, want, got)
	}
}

func (r *reader) str(name, def string) string {
	v, ok := r.scalar(name)
	if !ok {
		return def
	}
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	r.fail(name, "string", v)
	return def
}

func (r *reader) long(name string, def int64) int64 {
	v, ok := r.scalar(name)
	if !ok {
		return def
	}
	switch v := v.(type) {
	case int64:
		return v
	case int32: // int is promotable to long
		return int64(v)
	case int:
		return int64(v)
	}
	r.fail(name, "long", v)
	return def
}

func (r *reader) int(name string, def int32) int32 {
	v, ok := r.scalar(name)
	if !ok {
		return def
	}
	var n int64
	switch v := v.(type) {
	case int32:
		return v
	case int:
		n = int64(v)
	case int64:
		n = v
	default:
		r.fail(name, "int", v)
		return def
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		if *r.err == nil {
			*r.err = fmt.Errorf("decoding %s.%s: %d overflows int", r.path, name, n)
		}
		return def
	}
	return int32(n)
}

func (r *reader) double(name string, def float64) float64 {
	v, ok := r.scalar(name)
	if !ok {
		return def
	}
	switch v := v.(type) {
	case float64:
		return v
	case float32:
		return float64(v)
	case int64:
		return float64(v)
	case int32:
		return float64(v)
	}
	r.fail(name, "double", v)
	return def
}

func (r *reader) boolean(name string, def bool) bool {
	v, ok := r.scalar(name)
	if !ok {
		return def
	}
	if b, isBool := v.(bool); isBool {
		return b
	}
	r.fail(name, "boolean", v)
	return def
}

// time reads a timestamp-millis field: a time.Time, or epoch milliseconds
// when the writer's schema had a plain long.
func (r *reader) time(name string) time.Time {
	v, ok := r.scalar(name)
	if !ok {
		return time.Time{}
	}
	var t time.Time
	switch v := v.(type) {
	case time.Time:
		t = v
	case int64:
		t = time.UnixMilli(v)
	default:
		r.fail(name, "timestamp", v)
		return time.Time{}
	}
	if t.Equal(epoch) {
		return time.Time{}
	}
	return t.UTC()
}

func (r *reader) optTime(name string) *time.Time {
	if _, ok := r.scalar(name); !ok {
		return nil
	}
	t := r.time(name)
	return &t
}

func (r *reader) micros(name string) time.Duration {
	return time.Duration(r.long(name, 0)) * time.Microsecond
}

// json reads a JSON text field; empty or the literal null give nil.
func (r *reader) json(name string) json.RawMessage {
	b := r.body(name)
	if isNullJSON(b) {
		return nil
	}
	return b
}

// body reads a JSON text field byte for byte; empty gives nil.
func (r *reader) body(name string) json.RawMessage {
	s := r.str(name, "")
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func (r *reader) strings(name string) []string {
	v, ok := r.container(name, "array")
	if !ok {
		return nil
	}
	switch v := v.(type) {
	case []string:
		if len(v) == 0 {
			return nil
		}
		return append([]string(nil), v...)
	case []any:
		if len(v) == 0 {
			return nil
		}
		out := make([]string, len(v))
		for i, item := range v {
			s, isString := item.(string)
			if !isString {
				r.fail(name+"["+strconv.Itoa(i)+"]", "string", item)
				return nil
			}
			out[i] = s
		}
		return out
	}
	r.fail(name, "array of strings", v)
	return nil
}

func (r *reader) stringMap(name string) map[string]string {
	v, ok := r.container(name, "map")
	if !ok {
		return nil
	}
	switch v := v.(type) {
	case map[string]string:
		if len(v) == 0 {
			return nil
		}
		out := make(map[string]string, len(v))
		for k, s := range v {
			out[k] = s
		}
		return out
	case map[string]any:
		if len(v) == 0 {
			return nil
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys) // report the first bad entry deterministically
		out := make(map[string]string, len(v))
		for _, k := range keys {
			s, isString := v[k].(string)
			if !isString {
				r.fail(name+"["+strconv.Quote(k)+"]", "string", v[k])
				return nil
			}
			out[k] = s
		}
		return out
	}
	r.fail(name, "map of strings", v)
	return nil
}

// record returns a reader for a nested record field; a missing one reads
// as a record of defaults.
func (r *reader) record(name string) *reader {
	sub := &reader{path: r.path + "." + name, m: map[string]any{}, err: r.err}
	v, ok := r.m[name]
	if !ok || v == nil {
		return sub
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		r.fail(name, "record", v)
		return sub
	}
	sub.m = m
	return sub
}

// origin reads a ["null", Origin] field; null or missing give the zero
// Origin. A bare record (not wrapped in its union branch) is accepted too.
func (r *reader) origin(name string) Origin {
	v, ok := r.get(name)
	if !ok {
		return Origin{}
	}
	if u, isMap := v.(map[string]any); isMap && len(u) == 1 {
		if inner, wrapped := u[branchOrigin]; wrapped {
			if inner == nil {
				return Origin{}
			}
			v = inner
		}
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		r.fail(name, "record", v)
		return Origin{}
	}
	o := &reader{path: r.path + "." + name, m: m, err: r.err}
	return Origin{
		Format:   o.str("format", ""),
		ID:       o.str("id", ""),
		Type:     o.str("type", ""),
		Source:   o.str("source", ""),
		EntityID: o.str("entity_id", ""),
	}
}

// records returns readers for the items of an array of records.
func (r *reader) records(name string) []*reader {
	v, ok := r.container(name, "array")
	if !ok {
		return nil
	}
	items, isList := v.([]any)
	if !isList {
		r.fail(name, "array of records", v)
		return nil
	}
	out := make([]*reader, 0, len(items))
	for i, item := range items {
		p := name + "[" + strconv.Itoa(i) + "]"
		m, isMap := item.(map[string]any)
		if !isMap {
			r.fail(p, "record", item)
			return nil
		}
		out = append(out, &reader{path: r.path + "." + p, m: m, err: r.err})
	}
	return out
}
