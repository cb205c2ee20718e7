package avroserde

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DecodeJSON decodes a wire-format value and renders it as plain JSON, the
// shape Confluent's JSON tooling and Python's Avro deserializer give:
//
//   - record fields in schema order, map keys sorted;
//   - a union value as the bare value: a ["null","string"] field is null or
//     "text", never {"string":"text"};
//   - timestamps, dates and times as the numbers Avro stores (epoch
//     milliseconds for timestamp-millis);
//   - bytes and fixed as Avro's JSON encoding does (one code point per
//     byte), decimals as numbers, enums as their symbol.
//
// Errors are those of Decode.
func (r *Registry) DecodeJSON(ctx context.Context, b []byte) (json.RawMessage, error) {
	id, w, native, err := r.decode(ctx, b)
	if err != nil {
		return nil, err
	}
	out, err := w.json.append(nil, native)
	if err != nil {
		return nil, fmt.Errorf("rendering value with schema id %d as JSON: %w", id, err)
	}
	return out, nil
}

// jsonType is the part of an Avro schema DecodeJSON needs to render a
// native value: goavro's native form alone cannot tell a union wrapper from
// a one-field record, nor the field order of a record.
type jsonType struct {
	kind     string // a primitive type name, "record", "enum", "fixed", "array", "map" or "union"
	name     string // full name of a named type
	logical  string // logicalType, if any
	scale    int    // of a decimal
	fields   []jsonField
	elem     *jsonType            // items of an array, values of a map
	branches map[string]*jsonType // members of a union, under each name goavro may give them
}

type jsonField struct {
	name string
	typ  *jsonType
}

func compileJSONType(schema string) (*jsonType, error) {
	var s any
	if err := json.Unmarshal([]byte(schema), &s); err != nil {
		return nil, err
	}
	c := jsonCompiler{named: map[string]*jsonType{}}
	return c.compile(s, "")
}

type jsonCompiler struct {
	named map[string]*jsonType
}

func isPrimitive(name string) bool {
	switch name {
	case "null", "boolean", "int", "long", "float", "double", "bytes", "string":
		return true
	}
	return false
}

func (c *jsonCompiler) compile(s any, ns string) (*jsonType, error) {
	switch s := s.(type) {
	case string:
		if isPrimitive(s) {
			return &jsonType{kind: s}, nil
		}
		return c.lookup(s, ns)
	case []any:
		t := &jsonType{kind: "union", branches: map[string]*jsonType{}}
		for _, m := range s {
			mt, err := c.compile(m, ns)
			if err != nil {
				return nil, err
			}
			names := []string{mt.kind}
			if mt.name != "" {
				names = append(names, mt.name)
			}
			if mt.logical != "" {
				names = append(names, mt.kind+"."+mt.logical)
			}
			for _, n := range names {
				if _, dup := t.branches[n]; !dup {
					t.branches[n] = mt
				}
			}
		}
		return t, nil
	case map[string]any:
		kind, isString := s["type"].(string)
		if !isString {
			return c.compile(s["type"], ns) // {"type": {...}} or {"type": [...]}
		}
		logical, _ := s["logicalType"].(string)
		scale, _ := s["scale"].(float64)
		switch kind {
		case "record", "error":
			full, inner := fullName(s, ns)
			t := &jsonType{kind: "record", name: full}
			c.named[full] = t // before the fields: a record may refer to itself
			fields, _ := s["fields"].([]any)
			for _, f := range fields {
				fm, _ := f.(map[string]any)
				fname, _ := fm["name"].(string)
				ft, err := c.compile(fm["type"], inner)
				if err != nil {
					return nil, fmt.Errorf("compiling field %s.%s: %w", full, fname, err)
				}
				t.fields = append(t.fields, jsonField{name: fname, typ: ft})
			}
			return t, nil
		case "enum", "fixed":
			full, _ := fullName(s, ns)
			t := &jsonType{kind: kind, name: full, logical: logical, scale: int(scale)}
			c.named[full] = t
			return t, nil
		case "array", "map":
			elemSchema := s["items"]
			if kind == "map" {
				elemSchema = s["values"]
			}
			elem, err := c.compile(elemSchema, ns)
			if err != nil {
				return nil, err
			}
			return &jsonType{kind: kind, elem: elem}, nil
		}
		if !isPrimitive(kind) {
			return c.lookup(kind, ns)
		}
		return &jsonType{kind: kind, logical: logical, scale: int(scale)}, nil
	}
	return nil, fmt.Errorf("compiling schema: unexpected %T", s)
}

