package registry

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

// The kinds of incompatibility, named as Avro's schema-compatibility
// checker names them (and Confluent's registry reports them, as
// errorType).
const (
	kindFieldMissingDefault = "READER_FIELD_MISSING_DEFAULT_VALUE"
	kindTypeMismatch        = "TYPE_MISMATCH"
	kindMissingUnionBranch  = "MISSING_UNION_BRANCH"
	kindNameMismatch        = "NAME_MISMATCH"
	kindMissingEnumSymbols  = "MISSING_ENUM_SYMBOLS"
	kindFixedSizeMismatch   = "FIXED_SIZE_MISMATCH"
)

// incompatibility is why a reader schema cannot read data written with a
// writer schema. It is an error whose text is the sentence Surge answers
// with (the 409 of a registration); the other fields make the verbose
// compatibility answer.
type incompatibility struct {
	kind     string // one of the kind constants; "" when the walk found no place
	location string // JSON pointer into the reader schema: "/", "/fields/3", "/fields/0/type/symbols"
	info     string // the short detail: the field's name, the missing symbols, the two types...
	message  string // the sentence naming the field and both schemas
}

func (i *incompatibility) Error() string { return i.message }

// verbose renders i as one entry of a verbose compatibility answer, in the
// shape Confluent's registry gives them: {errorType:'...',
// description:'...', additionalInfo:'...'}.
func (i *incompatibility) verbose() string {
	if i.kind == "" {
		return i.message
	}
	return fmt.Sprintf("{errorType:'%s', description:'at path '%s': %s', additionalInfo:'%s'}", i.kind, i.location, i.message, i.info)
}

// side names one of the two schemas of a compatibility check in messages.
type side struct {
	schema avro.Schema
	name   string // "the new schema", "version 2"
	isNew  bool
}

// checkReadable reports whether reader can read data written with writer;
// the error, when it cannot, is an *incompatibility. hamba/avro decides;
// when it says no, the schemas are walked to name the field at fault,
// since hamba's own message does not say where it is.
func checkReadable(reader, writer side) error {
	sc := avro.NewSchemaCompatibility() // one per check: its cache is not safe to share between concurrent checks
	err := sc.Compatible(reader.schema, writer.schema)
	if err == nil {
		return nil
	}
	l := locator{sc: sc, reader: reader, writer: writer, seen: map[[64]byte]bool{}}
	if found := l.find(reader.schema, writer.schema, rootPath(reader.schema), "", ""); found != nil {
		return found
	}
	return &incompatibility{message: fmt.Sprintf("%s cannot read data written with %s: %v", reader.name, writer.name, err)}
}

// locator walks a reader and a writer schema side by side, following the
// same rules as hamba's SchemaCompatibility, to describe the first place
// they disagree.
type locator struct {
	sc             *avro.SchemaCompatibility
	reader, writer side
	seen           map[[64]byte]bool // (reader, writer) pairs entered, for recursive types
}

func rootPath(s avro.Schema) string {
	if n, ok := deref(s).(avro.NamedSchema); ok {
		return n.FullName()
	}
	return ""
}

func deref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

func (l *locator) ok(r, w avro.Schema) bool { return l.sc.Compatible(r, w) == nil }

// where names the place being compared: a record field with its full path,
// or the schema itself at the top.
func where(field, path string) string {
	if field != "" {
		return fmt.Sprintf("field %q (%s)", field, path)
	}
	if path != "" {
		return path
	}
	return "the schema"
}

// pointer renders a JSON pointer; the root is "/", as Avro writes it.
func pointer(ptr string) string {
	if ptr == "" {
		return "/"
	}
	return ptr
}

// incompatibleAt builds the incompatibility found at ptr.
func incompatibleAt(kind, ptr, info, format string, args ...any) *incompatibility {
	return &incompatibility{kind: kind, location: pointer(ptr), info: info, message: fmt.Sprintf(format, args...)}
}

