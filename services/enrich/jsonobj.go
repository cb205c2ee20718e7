package enrich

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// errNotObject: the value is not a JSON object.
var errNotObject = errors.New("not a JSON object")

// parseObject parses a JSON object into its top-level fields. It checks
// the whole text is valid JSON, then splits the top level without
// reflection (encoding/json into a map of RawMessage is several times
// slower and this runs for every event). Values are compacted when they
// hold white space outside strings, so equal values compare equal byte for
// byte; they may share memory with b, which must not be modified after.
// A key given twice keeps its last value, as encoding/json does.
func parseObject(b []byte) (map[string]json.RawMessage, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, errNotObject
	}
	if !json.Valid(b) {
		return nil, errors.New("not valid JSON")
	}
	m := make(map[string]json.RawMessage, 16)
	i := skipSpace(b, 1)
	if b[i] == '}' {
		return m, nil
	}
	for {
		kEnd, escaped := scanString(b, i)
		var key string
		if escaped {
			if err := json.Unmarshal(b[i:kEnd], &key); err != nil {
				return nil, err
			}
		} else {
			key = string(b[i+1 : kEnd-1])
		}
		i = skipSpace(b, skipSpace(b, kEnd)+1) // past ':'
		vEnd, spaced := scanValue(b, i)
		v := json.RawMessage(b[i:vEnd])
		if spaced {
			var buf bytes.Buffer
			if err := json.Compact(&buf, v); err != nil {
				return nil, err
			}
			v = buf.Bytes()
		}
		m[key] = v
		i = skipSpace(b, vEnd)
		if b[i] != ',' {
			return m, nil // '}': json.Valid vouched for the rest
		}
		i = skipSpace(b, i+1)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// scanString returns the index just past the string starting at b[i] (a
// quote) and whether it holds escapes.
func scanString(b []byte, i int) (end int, escaped bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return len(b), escaped
}

// scanValue returns the index just past the value starting at b[i] and
// whether white space occurs in it outside strings.
func scanValue(b []byte, i int) (end int, spaced bool) {
	switch b[i] {
	case '"':
		end, _ = scanString(b, i)
		return end, false
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch c := b[j]; {
			case c == '"':
				j, _ = scanString(b, j)
				j--
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
				if depth == 0 {
					return j + 1, spaced
				}
			case isSpace(c):
				spaced = true
			}
		}
		return len(b), spaced
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && !isSpace(b[j]) {
		j++
	}
	return j, false
}

// marshalObject writes fields as a JSON object with sorted keys, so the
// same fields always give the same bytes.
func marshalObject(fields map[string]json.RawMessage) json.RawMessage {
	keys := make([]string, 0, len(fields))
	size := 2
	for k, v := range fields {
		keys = append(keys, k)
		size += len(k) + len(v) + 4
	}
	slices.Sort(keys)
	out := make([]byte, 0, size)
	out = append(out, '{')
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, k)
		out = append(out, ':')
		out = append(out, fields[k]...)
	}
	return append(out, '}')
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	simple := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			simple = false
			break
		}
	}
	if simple {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	b, err := json.Marshal(s)
	if err != nil { // cannot happen for a string
		return strconv.AppendQuote(dst, s)
	}
	return append(dst, b...)
}

// jsonEqual reports whether two JSON values are equal: same bytes, or the
// same value written differently (key order, number spelling).
func jsonEqual(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	// Fast answers for scalars, which most changed fields are: compacted
	// literals and strings without escapes have one spelling only; numbers
	// may be spelt differently (1, 1.0, 1e0).
	switch ca, cb := a[0], b[0]; {
	case ca == '"' && cb == '"':
		if !bytes.ContainsRune(a, '\\') && !bytes.ContainsRune(b, '\\') {
			return false
		}
	case isNumberStart(ca) && isNumberStart(cb):
		if x, err := strconv.ParseInt(string(a), 10, 64); err == nil {
			if y, err := strconv.ParseInt(string(b), 10, 64); err == nil {
				return x == y
			}
		}
		x, errA := strconv.ParseFloat(string(a), 64)
		y, errB := strconv.ParseFloat(string(b), 64)
		return errA == nil && errB == nil && x == y
	case ca != cb && ca != '{' && ca != '[' && cb != '{' && cb != '[':
		return false // different kinds of scalar
	}
	var av, bv any
	if json.Unmarshal(a, &av) != nil || json.Unmarshal(b, &bv) != nil {
		return false
	}
	return reflect.DeepEqual(av, bv)
}

func isNumberStart(c byte) bool { return c == '-' || c >= '0' && c <= '9' }

// intField reads a field holding a whole number, written as a JSON number
// or a numeric string ("2", "2.0000", as Magento writes quantities).
func intField(fields map[string]json.RawMessage, name string) (int64, bool, error) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return 0, false, nil
	}
	n, err := wholeNumber(raw)
	if err != nil {
		return 0, true, err
	}
	return n, true, nil
}

func wholeNumber(raw json.RawMessage) (int64, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return 0, err
	}
	var num json.Number
	switch v := v.(type) {
	case json.Number:
		num = v
	case string:
		num = json.Number(v)
	default:
		return 0, errors.New("want a number")
	}
	if i, err := num.Int64(); err == nil {
		return i, nil
	}
	f, err := num.Float64()
	if err != nil || f != float64(int64(f)) {
		return 0, errors.New("want a whole number, got " + strconv.Quote(string(num)))
	}
	return int64(f), nil
}

func jsonInt(n int64) json.RawMessage { return strconv.AppendInt(nil, n, 10) }

func jsonString(s string) json.RawMessage { return appendJSONString(nil, s) }