func (c *jsonCompiler) lookup(name, ns string) (*jsonType, error) {
	if !strings.Contains(name, ".") && ns != "" {
		if t, ok := c.named[ns+"."+name]; ok {
			return t, nil
		}
	}
	if t, ok := c.named[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("compiling schema: unknown type %q", name)
}

// fullName returns the full name of a named type and the namespace its
// members are resolved in.
func fullName(s map[string]any, enclosing string) (full, ns string) {
	name, _ := s["name"].(string)
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name, name[:i]
	}
	ns = enclosing
	if v, ok := s["namespace"].(string); ok {
		ns = v
	}
	if ns == "" {
		return name, ""
	}
	return ns + "." + name, ns
}

// append renders v, a value of type t in goavro's native form, as JSON.
func (t *jsonType) append(b []byte, v any) ([]byte, error) {
	var err error
	switch t.kind {
	case "record":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("rendering record %s: got %T", t.name, v)
		}
		b = append(b, '{')
		for i, f := range t.fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, f.name)
			b = append(b, ':')
			if b, err = f.typ.append(b, m[f.name]); err != nil {
				return nil, fmt.Errorf("rendering field %s.%s: %w", t.name, f.name, err)
			}
		}
		return append(b, '}'), nil
	case "union":
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			for branch, inner := range m {
				if bt, ok := t.branches[branch]; ok {
					return bt.append(b, inner)
				}
			}
		}
		return appendAny(b, v)
	case "array":
		items, ok := v.([]any)
		if !ok {
			return appendAny(b, v)
		}
		b = append(b, '[')
		for i, item := range items {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = t.elem.append(b, item); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case "map":
		m, ok := v.(map[string]any)
		if !ok {
			return appendAny(b, v)
		}
		b = append(b, '{')
		for i, k := range sortedKeys(m) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			if b, err = t.elem.append(b, m[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return appendScalar(b, v, t.logical, t.scale)
}

// appendAny renders a native value without its schema: the fallback for a
// union member goavro names in a way not foreseen here.
func appendAny(b []byte, v any) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case []any:
		b = append(b, '[')
		for i, item := range v {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendAny(b, item); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		b = append(b, '{')
		for i, k := range sortedKeys(v) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			if b, err = appendAny(b, v[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return appendScalar(b, v, "", 0)
}

func appendScalar(b []byte, v any, logical string, scale int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int32:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case float32:
		return appendFloat(b, float64(v), 32), nil
	case float64:
		return appendFloat(b, v, 64), nil
	case string:
		return appendString(b, v), nil
	case []byte:
		// Avro's JSON encoding of bytes: one code point U+0000–U+00FF per byte.
		runes := make([]rune, len(v))
		for i, c := range v {
			runes[i] = rune(c)
		}
		return appendString(b, string(runes)), nil
	case time.Time:
		switch logical {
		case "timestamp-micros", "local-timestamp-micros":
			return strconv.AppendInt(b, v.UnixMicro(), 10), nil
		case "date":
			days := v.Unix() / 86400
			if v.Unix()%86400 < 0 {
				days--
			}
			return strconv.AppendInt(b, days, 10), nil
		}
		return strconv.AppendInt(b, v.UnixMilli(), 10), nil
	case time.Duration:
		if logical == "time-micros" {
			return strconv.AppendInt(b, v.Microseconds(), 10), nil
		}
		return strconv.AppendInt(b, v.Milliseconds(), 10), nil
	case *big.Rat:
		return append(b, v.FloatString(scale)...), nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("rendering %T: %w", v, err)
	}
	return append(b, out...), nil
}

// appendFloat writes f as a JSON number, or as the string "NaN",
// "Infinity" or "-Infinity", which JSON numbers cannot express.
func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Unlike encoding/json it leaves
// <, > and & alone, so embedded JSON and HTML stay readable.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
