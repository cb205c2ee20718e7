package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// gen writes one package's avro_gen.go.
type gen struct {
	b       binding
	types   bytes.Buffer // struct declarations
	funcs   bytes.Buffer // conversions and codecs
	tests   bytes.Buffer // the body of the generated test
	emitted map[string]bool
	helpers map[string]*recordDef // Go type → record, for the native helpers of records in containers
	opt     map[string]*recordDef // the same for ["null", record] fields
	imports map[string]bool
	vars    int
}

func newGen(b binding) *gen {
	return &gen{b: b, emitted: map[string]bool{}, helpers: map[string]*recordDef{},
		opt: map[string]*recordDef{}, imports: map[string]bool{}}
}

func (g *gen) typeName(rec *recordDef) string {
	if n, ok := g.b.Types[rec.fullName]; ok {
		return n
	}
	return rec.name
}

func (g *gen) rule(rec *recordDef, f fieldDef) fieldRule { return g.b.Fields[rec.name+"."+f.name] }

func (g *gen) fieldName(rec *recordDef, f fieldDef) string {
	if r := g.rule(rec, f); r.GoName != "" {
		return r.GoName
	}
	return goCase(f.name)
}

// lv is the Go expression of field f of rec, whose value is expr inside
// the struct parent.
func (g *gen) lv(rec *recordDef, f fieldDef, expr, parent string) string {
	if g.rule(rec, f).Lift {
		return parent + "." + g.fieldName(rec, f)
	}
	return expr + "." + g.fieldName(rec, f)
}

func (g *gen) v(prefix string) string {
	g.vars++
	return prefix + strconv.Itoa(g.vars)
}

