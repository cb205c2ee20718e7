package avrowire

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
)

// The FromNative functions the generator writes are tolerant, as a reader
// with a newer schema must be: a field missing from the map (the record
// was written with an older schema) takes its schema default, or the Go
// zero value when the schema has none. A field of the wrong Go type is an
// error that names the field, e.g. "decoding Event.entity.id: want string,
// got int64".

// NativeReader reads the fields of one native record. The first error is kept
// (shared with the readers of nested records) and later reads return
// defaults, so a FromNative function reads every field and checks once.
type NativeReader struct {
	path string
	m    map[string]any
	err  *error
}

// NewNativeReader returns a reader of v, a native record named record.
func NewNativeReader(record string, v any) (*NativeReader, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decoding %s: want record, got %T", record, v)
	}
	return &NativeReader{path: record, m: m, err: new(error)}, nil
}

// Err is the first error of the record and of its nested records.
func (r *NativeReader) Err() error { return *r.err }

// get returns the value of field name; ok is false when the field is
// missing or null.
func (r *NativeReader) get(name string) (any, bool) {
	v, ok := r.m[name]
	return v, ok && v != nil
}

// scalar is get for a field of a scalar type, with the union wrapper of a
// nullable field removed. A single-key map is never a valid scalar, so
// unwrapping it is unambiguous.
func (r *NativeReader) scalar(name string) (any, bool) {
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
func (r *NativeReader) container(name, branch string) (any, bool) {
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

func (r *NativeReader) fail(name, want string, got any) {
	if *r.err == nil {
		*r.err = fmt.Errorf("decoding %s.%s: want %s, got %T", r.path, name, want, got)
	}
}

func (r *NativeReader) Str(name, def string) string {
	v, ok := r.scalar(name)
	if !ok {
		return def
	}
	if s, ok := v.(string); ok { // goavro decodes every Avro string to one
		return s
	}
	r.fail(name, "string", v)
	return def
}

func (r *NativeReader) Long(name string, def int64) int64 {
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

func (r *NativeReader) Int(name string, def int32) int32 {
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

func (r *NativeReader) Double(name string, def float64) float64 {
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

func (r *NativeReader) Boolean(name string, def bool) bool {
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
func (r *NativeReader) Time(name string) time.Time {
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

func (r *NativeReader) OptTime(name string) *time.Time {
	if _, ok := r.scalar(name); !ok {
		return nil
	}
	t := r.Time(name)
	return &t
}

func (r *NativeReader) Micros(name string) time.Duration {
	return time.Duration(r.Long(name, 0)) * time.Microsecond
}

// json reads a JSON text field; empty or the literal null give nil.
func (r *NativeReader) JSON(name string) json.RawMessage {
	b := r.Body(name)
	if IsNullJSON(b) {
		return nil
	}
	return b
}

// body reads a JSON text field byte for byte; empty gives nil.
func (r *NativeReader) Body(name string) json.RawMessage {
	s := r.Str(name, "")
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func (r *NativeReader) Strings(name string) []string {
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

func (r *NativeReader) StringMap(name string) map[string]string {
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
func (r *NativeReader) Record(name string) *NativeReader {
	sub := &NativeReader{path: r.path + "." + name, m: map[string]any{}, err: r.err}
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

// records returns readers for the items of an array of records.
func (r *NativeReader) Records(name string) []*NativeReader {
	v, ok := r.container(name, "array")
	if !ok {
		return nil
	}
	items, isList := v.([]any)
	if !isList {
		r.fail(name, "array of records", v)
		return nil
	}
	out := make([]*NativeReader, 0, len(items))
	for i, item := range items {
		p := name + "[" + strconv.Itoa(i) + "]"
		m, isMap := item.(map[string]any)
		if !isMap {
			r.fail(p, "record", item)
			return nil
		}
		out = append(out, &NativeReader{path: r.path + "." + p, m: m, err: r.err})
	}
	return out
}

// OptLong reads a ["null", "long"] field; null or missing give nil.
func (r *NativeReader) OptLong(name string) *int64 {
	if _, ok := r.scalar(name); !ok {
		return nil
	}
	n := r.Long(name, 0)
	return &n
}

// LongMap reads a map of longs; empty gives nil.
func (r *NativeReader) LongMap(name string) map[string]int64 {
	v, ok := r.container(name, "map")
	if !ok {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		r.fail(name, "map of longs", v)
		return nil
	}
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]int64, len(m))
	entries := &NativeReader{path: r.path, m: m, err: r.err}
	for _, k := range SortedKeys(m) { // report the first bad entry deterministically
		out[k] = entries.Long(k, 0)
	}
	if *r.err != nil {
		return nil
	}
	return out
}

// OptRecord reads a ["null", record] field whose record's full name is
// branch; ok is false when it is null or missing. A bare record (not
// wrapped in its union branch) is accepted too.
func (r *NativeReader) OptRecord(name, branch string) (sub *NativeReader, ok bool) {
	v, ok := r.get(name)
	if !ok {
		return nil, false
	}
	if u, isMap := v.(map[string]any); isMap && len(u) == 1 {
		if inner, wrapped := u[branch]; wrapped {
			if inner == nil {
				return nil, false
			}
			v = inner
		}
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		r.fail(name, "record", v)
		return nil, false
	}
	return &NativeReader{path: r.path + "." + name, m: m, err: r.err}, true
}

// RecordMap returns readers for the values of a map of records, by key.
func (r *NativeReader) RecordMap(name string) map[string]*NativeReader {
	v, ok := r.container(name, "map")
	if !ok {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		r.fail(name, "map of records", v)
		return nil
	}
	out := make(map[string]*NativeReader, len(m))
	for _, k := range SortedKeys(m) {
		p := name + "[" + strconv.Quote(k) + "]"
		rec, isRecord := m[k].(map[string]any)
		if !isRecord {
			r.fail(p, "record", m[k])
			return nil
		}
		out[k] = &NativeReader{path: r.path + "." + p, m: rec, err: r.err}
	}
	return out
}
