package avrowire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Errors of the binary Reader. Where goavro is lenient with malformed
// input, the Reader is not: ErrVarintOverflow and ErrIntRange are inputs
// goavro decodes by dropping bits. Neither is ever written by an Avro
// encoder.
var (
	ErrTruncated      = errors.New("truncated")
	ErrVarintOverflow = errors.New("varint longer than 64 bits")
	ErrIntRange       = errors.New("int out of the 32-bit range")
	ErrNegativeLength = errors.New("negative length")
	ErrBlockCount     = errors.New("block count larger than the bytes left")
	ErrBoolean        = errors.New("boolean is neither 0 nor 1")
	ErrUnionBranch    = errors.New("union branch out of range")
	ErrDuplicateKey   = errors.New("duplicate map key")
	ErrTrailing       = errors.New("bytes left after the value")
)

// Reader reads Avro binary data. The first error is kept and ends the
// input, so later reads return zero values; a decoder reads every field and
// checks once, with End.
type Reader struct {
	b      []byte
	size   int    // of the whole input, for error offsets
	record string // for error messages
	err    error
}

// NewReader returns a Reader of b, one value of the record named record.
func NewReader(record string, b []byte) Reader {
	return Reader{b: b, size: len(b), record: record}
}

// Fail records err for field (unless an error is recorded already) and
// ends the input.
func (r *Reader) Fail(field string, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("decoding %s.%s at byte %d of %d: %w", r.record, field, r.size-len(r.b), r.size, err)
	}
	r.b = nil
}

// Err is the first error so far.
func (r *Reader) Err() error { return r.err }

// End returns the first error, or ErrTrailing when bytes are left.
func (r *Reader) End() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("decoding %s: %w: %d of %d", r.record, ErrTrailing, len(r.b), r.size)
	}
	return r.err
}

func (r *Reader) uvarint(field string) uint64 {
	if len(r.b) > 0 && r.b[0] < 0x80 {
		u := uint64(r.b[0])
		r.b = r.b[1:]
		return u
	}
	u, n := binary.Uvarint(r.b)
	if n <= 0 {
		if n == 0 {
			r.Fail(field, ErrTruncated)
		} else {
			r.Fail(field, ErrVarintOverflow)
		}
		return 0
	}
	r.b = r.b[n:]
	return u
}

// Long reads a long.
func (r *Reader) Long(field string) int64 {
	u := r.uvarint(field)
	return int64(u>>1) ^ -int64(u&1)
}

// Int reads an int.
func (r *Reader) Int(field string) int32 {
	u := r.uvarint(field)
	if u > math.MaxUint32 {
		r.Fail(field, ErrIntRange)
		return 0
	}
	return int32(u>>1) ^ -int32(u&1)
}