// check refuses what the generator cannot write: lifted fields of records
// that are not a plain field of their parent, and conversions on types
// they do not fit.
func (g *gen) check(rec *recordDef, contained bool) error {
	for _, f := range rec.fields {
		r := g.rule(rec, f)
		if r.Lift && contained {
			return fmt.Errorf("%s.%s is lifted but %s is not a plain field of its parent", rec.name, f.name, rec.name)
		}
		t := f.typ
		switch r.Conv {
		case "":
		case "json":
			if t.kind != "optional" || t.inner.kind != "string" {
				return fmt.Errorf("%s.%s: conversion json needs [\"null\", \"string\"]", rec.name, f.name)
			}
		case "jsonText", "body":
			if t.kind != "string" {
				return fmt.Errorf("%s.%s: conversion %s needs a string", rec.name, f.name, r.Conv)
			}
		case "micros", "millis":
			if t.kind != "long" {
				return fmt.Errorf("%s.%s: conversion %s needs a long", rec.name, f.name, r.Conv)
			}
		case "zero":
			if t.kind != "optional" || t.inner.kind != "timestamp" {
				return fmt.Errorf("%s.%s: conversion zero needs [\"null\", timestamp-millis]", rec.name, f.name)
			}
		case "int":
			if t.kind != "long" && t.kind != "int" {
				return fmt.Errorf("%s.%s: conversion int needs an int or a long", rec.name, f.name)
			}
		default:
			return fmt.Errorf("%s.%s: unknown conversion %q", rec.name, f.name, r.Conv)
		}
		for inner, in := t, false; inner != nil; inner, in = inner.inner, in || inner.kind != "optional" {
			if inner.kind == "record" {
				if err := g.check(inner.rec, contained || in); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// goType is the Go type of a field of type t under rule r.
func (g *gen) goType(t *avroType, r fieldRule) string {
	switch t.kind {
	case "string":
		if r.Conv != "" {
			g.imports["encoding/json"] = true
			return "json.RawMessage"
		}
		return "string"
	case "long", "int":
		switch r.Conv {
		case "micros", "millis":
			g.imports["time"] = true
			return "time.Duration"
		case "int":
			return "int"
		}
		return map[string]string{"long": "int64", "int": "int32"}[t.kind]
	case "double":
		return "float64"
	case "boolean":
		return "bool"
	case "timestamp":
		g.imports["time"] = true
		return "time.Time"
	case "record":
		return g.typeName(t.rec)
	case "array":
		return "[]" + g.goType(t.inner, fieldRule{})
	case "map":
		return "map[string]" + g.goType(t.inner, fieldRule{})
	case "optional":
		switch t.inner.kind {
		case "string":
			return g.goType(t.inner, r)
		case "timestamp":
			if r.Conv == "zero" {
				return g.goType(t.inner, r)
			}
		case "record":
			if g.b.ZeroIsNull[t.inner.rec.fullName] {
				return g.typeName(t.inner.rec)
			}
		}
		return "*" + g.goType(t.inner, r)
	}
	panic("unknown kind " + t.kind)
}

// top writes everything of one schema's record.
func (g *gen) top(schema string, rec *recordDef) {
	g.emitType(rec, schema)
	t := g.typeName(rec)
	fromAvro, fromNative, appendAvro := g.funcNames(t)
	fmt.Fprintf(&g.tests, "\tt.Run(%q, func(t *testing.T) {\n\t\tavrotest.Check(t, %q, %s, %s, %s, %s.Native)\n\t})\n",
		schema, schema, fromAvro, fromNative, appendAvro, t)
	w := &g.funcs
	fmt.Fprintf(w, "\n// Native returns x in goavro's native form for schemas/%s.avsc.\n", schema)
	fmt.Fprintf(w, "func (x %s) Native() map[string]any {\n\treturn %s\n}\n", t, g.nativeRecord(rec, "x", "x"))

	fmt.Fprintf(w, "\n// %s converts a value decoded with any version of\n// schemas/%s.avsc into %s.\n", fromNative, schema, article(t))
	fmt.Fprintf(w, "func %s(v any) (%s, error) {\n", fromNative, t)
	fmt.Fprintf(w, "\tr, err := avrowire.NewNativeReader(%q, v)\n\tif err != nil {\n\t\treturn %s{}, err\n\t}\n\tvar x %s\n", rec.name, t, t)
	g.fromNative(w, rec, "r", "x", "x")
	fmt.Fprintf(w, "\tif err := r.Err(); err != nil {\n\t\treturn %s{}, err\n\t}\n\treturn x, nil\n}\n", t)

	g.imports["slices"] = true
	fmt.Fprintf(w, "\n// %s appends x in the Avro binary encoding of\n// schemas/%s.avsc: the bytes goavro writes from x.Native().\n", appendAvro, schema)
	fmt.Fprintf(w, "func %s(dst []byte, x %s) []byte {\n", appendAvro, t)
	fmt.Fprintf(w, "\tdst = slices.Grow(dst, %s)\n", g.sizeRecord(rec, "x", "x"))
	g.appendRecord(w, rec, "x", "x")
	fmt.Fprintf(w, "\treturn dst\n}\n")

	fmt.Fprintf(w, "\n// %s decodes one %s written with exactly\n// schemas/%s.avsc to what %s returns for goavro's\n// decoding of the same bytes.\n", fromAvro, t, schema, fromNative)
	fmt.Fprintf(w, "func %s(b []byte) (%s, error) {\n\tr := avrowire.NewReader(%q, b)\n\tvar x %s\n", fromAvro, t, rec.name, t)
	g.readRecord(w, rec, "x", "x", "")
	fmt.Fprintf(w, "\tif err := r.End(); err != nil {\n\t\treturn %s{}, err\n\t}\n\treturn x, nil\n}\n", t)
}

// funcNames are the names of a record's decoder, native reader and encoder:
// TFromAvro, TFromNative, AppendTAvro, unexported when T is.
func (g *gen) funcNames(t string) (fromAvro, fromNative, appendAvro string) {
	appendAvro = "Append" + t + "Avro"
	if t[0] >= 'a' && t[0] <= 'z' {
		appendAvro = "append" + strings.ToUpper(t[:1]) + t[1:] + "Avro"
	}
	return t + "FromAvro", t + "FromNative", appendAvro
}

// emitType declares rec's Go struct (once per Go type) and those of the
// records it holds.
func (g *gen) emitType(rec *recordDef, schema string) {
	name := g.typeName(rec)
	if g.emitted[name] || g.b.HandWritten {
		return
	}
	g.emitted[name] = true
	w := &g.types
	where := "a field of another record"
	if schema != "" {
		where = "schemas/" + schema + ".avsc"
	}
	fmt.Fprintf(w, "\n// %s is the Avro record %s (%s).\n", name, rec.fullName, where)
	if rec.doc != "" {
		fmt.Fprintf(w, "//\n%s", comment(rec.doc, ""))
	}
	fmt.Fprintf(w, "type %s struct {\n", name)
	for _, f := range rec.fields {
		r := g.rule(rec, f)
		if r.Lift {
			continue
		}
		fmt.Fprintf(w, "%s\t%s %s\n", comment(f.doc, "\t"), g.fieldName(rec, f), g.goType(f.typ, r))
		if f.typ.kind == "record" { // the fields lifted out of it
			for _, nf := range f.typ.rec.fields {
				if nr := g.rule(f.typ.rec, nf); nr.Lift {
					fmt.Fprintf(w, "%s\t%s %s\n", comment(f.name+"."+nf.name+": "+nf.doc, "\t"), g.fieldName(f.typ.rec, nf), g.goType(nf.typ, nr))
				}
			}
		}
	}
	fmt.Fprintf(w, "}\n")
	for _, f := range rec.fields {
		for t := f.typ; t != nil; t = t.inner {
			if t.kind == "record" {
				g.emitType(t.rec, "")
			}
		}
	}
}

// comment wraps text as a Go comment indented by indent.
func comment(text, indent string) string {
	if text == "" {
		return ""
	}
	var b strings.Builder
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > 74 {
			b.WriteString(indent + "// " + line + "\n")
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	b.WriteString(indent + "// " + line + "\n")
	return b.String()
}

// goCase turns an Avro field name into a Go identifier: snake_case to
// CamelCase, with the initialisms Go spells in capitals.
func goCase(name string) string {
	var b strings.Builder
	for _, part := range strings.Split(name, "_") {
		switch part {
		case "id", "url", "ms", "http", "ttl", "json", "uid", "api", "us":
			b.WriteString(strings.ToUpper(part))
		case "":
		default:
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// def is the Go literal of field f's default, or of its zero value.
func def(f fieldDef) string {
	var v any
	if f.def != nil {
		_ = json.Unmarshal(f.def, &v)
	}
	switch f.typ.kind {
	case "string":
		s, _ := v.(string)
		return strconv.Quote(s)
	case "long", "int", "double":
		if n, ok := v.(float64); ok {
			return strconv.FormatFloat(n, 'f', -1, 64)
		}
		return "0"
	case "boolean":
		if b, ok := v.(bool); ok {
			return strconv.FormatBool(b)
		}
		return "false"
	}
	return ""
}

// minSize is the fewest bytes a value of t takes, to bound block counts.
func minSize(t *avroType) int {
	switch t.kind {
	case "double":
		return 8
	case "record":
		n := 0
		for _, f := range t.rec.fields {
			n += minSize(f.typ)
		}
		return n
	}
	return 1
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// article is name with its indefinite article.
func article(name string) string {
	if strings.ContainsRune("AEIOU", rune(name[0])) {
		return "an " + name
	}
	return "a " + name
}
