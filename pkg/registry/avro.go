package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hamba/avro/v2"
)

// Reference is a named type a schema takes from another subject's version
// (Confluent's schema references). For Avro, Name is the referenced type's
// full name.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// schemaTypeAvro is the only schema type served. Confluent omits
// "schemaType" from its answers for Avro, and so do we.
const schemaTypeAvro = "AVRO"

// maxReferenceDepth bounds how deep references of references may nest.
const maxReferenceDepth = 32

// lookupFunc finds a registered version, soft-deleted ones included (a
// reference keeps pointing at a version after it is soft-deleted).
type lookupFunc func(subject string, version int) (*schemaInfo, bool)

// parseAvro parses text with hamba/avro after loading its references into a
// fresh cache, so a named type from one subject never leaks into another
// (hamba's package-level cache would let it). Parsing never panics: a panic
// inside the parser becomes an error.
func parseAvro(text string, refs []Reference, lookup lookupFunc) (avro.Schema, error) {
	cache := &avro.SchemaCache{}
	if err := loadReferences(cache, refs, lookup, 0); err != nil {
		return nil, err
	}
	return parseWithCache(text, cache)
}

func loadReferences(cache *avro.SchemaCache, refs []Reference, lookup lookupFunc, depth int) error {
	if len(refs) > 0 && depth >= maxReferenceDepth {
		return fmt.Errorf("references nest deeper than %d levels", maxReferenceDepth)
	}
	for _, ref := range refs {
		if ref.Subject == "" || ref.Version < 1 {
			return fmt.Errorf("reference %q needs a subject and a version >= 1", ref.Name)
		}
		target, ok := lookup(ref.Subject, ref.Version)
		if !ok {
			return fmt.Errorf("reference %q: version %d of subject %q is not registered", ref.Name, ref.Version, ref.Subject)
		}
		if err := loadReferences(cache, target.refs, lookup, depth+1); err != nil {
			return fmt.Errorf("loading reference %q: %w", ref.Name, err)
		}
		if _, err := parseWithCache(target.text, cache); err != nil {
			return fmt.Errorf("parsing reference %q (subject %q version %d): %w", ref.Name, ref.Subject, ref.Version, err)
		}
	}
	return nil
}

func parseWithCache(text string, cache *avro.SchemaCache) (s avro.Schema, err error) {
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("avro parser panicked: %v", p)
		}
	}()
	return avro.ParseWithCache(text, "", cache)
}

// canonicalForm is the text two registrations are compared by: the parsed
// schema written back by hamba/avro, which fixes the key order and drops
// whitespace but keeps everything that matters to readers (defaults,
// aliases, logical types, custom properties), plus the references. This is
// what Confluent does too: it compares parsed schemas, not strings.
func canonicalForm(s avro.Schema, refs []Reference) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("writing schema back as JSON: %w", err)
	}
	if len(refs) == 0 {
		return string(b), nil
	}
	r, err := json.Marshal(refs)
	if err != nil {
		return "", fmt.Errorf("encoding references: %w", err)
	}
	return string(b) + "\x00" + string(r), nil
}

// compactText is what is stored for a submitted schema: its JSON with
// insignificant whitespace removed, otherwise exactly as written (no number
// or key-order changes), or the trimmed text when it is not JSON (a bare
// primitive name).
func compactText(text string) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(text)); err != nil {
		return strings.TrimSpace(text)
	}
	return buf.String()
}

// side names one of the two schemas of a compatibility check in messages.
type side struct {
	schema avro.Schema
	name   string // "the new schema", "version 2"
	isNew  bool
}

