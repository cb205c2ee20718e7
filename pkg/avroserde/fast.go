package avroserde

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Hand-written Avro binary encoding and decoding for the fast paths of
// Codec (see WithFast in fast_codec.go): the primitives, and the
// conventions package event's native forms have goavro apply.

// --- encoding ---

// appendAvroLong appends v as an Avro long (or int): a zig-zag varint.
func appendAvroLong(dst []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	if u < 0x80 {
		return append(dst, byte(u))
	}
	return binary.AppendUvarint(dst, u)
}

func appendAvroString(dst []byte, s string) []byte {
	dst = appendAvroLong(dst, int64(len(s)))
	return append(dst, s...)
}

func appendAvroBytes(dst []byte, b []byte) []byte {
	dst = appendAvroLong(dst, int64(len(b)))
	return append(dst, b...)
}

func appendAvroBoolean(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// appendAvroTime appends t as a timestamp-millis the way package event's
// native form has goavro write it: the zero time as the Unix epoch, any
// other time as goavro computes its milliseconds (rounded down).
func appendAvroTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	return appendAvroLong(dst, t.Unix()*1e3+int64(t.Nanosecond()/1e6))
}

// appendAvroOptTime appends t as a ["null", timestamp-millis] union.
func appendAvroOptTime(dst []byte, t *time.Time) []byte {
	if t == nil {
		return append(dst, 0)
	}
	return appendAvroTime(append(dst, 2), *t) // branch 1, zig-zag encoded
}

// appendAvroStrings appends s as an array of strings: one block, as goavro
// writes it, or just the end marker when s is empty.
func appendAvroStrings(dst []byte, s []string) []byte {
	if len(s) > 0 {
		dst = appendAvroLong(dst, int64(len(s)))
		for _, v := range s {
			dst = appendAvroString(dst, v)
		}
	}
	return append(dst, 0)
}

// appendAvroStringMap appends m as a map of strings in one block. The entries
// are sorted by key, so a value always encodes to the same bytes; goavro
// writes them in Go's random map order, which readers do not care about.
func appendAvroStringMap(dst []byte, m map[string]string) []byte {
	switch len(m) {
	case 0:
	case 1:
		dst = append(dst, 2) // one entry, zig-zag encoded
		for k, v := range m {
			dst = appendAvroString(appendAvroString(dst, k), v)
		}
	default:
		type entry struct{ k, v string }
		var buf [16]entry
		entries := buf[:0]
		if len(m) > len(buf) {
			entries = make([]entry, 0, len(m))
		}
		size := 2 * binary.MaxVarintLen64
		for k, v := range m {
			entries = append(entries, entry{k, v})
			size += 2*binary.MaxVarintLen64 + len(k) + len(v)
		}
		slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.k, b.k) })
		dst = slices.Grow(dst, size)
		dst = appendAvroLong(dst, int64(len(entries)))
		for _, e := range entries {
			dst = appendAvroString(appendAvroString(dst, e.k), e.v)
		}
	}
	return append(dst, 0)
}

// stringsLen bounds the encoded size of an array of strings, to grow the
// destination once.
func stringsLen(s []string) int {
	n := 2 * binary.MaxVarintLen64
	for _, v := range s {
		n += binary.MaxVarintLen64 + len(v)
	}
	return n
}

// --- decoding ---

// Errors of the fast decoders. Where goavro is lenient with malformed
// input, the fast decoders are not: errVarintOverflow and errIntRange are
// inputs goavro decodes by dropping bits. Neither is ever written by an
// Avro encoder.
var (
	errTruncated      = errors.New("truncated")
	errVarintOverflow = errors.New("varint longer than 64 bits")
	errIntRange       = errors.New("int out of the 32-bit range")
	errNegativeLength = errors.New("negative length")
	errBlockCount     = errors.New("block count larger than the bytes left")
	errBoolean        = errors.New("boolean is neither 0 nor 1")
	errUnionBranch    = errors.New("union branch out of range")
	errDuplicateKey   = errors.New("duplicate map key")
	errTrailing       = errors.New("bytes left after the value")
)

// avroReader reads Avro binary data. The first error is kept and ends the
// input, so later reads return zero values; a decoder reads every field and
// checks once.
type avroReader struct {
	b      []byte
	size   int    // of the whole input, for error offsets
	record string // for error messages
	err    error
}

func newAvroReader(record string, b []byte) avroReader {
	return avroReader{b: b, size: len(b), record: record}
}

func (r *avroReader) fail(field string, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("decoding %s.%s at byte %d of %d: %w", r.record, field, r.size-len(r.b), r.size, err)
	}
	r.b = nil
}