// find describes why r cannot read w, or returns nil when it finds nothing
// wrong at or below this point. path is the dotted name of the place
// ("dev.surge.v1.Event.customer"), field the record field being compared
// and ptr the JSON pointer of r in the reader schema.
func (l *locator) find(r, w avro.Schema, path, field, ptr string) *incompatibility {
	r, w = deref(r), deref(w)
	if path == "" {
		path = rootPath(r) // a named type at the top, or inside a top-level union
	}
	var key [64]byte
	rf, wf := r.Fingerprint(), w.Fingerprint()
	copy(key[:32], rf[:])
	copy(key[32:], wf[:])
	if l.seen[key] {
		return nil
	}
	l.seen[key] = true

	if r.Type() != w.Type() {
		switch {
		case w.Type() == avro.Union:
			for _, b := range w.(*avro.UnionSchema).Types() {
				if !l.ok(r, b) {
					if found := l.find(r, b, path, field, ptr); found != nil {
						return found
					}
				}
			}
		case r.Type() == avro.Union:
			// No branch of the reader's union reads the writer's type.
			// When one branch is the same kind (the same record, say),
			// the problem is inside it: descend.
			for i, b := range r.(*avro.UnionSchema).Types() {
				if sameKind(deref(b), w) {
					if found := l.find(b, w, path, field, ptr+"/"+strconv.Itoa(i)); found != nil {
						return found
					}
				}
			}
		}
		return l.typeMismatch(r, w, path, field, ptr)
	}

	switch r.Type() {
	case avro.Record:
		rr, wr := r.(*avro.RecordSchema), w.(*avro.RecordSchema)
		if found := l.nameMismatch(rr, wr, path, field, ptr); found != nil {
			return found
		}
		for i, f := range rr.Fields() {
			fieldPath, fieldPtr := path+"."+f.Name(), ptr+"/fields/"+strconv.Itoa(i)
			match := writerField(wr, f)
			if match == nil {
				if f.HasDefault() {
					continue
				}
				if l.reader.isNew {
					return incompatibleAt(kindFieldMissingDefault, fieldPtr, f.Name(),
						"field %q (%s) has no default and is missing from %s", f.Name(), fieldPath, l.writer.name)
				}
				return incompatibleAt(kindFieldMissingDefault, fieldPtr, f.Name(),
					"field %q (%s) of %s has no default and is missing from %s", f.Name(), fieldPath, l.reader.name, l.writer.name)
			}
			if !l.ok(f.Type(), match.Type()) {
				if found := l.find(f.Type(), match.Type(), fieldPath, f.Name(), fieldPtr+"/type"); found != nil {
					return found
				}
			}
		}
	case avro.Enum:
		re, we := r.(*avro.EnumSchema), w.(*avro.EnumSchema)
		if found := l.nameMismatch(re, we, path, field, ptr); found != nil {
			return found
		}
		var missing, quoted []string
		for _, s := range we.Symbols() {
			if !slices.Contains(re.Symbols(), s) {
				missing = append(missing, s)
				quoted = append(quoted, strconv.Quote(s))
			}
		}
		if len(missing) > 0 && !re.HasDefault() {
			return incompatibleAt(kindMissingEnumSymbols, ptr+"/symbols", "["+strings.Join(missing, ", ")+"]",
				"%s: enum %s in %s lacks symbol(s) %s that %s has, and has no default symbol",
				where(field, path), re.FullName(), l.reader.name, strings.Join(quoted, ", "), l.writer.name)
		}
	case avro.Fixed:
		rx, wx := r.(*avro.FixedSchema), w.(*avro.FixedSchema)
		if found := l.nameMismatch(rx, wx, path, field, ptr); found != nil {
			return found
		}
		if rx.Size() != wx.Size() {
			return incompatibleAt(kindFixedSizeMismatch, ptr+"/size", fmt.Sprintf("reader size %d, writer size %d", rx.Size(), wx.Size()),
				"%s: fixed %s has size %d in %s but %d in %s",
				where(field, path), rx.FullName(), rx.Size(), l.reader.name, wx.Size(), l.writer.name)
		}
	case avro.Array:
		return l.find(r.(*avro.ArraySchema).Items(), w.(*avro.ArraySchema).Items(), path+"[]", field, ptr+"/items")
	case avro.Map:
		return l.find(r.(*avro.MapSchema).Values(), w.(*avro.MapSchema).Values(), path+"{}", field, ptr+"/values")
	case avro.Union:
		for _, b := range w.(*avro.UnionSchema).Types() {
			if !l.ok(r, b) {
				return l.find(r, b, path, field, ptr)
			}
		}
	}
	return nil
}

// typeMismatch describes a reader type that cannot read the writer's: a
// union none of whose branches reads it, or another type.
func (l *locator) typeMismatch(r, w avro.Schema, path, field, ptr string) *incompatibility {
	kind, info := kindTypeMismatch, "reader type "+typeName(r)+", writer type "+typeName(w)
	if r.Type() == avro.Union {
		kind, info = kindMissingUnionBranch, "no branch of the reader's union reads writer type "+typeName(w)
	}
	if field == "" && path == "" {
		return incompatibleAt(kind, ptr, info, "%s has type %s, which cannot read type %s from %s",
			l.reader.name, typeName(r), typeName(w), l.writer.name)
	}
	return incompatibleAt(kind, ptr, info, "%s has type %s in %s, which cannot read type %s from %s",
		where(field, path), typeName(r), l.reader.name, typeName(w), l.writer.name)
}

func (l *locator) nameMismatch(r, w avro.NamedSchema, path, field, ptr string) *incompatibility {
	if r.Name() == w.Name() || slices.Contains(r.Aliases(), w.FullName()) {
		return nil
	}
	return incompatibleAt(kindNameMismatch, ptr+"/name", "writer name "+w.FullName(),
		"%s: %s is named %s in %s but %s in %s (add an alias to rename a type)",
		where(field, path), r.Type(), r.FullName(), l.reader.name, w.FullName(), l.writer.name)
}

// writerField finds the writer's field a reader field reads: same name, or
// one of the reader field's aliases.
func writerField(w *avro.RecordSchema, f *avro.Field) *avro.Field {
	for _, wf := range w.Fields() {
		if wf.Name() == f.Name() || slices.Contains(f.Aliases(), wf.Name()) {
			return wf
		}
	}
	return nil
}

func sameKind(a, b avro.Schema) bool {
	if a.Type() != b.Type() {
		return false
	}
	an, aok := a.(avro.NamedSchema)
	bn, bok := b.(avro.NamedSchema)
	return !aok || !bok || an.Name() == bn.Name()
}

// typeName describes a schema's type in a message: "string", "record
// dev.surge.v1.Money", "array of string", "union [null, string]".
func typeName(s avro.Schema) string {
	s = deref(s)
	switch t := s.(type) {
	case avro.NamedSchema:
		return string(t.Type()) + " " + t.FullName()
	case *avro.ArraySchema:
		return "array of " + typeName(t.Items())
	case *avro.MapSchema:
		return "map of " + typeName(t.Values())
	case *avro.UnionSchema:
		names := make([]string, 0, len(t.Types()))
		for _, b := range t.Types() {
			names = append(names, typeName(b))
		}
		return "union [" + strings.Join(names, ", ") + "]"
	case avro.LogicalTypeSchema:
		if lt := t.Logical(); lt != nil {
			return string(s.Type()) + " (" + string(lt.Type()) + ")"
		}
	}
	return string(s.Type())
}