// checkReadable reports whether reader can read data written with writer.
// hamba/avro decides; when it says no, the schemas are walked to name the
// field at fault, since hamba's own message does not say where it is.
func checkReadable(reader, writer side) error {
	sc := avro.NewSchemaCompatibility() // one per check: its cache is not safe to share between concurrent checks
	err := sc.Compatible(reader.schema, writer.schema)
	if err == nil {
		return nil
	}
	l := locator{sc: sc, reader: reader, writer: writer, seen: map[[64]byte]bool{}}
	if msg := l.find(reader.schema, writer.schema, rootPath(reader.schema), ""); msg != "" {
		return errors.New(msg)
	}
	return fmt.Errorf("%s cannot read data written with %s: %v", reader.name, writer.name, err)
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

// find returns a description of why r cannot read w, or "" when it finds
// nothing wrong at or below this point.
func (l *locator) find(r, w avro.Schema, path, field string) string {
	r, w = deref(r), deref(w)
	if path == "" {
		path = rootPath(r) // a named type at the top, or inside a top-level union
	}
	var key [64]byte
	rf, wf := r.Fingerprint(), w.Fingerprint()
	copy(key[:32], rf[:])
	copy(key[32:], wf[:])
	if l.seen[key] {
		return ""
	}
	l.seen[key] = true

	if r.Type() != w.Type() {
		switch {
		case w.Type() == avro.Union:
			for _, b := range w.(*avro.UnionSchema).Types() {
				if !l.ok(r, b) {
					if msg := l.find(r, b, path, field); msg != "" {
						return msg
					}
				}
			}
		case r.Type() == avro.Union:
			// No branch of the reader's union reads the writer's type.
			// When one branch is the same kind (the same record, say),
			// the problem is inside it: descend.
			for _, b := range r.(*avro.UnionSchema).Types() {
				if sameKind(deref(b), w) {
					if msg := l.find(b, w, path, field); msg != "" {
						return msg
					}
				}
			}
		}
		return l.typeMismatch(r, w, path, field)
	}

	switch r.Type() {
	case avro.Record:
		rr, wr := r.(*avro.RecordSchema), w.(*avro.RecordSchema)
		if msg := l.nameMismatch(rr, wr, path, field); msg != "" {
			return msg
		}
		for _, f := range rr.Fields() {
			fieldPath := path + "." + f.Name()
			match := writerField(wr, f)
			if match == nil {
				if f.HasDefault() {
					continue
				}
				if l.reader.isNew {
					return fmt.Sprintf("field %q (%s) has no default and is missing from %s", f.Name(), fieldPath, l.writer.name)
				}
				return fmt.Sprintf("field %q (%s) of %s has no default and is missing from %s", f.Name(), fieldPath, l.reader.name, l.writer.name)
			}
			if !l.ok(f.Type(), match.Type()) {
				if msg := l.find(f.Type(), match.Type(), fieldPath, f.Name()); msg != "" {
					return msg
				}
			}
		}
	case avro.Enum:
		re, we := r.(*avro.EnumSchema), w.(*avro.EnumSchema)
		if msg := l.nameMismatch(re, we, path, field); msg != "" {
			return msg
		}
		var missing []string
		for _, s := range we.Symbols() {
			if !slices.Contains(re.Symbols(), s) {
				missing = append(missing, fmt.Sprintf("%q", s))
			}
		}
		if len(missing) > 0 && !re.HasDefault() {
			return fmt.Sprintf("%s: enum %s in %s lacks symbol(s) %s that %s has, and has no default symbol",
				where(field, path), re.FullName(), l.reader.name, strings.Join(missing, ", "), l.writer.name)
		}
	case avro.Fixed:
		rx, wx := r.(*avro.FixedSchema), w.(*avro.FixedSchema)
		if msg := l.nameMismatch(rx, wx, path, field); msg != "" {
			return msg
		}
		if rx.Size() != wx.Size() {
			return fmt.Sprintf("%s: fixed %s has size %d in %s but %d in %s",
				where(field, path), rx.FullName(), rx.Size(), l.reader.name, wx.Size(), l.writer.name)
		}
	case avro.Array:
		return l.find(r.(*avro.ArraySchema).Items(), w.(*avro.ArraySchema).Items(), path+"[]", field)
	case avro.Map:
		return l.find(r.(*avro.MapSchema).Values(), w.(*avro.MapSchema).Values(), path+"{}", field)
	case avro.Union:
		for _, b := range w.(*avro.UnionSchema).Types() {
			if !l.ok(r, b) {
				return l.find(r, b, path, field)
			}
		}
	}
	return ""
}

func (l *locator) typeMismatch(r, w avro.Schema, path, field string) string {
	if field == "" && path == "" {
		return fmt.Sprintf("%s has type %s, which cannot read type %s from %s",
			l.reader.name, typeName(r), typeName(w), l.writer.name)
	}
	return fmt.Sprintf("%s has type %s in %s, which cannot read type %s from %s",
		where(field, path), typeName(r), l.reader.name, typeName(w), l.writer.name)
}

func (l *locator) nameMismatch(r, w avro.NamedSchema, path, field string) string {
	if r.Name() == w.Name() || slices.Contains(r.Aliases(), w.FullName()) {
		return ""
	}
	return fmt.Sprintf("%s: %s is named %s in %s but %s in %s (add an alias to rename a type)",
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
