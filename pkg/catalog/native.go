package catalog

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/linkedin/goavro/v2"
)

// Conversion to and from goavro's native form for schemas/source.avsc,
// schemas/event_type.avsc and schemas/entity_alias.avsc, with the
// conventions of pkg/event: a record is a map[string]any keyed by field
// name, a non-null union value is goavro.Union(branch, value) and null is
// nil, long is int64, a zero time is written as the Unix epoch; nil maps
// and slices are written as empty ones and empty ones read back as nil.
//
// The FromNative functions are tolerant, as a reader with a newer schema
// must be: a field missing from the map (the record was written with an
// older schema) takes its schema default. A field of the wrong Go type is an
// error naming it, e.g. "decoding Source.signature.secret: want string, got
// int64". They do not Validate: what was written is what is read.

// signatureBranch is goavro's name of the non-null branch of
// Source.signature.
const signatureBranch = "dev.surge.v1.Signature"

// Native returns s in goavro's native form for schemas/source.avsc.
func (s Source) Native() map[string]any {
	var sig any
	if s.Signature != nil {
		sig = goavro.Union(signatureBranch, map[string]any{
			"scheme":           s.Signature.Scheme,
			"header":           s.Signature.Header,
			"secret":           s.Signature.Secret,
			"tolerance_s":      int64(s.Signature.ToleranceS),
			"timestamp_header": s.Signature.TimestampHeader,
		})
	}
	loaders := make(map[string]any, len(s.Loaders))
	for entity, l := range s.Loaders {
		headers := make(map[string]any, len(l.Headers))
		for k, v := range l.Headers {
			headers[k] = v
		}
		loaders[entity] = map[string]any{
			"url":         l.URL,
			"headers":     headers,
			"timeout_ms":  int64(l.TimeoutMS),
			"cache_ttl_s": int64(l.CacheTTLS),
		}
	}
	identity := make(map[string]any, len(s.Identity))
	for entity, r := range s.Identity {
		identity[entity] = map[string]any{"field": r.Field, "aliases": r.Aliases}
	}
	return map[string]any{
		"id":             s.ID,
		"signature":      sig,
		"loaders":        loaders,
		"allow_unsigned": s.AllowUnsigned,
		"identity":       identity,
	}
}

// SourceFromNative converts a value decoded with any version of
// schemas/source.avsc into a Source.
func SourceFromNative(v any) (Source, error) {
	r, err := newNativeReader("Source", v)
	if err != nil {
		return Source{}, err
	}
	s := Source{
		ID:            r.str("id"),
		AllowUnsigned: r.boolean("allow_unsigned"),
	}
	if sr := r.optRecord("signature", signatureBranch); sr != nil {
		s.Signature = &Signature{
			Scheme:          sr.str("scheme"),
			Header:          sr.str("header"),
			Secret:          sr.str("secret"),
			ToleranceS:      sr.integer("tolerance_s"),
			TimestampHeader: sr.str("timestamp_header"),
		}
	}
	for _, e := range r.recordMap("loaders") {
		lr := e.r
		if s.Loaders == nil {
			s.Loaders = map[string]Loader{}
		}
		s.Loaders[e.key] = Loader{
			URL:       lr.str("url"),
			Headers:   lr.stringMap("headers"),
			TimeoutMS: lr.integer("timeout_ms"),
			CacheTTLS: lr.integer("cache_ttl_s"),
		}
	}
	for _, e := range r.recordMap("identity") {
		if s.Identity == nil {
			s.Identity = map[string]IdentityRule{}
		}
		s.Identity[e.key] = IdentityRule{Field: e.r.str("field"), Aliases: e.r.boolean("aliases")}
	}
	if err := r.error(); err != nil {
		return Source{}, err
	}
	return s, nil
}

// Native returns a in goavro's native form for schemas/entity_alias.avsc.
func (a EntityAlias) Native() map[string]any {
	updated := a.UpdatedAt
	if updated.IsZero() {
		updated = time.UnixMilli(0).UTC()
	}
	return map[string]any{
		"source":      a.Source,
		"entity_type": a.EntityType,
		"sender_id":   a.SenderID,
		"entity_id":   a.EntityID,
		"updated_at":  updated,
	}
}

// EntityAliasFromNative converts a value decoded with any version of
// schemas/entity_alias.avsc into an EntityAlias.
func EntityAliasFromNative(v any) (EntityAlias, error) {
	r, err := newNativeReader("EntityAlias", v)
	if err != nil {
		return EntityAlias{}, err
	}
	a := EntityAlias{
		Source:     r.str("source"),
		EntityType: r.str("entity_type"),
		SenderID:   r.str("sender_id"),
		EntityID:   r.str("entity_id"),
		UpdatedAt:  r.time("updated_at"),
	}
	if err := r.error(); err != nil {
		return EntityAlias{}, err
	}
	return a, nil
}

// Native returns et in goavro's native form for schemas/event_type.avsc. An
// absent data schema is written as "".
func (et EventType) Native() map[string]any {
	aliases := make([]any, len(et.Aliases))
	for i, a := range et.Aliases {
		aliases[i] = a
	}
	return map[string]any{
		"name":        et.Name,
		"entity_type": et.EntityType,
		"aliases":     aliases,
		"description": et.Description,
		"data_schema": string(et.DataSchema),
		"delete":      et.Delete,
	}
}

