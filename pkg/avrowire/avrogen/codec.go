package main

import (
	"bytes"
	"fmt"
	"strings"
)

// appendRecord writes the statements that append rec's binary encoding,
// rec's Go value being expr inside the struct parent.
func (g *gen) appendRecord(w *bytes.Buffer, rec *recordDef, expr, parent string) {
	for _, f := range rec.fields {
		g.appendValue(w, f.typ, g.rule(rec, f), g.lv(rec, f, expr, parent), expr)
	}
}

func (g *gen) appendValue(w *bytes.Buffer, t *avroType, r fieldRule, lv, parent string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	switch t.kind {
	case "string":
		switch r.Conv {
		case "body":
			p("dst = avrowire.AppendBytes(dst, %s)", lv)
		case "jsonText":
			p("if len(%s) == 0 {\ndst = avrowire.AppendString(dst, \"null\")\n} else {\ndst = avrowire.AppendBytes(dst, %s)\n}", lv, lv)
		default:
			p("dst = avrowire.AppendString(dst, %s)", lv)
		}
	case "long":
		switch r.Conv {
		case "micros":
			p("dst = avrowire.AppendLong(dst, %s.Microseconds())", lv)
		case "millis":
			p("dst = avrowire.AppendLong(dst, %s.Milliseconds())", lv)
		case "int":
			p("dst = avrowire.AppendLong(dst, int64(%s))", lv)
		default:
			p("dst = avrowire.AppendLong(dst, %s)", lv)
		}
	case "int":
		p("dst = avrowire.AppendLong(dst, int64(%s))", lv)
	case "double":
		p("dst = avrowire.AppendDouble(dst, %s)", lv)
	case "boolean":
		p("dst = avrowire.AppendBoolean(dst, %s)", lv)
	case "timestamp":
		p("dst = avrowire.AppendTime(dst, %s)", lv)
	case "record":
		g.appendRecord(w, t.rec, lv, parent)
	case "array":
		if t.inner.kind == "string" {
			p("dst = avrowire.AppendStrings(dst, %s)", lv)
			return
		}
		v := g.v("v")
		p("if len(%s) > 0 {\ndst = avrowire.AppendLong(dst, int64(len(%s)))\nfor _, %s := range %s {", lv, lv, v, lv)
		g.appendValue(w, t.inner, fieldRule{}, v, v)
		p("}\n}\ndst = append(dst, 0)")
	case "map":
		switch t.inner.kind {
		case "string":
			p("dst = avrowire.AppendStringMap(dst, %s)", lv)
		case "long":
			p("dst = avrowire.AppendMap(dst, %s, avrowire.AppendLong)", lv)
		default:
			k, v := g.v("k"), g.v("v")
			p("if len(%s) > 0 {\ndst = avrowire.AppendLong(dst, int64(len(%s)))\nfor _, %s := range avrowire.SortedKeys(%s) {\n%s := %s[%s]\ndst = avrowire.AppendString(dst, %s)", lv, lv, k, lv, v, lv, k, k)
			g.appendValue(w, t.inner, fieldRule{}, v, v)
			p("}\n}\ndst = append(dst, 0)")
		}
	case "optional":
		switch t.inner.kind {
		case "string":
			null := lv + ` == ""`
			if r.Conv == "json" {
				null = "avrowire.IsNullJSON(" + lv + ")"
			}
			p("if %s {\ndst = append(dst, 0)\n} else {\ndst = append(dst, 2)", null)
			if r.Conv == "json" {
				p("dst = avrowire.AppendBytes(dst, %s)", lv)
			} else {
				p("dst = avrowire.AppendString(dst, %s)", lv)
			}
			p("}")
		case "timestamp":
			if r.Conv == "zero" {
				p("if %s.IsZero() {\ndst = append(dst, 0)\n} else {\ndst = avrowire.AppendTime(append(dst, 2), %s)\n}", lv, lv)
			} else {
				p("dst = avrowire.AppendOptTime(dst, %s)", lv)
			}
		case "long":
			p("if %s == nil {\ndst = append(dst, 0)\n} else {\ndst = avrowire.AppendLong(append(dst, 2), *%s)\n}", lv, lv)
		case "record":
			null := lv + " == nil"
			if g.b.ZeroIsNull[t.inner.rec.fullName] {
				null = lv + ".IsZero()"
			}
			p("if %s {\ndst = append(dst, 0)\n} else {\ndst = append(dst, 2)", null)
			g.appendRecord(w, t.inner.rec, lv, lv)
			p("}")
		default:
			panic("optional " + t.inner.kind + " is not supported")
		}
	}
}

// sizeRecord is a Go expression bounding the encoded size of rec's fields
// outside arrays, maps and pointers, to grow the destination once.
func (g *gen) sizeRecord(rec *recordDef, expr, parent string) string {
	scalars, lens := g.size(rec, expr, parent)
	return strings.Join(append([]string{fmt.Sprintf("%d*avrowire.FieldLen", scalars)}, lens...), "+")
}