// Double reads a double.
func (r *Reader) Double(field string) float64 {
	if len(r.b) < 8 {
		r.Fail(field, ErrTruncated)
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return f
}

// Boolean reads a boolean.
func (r *Reader) Boolean(field string) bool {
	if len(r.b) == 0 {
		r.Fail(field, ErrTruncated)
		return false
	}
	b := r.b[0]
	if b > 1 {
		r.Fail(field, ErrBoolean)
		return false
	}
	r.b = r.b[1:]
	return b == 1
}

// Branch reads the index of the branch of a union of n branches.
func (r *Reader) Branch(field string, n int64) int64 {
	i := r.Long(field)
	if i < 0 || i >= n {
		r.Fail(field, ErrUnionBranch)
		return 0
	}
	return i
}

// span reads a string or bytes value and returns it without copying.
func (r *Reader) span(field string) []byte {
	n := r.Long(field)
	if n < 0 {
		r.Fail(field, ErrNegativeLength)
		return nil
	}
	if n > int64(len(r.b)) {
		r.Fail(field, ErrTruncated)
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

// Str reads a string.
func (r *Reader) Str(field string) string {
	return string(r.span(field))
}

// Body reads a string as JSON text, copied byte for byte; empty gives nil.
func (r *Reader) Body(field string) []byte {
	s := r.span(field)
	if len(s) == 0 {
		return nil
	}
	return bytes.Clone(s)
}

// JSON is Body where the JSON literal null (with white space) gives nil
// too.
func (r *Reader) JSON(field string) []byte {
	s := r.span(field)
	if IsNullJSON(s) {
		return nil
	}
	return bytes.Clone(s)
}

// IsNullJSON reports whether b is empty or the JSON literal null.
func IsNullJSON(b []byte) bool {
	b = bytes.TrimSpace(b) // JSON white space is a subset of what this trims
	return len(b) == 0 || string(b) == "null"
}

// Time reads a timestamp-millis; the Unix epoch gives the zero time.
func (r *Reader) Time(field string) time.Time {
	ms := r.Long(field)
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// OptTime reads a ["null", timestamp-millis] union.
func (r *Reader) OptTime(field string) *time.Time {
	if r.Branch(field, 2) == 0 {
		return nil
	}
	t := r.Time(field)
	if r.err != nil {
		return nil
	}
	return &t
}

// OptLong reads a ["null", "long"] union.
func (r *Reader) OptLong(field string) *int64 {
	if r.Branch(field, 2) == 0 {
		return nil
	}
	n := r.Long(field)
	if r.err != nil {
		return nil
	}
	return &n
}

// BlockCount reads the item count of the next block of an array or map,
// skipping the byte size that follows a negative count. Every item takes
// at least minItem bytes, so a count the bytes left cannot hold is an
// error before anything is allocated for it.
func (r *Reader) BlockCount(field string, minItem int) int {
	n := r.Long(field)
	if n < 0 {
		if n == math.MinInt64 {
			r.Fail(field, ErrBlockCount)
			return 0
		}
		n = -n
		r.Long(field) // the block's size in bytes, unused as by goavro
	}
	if n > int64(len(r.b)/max(minItem, 1)) {
		r.Fail(field, ErrBlockCount)
		return 0
	}
	return int(n)
}

// Strings reads an array of strings; empty gives nil.
func (r *Reader) Strings(field string) []string {
	var out []string
	for n := r.BlockCount(field, 1); n > 0; n = r.BlockCount(field, 1) {
		out = slices.Grow(out, n)
		for range n {
			out = append(out, r.Str(field))
		}
	}
	if r.err != nil {
		return nil
	}
	return out
}

// StringMap reads a map of strings; empty gives nil. It is ReadMap with
// Str inlined: passing (*Reader).Str as ReadMap's readValue costs an
// allocation per map on the hot path (TestFastAllocs in pkg/avroserde
// fails with it).
func (r *Reader) StringMap(field string) map[string]string {
	var m map[string]string
	for n := r.BlockCount(field, 2); n > 0; n = r.BlockCount(field, 2) {
		if m == nil {
			m = make(map[string]string, n)
		}
		for range n {
			k := MapKey(r, field, m)
			v := r.Str(field)
			if r.err != nil {
				return nil
			}
			m[k] = v
		}
	}
	if r.err != nil {
		return nil
	}
	return m
}

// MapKey reads the key of a map entry, failing on a key m already holds.
func MapKey[V any](r *Reader, field string, m map[string]V) string {
	k := r.Str(field)
	if _, dup := m[k]; dup && r.err == nil {
		r.Fail(field, fmt.Errorf("%w %q", ErrDuplicateKey, k))
	}
	return k
}

// ReadMap reads a map whose entries take at least minEntry bytes, each
// value read by readValue; empty gives nil.
func ReadMap[V any](r *Reader, field string, minEntry int, readValue func(*Reader, string) V) map[string]V {
	var m map[string]V
	for n := r.BlockCount(field, minEntry); n > 0; n = r.BlockCount(field, minEntry) {
		if m == nil {
			m = make(map[string]V, n)
		}
		for range n {
			k := MapKey(r, field, m)
			v := readValue(r, field)
			if r.err != nil {
				return nil
			}
			m[k] = v
		}
	}
	if r.err != nil {
		return nil
	}
	return m
}
