// Package avrowire is the runtime of the Avro code generated from
// schemas/*.avsc (by ./avrogen, see docs/architecture.md): the binary
// encoding of Avro's primitives, a reader of the binary encoding, and the
// conversions to and from goavro's generic "native" form, with the
// conventions every Surge record shares:
//
//   - a zero time.Time is written as the Unix epoch (0) and 0 reads back as
//     the zero time.Time, so an unset time stays unset and other readers
//     never see year 1;
//   - an empty string of a ["null", "string"] field is written as null;
//   - nil maps and slices are written as empty ones, and empty ones read
//     back as nil;
//   - maps are written in one block with their keys sorted, so a value
//     always encodes to the same bytes (goavro writes Go's map order, which
//     readers do not care about).
//
// The generated fast paths know one schema only, the text this build has;
// pkg/avroserde uses them only for values written with exactly that schema
// and goes through goavro (the native form) for any other writer schema.
package avrowire