// EventTypeFromNative converts a value decoded with any version of
// schemas/event_type.avsc into an EventType. An empty data schema becomes
// nil; any other is kept byte for byte.
func EventTypeFromNative(v any) (EventType, error) {
	r, err := newNativeReader("EventType", v)
	if err != nil {
		return EventType{}, err
	}
	et := EventType{
		Name:        r.str("name"),
		EntityType:  r.str("entity_type"),
		Aliases:     r.strings("aliases"),
		Description: r.str("description"),
		Delete:      r.boolean("delete"),
	}
	if s := r.str("data_schema"); s != "" {
		et.DataSchema = json.RawMessage(s)
	}
	if err := r.error(); err != nil {
		return EventType{}, err
	}
	return et, nil
}

// nativeReader reads the fields of one native record. The first error is
// kept (shared with the readers of nested records) and later reads return
// zero values, so a FromNative function reads every field and checks once.
// Every field these schemas default has the Go zero value as its default.
type nativeReader struct {
	path string
	m    map[string]any
	err  *error
}

func newNativeReader(record string, v any) (*nativeReader, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decoding %s: want record, got %T", record, v)
	}
	return &nativeReader{path: record, m: m, err: new(error)}, nil
}

func (r *nativeReader) error() error { return *r.err }

func (r *nativeReader) fail(name, want string, got any) {
	if *r.err == nil {
		*r.err = fmt.Errorf("decoding %s.%s: want %s, got %T", r.path, name, want, got)
	}
}

// sub returns a reader for the nested record v of field name.
func (r *nativeReader) sub(name string, v any) *nativeReader {
	m, ok := v.(map[string]any)
	if !ok {
		r.fail(name, "record", v)
		m = map[string]any{}
	}
	return &nativeReader{path: r.path + "." + name, m: m, err: r.err}
}

func (r *nativeReader) str(name string) string {
	switch v := r.m[name].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		r.fail(name, "string", v)
		return ""
	}
}

func (r *nativeReader) boolean(name string) bool {
	switch v := r.m[name].(type) {
	case nil:
		return false
	case bool:
		return v
	default:
		r.fail(name, "boolean", v)
		return false
	}
}

// integer reads a long (or an int, which Avro promotes to long).
func (r *nativeReader) integer(name string) int {
	var n int64
	switch v := r.m[name].(type) {
	case nil:
		return 0
	case int64:
		n = v
	case int32:
		n = int64(v)
	case int:
		return v
	default:
		r.fail(name, "long", v)
		return 0
	}
	if n < math.MinInt || n > math.MaxInt {
		if *r.err == nil {
			*r.err = fmt.Errorf("decoding %s.%s: %d overflows int", r.path, name, n)
		}
		return 0
	}
	return int(n)
}

// time reads a timestamp-millis field; the Unix epoch (the zero time's
// encoding) and a missing field give the zero time.
func (r *nativeReader) time(name string) time.Time {
	var t time.Time
	switch v := r.m[name].(type) {
	case nil:
		return time.Time{}
	case time.Time:
		t = v
	case int64:
		t = time.UnixMilli(v)
	default:
		r.fail(name, "timestamp", v)
		return time.Time{}
	}
	if t.UnixMilli() == 0 {
		return time.Time{}
	}
	return t.UTC()
}

func (r *nativeReader) strings(name string) []string {
	switch v := r.m[name].(type) {
	case nil:
		return nil
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
			s, ok := item.(string)
			if !ok {
				r.fail(name+"["+strconv.Itoa(i)+"]", "string", item)
				return nil
			}
			out[i] = s
		}
		return out
	default:
		r.fail(name, "array of strings", v)
		return nil
	}
}

func (r *nativeReader) stringMap(name string) map[string]string {
	switch v := r.m[name].(type) {
	case nil:
		return nil
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
		out := make(map[string]string, len(v))
		for _, k := range sortedKeys(v) { // report the first bad entry deterministically
			s, ok := v[k].(string)
			if !ok {
				r.fail(name+"["+strconv.Quote(k)+"]", "string", v[k])
				return nil
			}
			out[k] = s
		}
		return out
	default:
		r.fail(name, "map of strings", v)
		return nil
	}
}

// optRecord reads a ["null", record] union field whose record branch goavro
// names branch; nil when the field is null or missing. A bare record (not
// wrapped in its branch) is accepted too.
func (r *nativeReader) optRecord(name, branch string) *nativeReader {
	v := r.m[name]
	if v == nil {
		return nil
	}
	if u, ok := v.(map[string]any); ok && len(u) == 1 {
		if inner, wrapped := u[branch]; wrapped {
			if inner == nil {
				return nil
			}
			v = inner
		}
	}
	return r.sub(name, v)
}

// recordMap reads a map of records: a reader for each entry, sorted by key
// so that the first error reported does not depend on map order.
func (r *nativeReader) recordMap(name string) []keyedReader {
	v := r.m[name]
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		r.fail(name, "map of records", v)
		return nil
	}
	out := make([]keyedReader, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, keyedReader{key: k, r: r.sub(name+"["+strconv.Quote(k)+"]", m[k])})
	}
	return out
}

type keyedReader struct {
	key string
	r   *nativeReader
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