func (g *gen) size(rec *recordDef, expr, parent string) (scalars int, lens []string) {
	for _, f := range rec.fields {
		lv := g.lv(rec, f, expr, parent)
		t := f.typ
		if t.kind == "optional" && (t.inner.kind == "string" || t.inner.kind == "record" && g.b.ZeroIsNull[t.inner.rec.fullName]) {
			scalars++ // the branch
			t = t.inner
		}
		switch t.kind {
		case "string":
			scalars++
			lens = append(lens, "len("+lv+")")
		case "record":
			n, l := g.size(t.rec, lv, expr)
			scalars += n
			lens = append(lens, l...)
		case "array":
			if t.inner.kind == "string" {
				lens = append(lens, "avrowire.StringsLen("+lv+")")
			} else {
				scalars++
			}
		default:
			scalars++
		}
	}
	return scalars, lens
}

// readRecord writes the statements that decode rec into expr, inside the
// struct parent; path names rec's fields in errors.
func (g *gen) readRecord(w *bytes.Buffer, rec *recordDef, expr, parent, path string) {
	for _, f := range rec.fields {
		g.readValue(w, f.typ, g.rule(rec, f), g.lv(rec, f, expr, parent), expr, path+f.name)
	}
}

func (g *gen) readValue(w *bytes.Buffer, t *avroType, r fieldRule, lv, parent, path string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	switch t.kind {
	case "string":
		switch r.Conv {
		case "body":
			p("%s = r.Body(%q)", lv, path)
		case "jsonText":
			p("%s = r.JSON(%q)", lv, path)
		default:
			p("%s = r.Str(%q)", lv, path)
		}
	case "long":
		switch r.Conv {
		case "micros":
			g.imports["time"] = true
			p("%s = time.Duration(r.Long(%q)) * time.Microsecond", lv, path)
		case "millis":
			g.imports["time"] = true
			p("%s = time.Duration(r.Long(%q)) * time.Millisecond", lv, path)
		case "int":
			p("%s = int(r.Long(%q))", lv, path)
		default:
			p("%s = r.Long(%q)", lv, path)
		}
	case "int":
		if r.Conv == "int" {
			p("%s = int(r.Int(%q))", lv, path)
		} else {
			p("%s = r.Int(%q)", lv, path)
		}
	case "double":
		p("%s = r.Double(%q)", lv, path)
	case "boolean":
		p("%s = r.Boolean(%q)", lv, path)
	case "timestamp":
		p("%s = r.Time(%q)", lv, path)
	case "record":
		g.readRecord(w, t.rec, lv, parent, path+".")
	case "array":
		if t.inner.kind == "string" {
			p("%s = r.Strings(%q)", lv, path)
			return
		}
		v := g.v("v")
		// make for the first block: slices.Grow allocates twice under -race
		item := g.goType(t.inner, fieldRule{})
		p("for n := r.BlockCount(%q, %d); n > 0; n = r.BlockCount(%q, %d) {\nif %s == nil {\n%s = make([]%s, 0, n)\n} else {\n%s = slices.Grow(%s, n)\n}\nfor range n {\nvar %s %s", path, minSize(t.inner), path, minSize(t.inner), lv, lv, item, lv, lv, v, item)
		g.readValue(w, t.inner, fieldRule{}, v, v, path)
		p("%s = append(%s, %s)\n}\n}", lv, lv, v)
	case "map":
		switch t.inner.kind {
		case "string":
			p("%s = r.StringMap(%q)", lv, path)
		case "long":
			p("%s = avrowire.ReadMap(&r, %q, 2, (*avrowire.Reader).Long)", lv, path)
		default:
			k, v := g.v("k"), g.v("v")
			min := 1 + minSize(t.inner)
			p("for n := r.BlockCount(%q, %d); n > 0; n = r.BlockCount(%q, %d) {\nif %s == nil {\n%s = make(%s, n)\n}\nfor range n {\n%s := avrowire.MapKey(&r, %q, %s)\nvar %s %s", path, min, path, min, lv, lv, g.goType(t, fieldRule{}), k, path, lv, v, g.goType(t.inner, fieldRule{}))
			g.readValue(w, t.inner, fieldRule{}, v, v, path)
			p("%s[%s] = %s\n}\n}", lv, k, v)
		}
	case "optional":
		switch t.inner.kind {
		case "string":
			p("if r.Branch(%q, 2) == 1 {", path)
			if r.Conv == "json" {
				p("%s = r.JSON(%q)", lv, path)
			} else {
				p("%s = r.Str(%q)", lv, path)
			}
			p("}")
		case "timestamp":
			if r.Conv == "zero" {
				p("if r.Branch(%q, 2) == 1 {\n%s = r.Time(%q)\n}", path, lv, path)
			} else {
				p("%s = r.OptTime(%q)", lv, path)
			}
		case "long":
			p("%s = r.OptLong(%q)", lv, path)
		case "record":
			p("if r.Branch(%q, 2) == 1 {", path)
			if g.b.ZeroIsNull[t.inner.rec.fullName] {
				g.readRecord(w, t.inner.rec, lv, lv, path+".")
			} else {
				v := g.v("v")
				p("var %s %s", v, g.typeName(t.inner.rec))
				g.readRecord(w, t.inner.rec, v, v, path+".")
				p("%s = &%s", lv, v)
			}
			p("}")
		}
	}
}