// end returns the first error, or errTrailing when bytes are left.
func (r *avroReader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("decoding %s: %w: %d of %d", r.record, errTrailing, len(r.b), r.size)
	}
	return r.err
}

func (r *avroReader) uvarint(field string) uint64 {
	if len(r.b) > 0 && r.b[0] < 0x80 {
		u := uint64(r.b[0])
		r.b = r.b[1:]
		return u
	}
	u, n := binary.Uvarint(r.b)
	if n <= 0 {
		if n == 0 {
			r.fail(field, errTruncated)
		} else {
			r.fail(field, errVarintOverflow)
		}
		return 0
	}
	r.b = r.b[n:]
	return u
}

func (r *avroReader) long(field string) int64 {
	u := r.uvarint(field)
	return int64(u>>1) ^ -int64(u&1)
}

func (r *avroReader) int(field string) int32 {
	u := r.uvarint(field)
	if u > math.MaxUint32 {
		r.fail(field, errIntRange)
		return 0
	}
	return int32(u>>1) ^ -int32(u&1)
}

func (r *avroReader) boolean(field string) bool {
	if len(r.b) == 0 {
		r.fail(field, errTruncated)
		return false
	}
	b := r.b[0]
	if b > 1 {
		r.fail(field, errBoolean)
		return false
	}
	r.b = r.b[1:]
	return b == 1
}

// branch reads the index of the branch of a union of n branches.
func (r *avroReader) branch(field string, n int64) int64 {
	i := r.long(field)
	if i < 0 || i >= n {
		r.fail(field, errUnionBranch)
		return 0
	}
	return i
}

// span reads a string or bytes value and returns it without copying.
func (r *avroReader) span(field string) []byte {
	n := r.long(field)
	if n < 0 {
		r.fail(field, errNegativeLength)
		return nil
	}
	if n > int64(len(r.b)) {
		r.fail(field, errTruncated)
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *avroReader) str(field string) string {
	return string(r.span(field))
}

// body reads a string as JSON text, copied; empty gives nil.
func (r *avroReader) body(field string) []byte {
	s := r.span(field)
	if len(s) == 0 {
		return nil
	}
	return bytes.Clone(s)
}

// json is body where the JSON literal null (with white space) gives nil
// too, as package event reads it.
func (r *avroReader) json(field string) []byte {
	s := r.span(field)
	if isNullJSON(s) {
		return nil
	}
	return bytes.Clone(s)
}

// isNullJSON is package event's test of a JSON field that is no value.
func isNullJSON(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || string(b) == "null"
}

// time reads a timestamp-millis; the Unix epoch gives the zero time.
func (r *avroReader) time(field string) time.Time {
	ms := r.long(field)
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// optTime reads a ["null", timestamp-millis] union.
func (r *avroReader) optTime(field string) *time.Time {
	if r.branch(field, 2) == 0 {
		return nil
	}
	t := r.time(field)
	if r.err != nil {
		return nil
	}
	return &t
}

// blockCount reads the item count of the next block of an array or map,
// skipping the byte size that follows a negative count. Every item takes
// at least minItem bytes, so a count the bytes left cannot hold is an
// error before anything is allocated for it.
func (r *avroReader) blockCount(field string, minItem int) int {
	n := r.long(field)
	if n < 0 {
		if n == math.MinInt64 {
			r.fail(field, errBlockCount)
			return 0
		}
		n = -n
		r.long(field) // the block's size in bytes, unused as by goavro
	}
	if n > int64(len(r.b)/minItem) {
		r.fail(field, errBlockCount)
		return 0
	}
	return int(n)
}

// strings reads an array of strings; empty gives nil.
func (r *avroReader) strings(field string) []string {
	var out []string
	for n := r.blockCount(field, 1); n > 0; n = r.blockCount(field, 1) {
		out = slices.Grow(out, n)
		for range n {
			out = append(out, r.str(field))
		}
	}
	if r.err != nil {
		return nil
	}
	return out
}

// stringMap reads a map of strings; empty gives nil.
func (r *avroReader) stringMap(field string) map[string]string {
	var m map[string]string
	for n := r.blockCount(field, 2); n > 0; n = r.blockCount(field, 2) {
		if m == nil {
			m = make(map[string]string, n)
		}
		for range n {
			k := r.str(field)
			if _, dup := m[k]; dup && r.err == nil {
				r.fail(field, fmt.Errorf("%w %q", errDuplicateKey, k))
			}
			v := r.str(field)
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
