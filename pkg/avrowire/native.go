package avrowire

import (
	"encoding/json"
	"time"

	"github.com/linkedin/goavro/v2"
)

// Conversion to goavro's native form: a record is a map[string]any keyed by
// the Avro field name, a non-null union value is goavro.Union(branch,
// value), null is nil, timestamp-millis is a time.Time, int is int32, long
// is int64 and double is float64.

// Union branch names goavro uses for the scalar branches of the optional
// fields; a record branch is named by the record's full name.
const (
	BranchString    = "string"
	BranchLong      = "long"
	BranchTimestamp = "long.timestamp-millis"
)

// epoch stands for the zero time.Time on the wire.
var epoch = time.UnixMilli(0).UTC()

// TimeNative is t as a timestamp-millis: the zero time as the epoch.
func TimeNative(t time.Time) time.Time {
	if t.IsZero() {
		return epoch
	}
	return t
}

// OptTimeNative is t as a ["null", timestamp-millis] union.
func OptTimeNative(t *time.Time) any {
	if t == nil {
		return nil
	}
	return goavro.Union(BranchTimestamp, TimeNative(*t))
}

// ZeroTimeNative is t as a ["null", timestamp-millis] union: the zero
// time as null.
func ZeroTimeNative(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return goavro.Union(BranchTimestamp, t)
}

// OptLongNative is n as a ["null", "long"] union.
func OptLongNative(n *int64) any {
	if n == nil {
		return nil
	}
	return goavro.Union(BranchLong, *n)
}

// OptStringNative is s as a ["null", "string"] union: empty as null.
func OptStringNative(s string) any {
	if s == "" {
		return nil
	}
	return goavro.Union(BranchString, s)
}

// OptJSONNative is JSON text b as a ["null", "string"] union: empty or the
// literal null as null.
func OptJSONNative(b json.RawMessage) any {
	if IsNullJSON(b) {
		return nil
	}
	return goavro.Union(BranchString, string(b))
}

// JSONTextNative is JSON text b as a string: empty as the literal null.
func JSONTextNative(b json.RawMessage) string {
	if len(b) == 0 {
		return "null"
	}
	return string(b)
}

// OptRecordNative is a ["null", record] union of the record named branch
// (its full name): nil when null is set.
func OptRecordNative(branch string, null bool, record func() map[string]any) any {
	if null {
		return nil
	}
	return goavro.Union(branch, record())
}

// ScalarMapNative is a map of scalars in native form.
func ScalarMapNative[V any](m map[string]V) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ScalarsNative is an array of scalars in native form.
func ScalarsNative[V any](s []V) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// RecordsNative is an array of records in native form.
func RecordsNative[V any](s []V, record func(V) map[string]any) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = record(v)
	}
	return out
}

// RecordMapNative is a map of records in native form.
func RecordMapNative[V any](m map[string]V, record func(V) map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = record(v)
	}
	return out
}
