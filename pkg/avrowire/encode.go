package avrowire

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"time"
)

// FieldLen bounds the encoded size of a scalar field: generated encoders
// grow their destination once by it per field plus their strings' lengths.
const FieldLen = binary.MaxVarintLen64

// AppendLong appends v as an Avro long (or int): a zig-zag varint.
func AppendLong(dst []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	if u < 0x80 {
		return append(dst, byte(u))
	}
	return binary.AppendUvarint(dst, u)
}

// AppendString appends s as an Avro string.
func AppendString(dst []byte, s string) []byte {
	dst = AppendLong(dst, int64(len(s)))
	return append(dst, s...)
}

// AppendBytes appends b as an Avro string or bytes value.
func AppendBytes(dst []byte, b []byte) []byte {
	dst = AppendLong(dst, int64(len(b)))
	return append(dst, b...)
}

// AppendBoolean appends b as an Avro boolean.
func AppendBoolean(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// AppendDouble appends f as an Avro double: 8 bytes, little-endian.
func AppendDouble(dst []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
}

// AppendTime appends t as a timestamp-millis: the zero time as the Unix
// epoch, any other time as goavro computes its milliseconds (rounded down).
func AppendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	return AppendLong(dst, t.Unix()*1e3+int64(t.Nanosecond()/1e6))
}

// AppendOptTime appends t as a ["null", timestamp-millis] union.
func AppendOptTime(dst []byte, t *time.Time) []byte {
	if t == nil {
		return append(dst, 0)
	}
	return AppendTime(append(dst, 2), *t) // branch 1, zig-zag encoded
}

// AppendStrings appends s as an array of strings: one block, as goavro
// writes it, or just the end marker when s is empty.
func AppendStrings(dst []byte, s []string) []byte {
	if len(s) > 0 {
		dst = AppendLong(dst, int64(len(s)))
		for _, v := range s {
			dst = AppendString(dst, v)
		}
	}
	return append(dst, 0)
}

// AppendStringMap appends m as a map of strings in one block, its entries
// sorted by key.
func AppendStringMap(dst []byte, m map[string]string) []byte {
	switch len(m) {
	case 0:
	case 1:
		dst = append(dst, 2) // one entry, zig-zag encoded
		for k, v := range m {
			dst = AppendString(AppendString(dst, k), v)
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
		dst = AppendLong(dst, int64(len(entries)))
		for _, e := range entries {
			dst = AppendString(AppendString(dst, e.k), e.v)
		}
	}
	return append(dst, 0)
}

// AppendMap appends m as an Avro map in one block, its entries sorted by
// key, each value written by appendValue.
func AppendMap[V any](dst []byte, m map[string]V, appendValue func([]byte, V) []byte) []byte {
	if len(m) > 0 {
		dst = AppendLong(dst, int64(len(m)))
		for _, k := range SortedKeys(m) {
			dst = appendValue(AppendString(dst, k), m[k])
		}
	}
	return append(dst, 0)
}

// SortedKeys returns m's keys in order.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// StringsLen bounds the encoded size of an array of strings, to grow the
// destination once.
func StringsLen(s []string) int {
	n := 2 * binary.MaxVarintLen64
	for _, v := range s {
		n += binary.MaxVarintLen64 + len(v)
	}
	return n
}
