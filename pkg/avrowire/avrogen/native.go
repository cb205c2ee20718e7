package main

import (
	"bytes"
	"fmt"
	"strings"
)

// nativeRecord is the Go expression of rec's native form, rec's Go value
// being expr inside the struct parent.
func (g *gen) nativeRecord(rec *recordDef, expr, parent string) string {
	var b strings.Builder
	b.WriteString("map[string]any{\n")
	for _, f := range rec.fields {
		fmt.Fprintf(&b, "%q: %s,\n", f.name, g.nativeValue(f.typ, g.rule(rec, f), g.lv(rec, f, expr, parent), expr))
	}
	b.WriteString("}")
	return b.String()
}

func (g *gen) nativeValue(t *avroType, r fieldRule, expr, parent string) string {
	switch t.kind {
	case "string":
		switch r.Conv {
		case "body":
			return "string(" + expr + ")"
		case "jsonText":
			return "avrowire.JSONTextNative(" + expr + ")"
		}
		return expr
	case "long":
		switch r.Conv {
		case "micros":
			return expr + ".Microseconds()"
		case "millis":
			return expr + ".Milliseconds()"
		case "int":
			return "int64(" + expr + ")"
		}
		return expr
	case "int":
		if r.Conv == "int" {
			return "int32(" + expr + ")"
		}
		return expr
	case "double", "boolean":
		return expr
	case "timestamp":
		return "avrowire.TimeNative(" + expr + ")"
	case "record":
		return g.nativeRecord(t.rec, expr, parent)
	case "array", "map":
		kind := map[string]string{"array": "s", "map": "Map"}[t.kind]
		if t.inner.kind == "record" {
			g.helpers[g.typeName(t.inner.rec)] = t.inner.rec
			if t.kind == "array" {
				return fmt.Sprintf("avrowire.RecordsNative(%s, avroNative%s)", expr, g.typeName(t.inner.rec))
			}
			return fmt.Sprintf("avrowire.RecordMapNative(%s, avroNative%s)", expr, g.typeName(t.inner.rec))
		}
		if t.kind == "array" {
			return "avrowire.Scalar" + kind + "Native(" + expr + ")"
		}
		return "avrowire.ScalarMapNative(" + expr + ")"
	case "optional":
		switch t.inner.kind {
		case "string":
			if r.Conv == "json" {
				return "avrowire.OptJSONNative(" + expr + ")"
			}
			return "avrowire.OptStringNative(" + expr + ")"
		case "timestamp":
			if r.Conv == "zero" {
				return "avrowire.ZeroTimeNative(" + expr + ")"
			}
			return "avrowire.OptTimeNative(" + expr + ")"
		case "long":
			return "avrowire.OptLongNative(" + expr + ")"
		case "record":
			name := g.typeName(t.inner.rec)
			g.helpers[name] = t.inner.rec
			g.opt[name] = t.inner.rec
			return "avroOptNative" + name + "(" + expr + ")"
		}
	}
	panic(fmt.Sprintf("no native form for %s", t.kind))
}

// fromNative writes the statements that read rec from the native reader
// rd into expr, inside the struct parent.
func (g *gen) fromNative(w *bytes.Buffer, rec *recordDef, rd, expr, parent string) {
	for _, f := range rec.fields {
		r := g.rule(rec, f)
		lv := g.lv(rec, f, expr, parent)
		t := f.typ
		switch t.kind {
		case "string":
			switch r.Conv {
			case "body":
				fmt.Fprintf(w, "%s = %s.Body(%q)\n", lv, rd, f.name)
			case "jsonText":
				fmt.Fprintf(w, "%s = %s.JSON(%q)\n", lv, rd, f.name)
			default:
				fmt.Fprintf(w, "%s = %s.Str(%q, %s)\n", lv, rd, f.name, def(f))
			}
		case "long":
			switch r.Conv {
			case "micros":
				fmt.Fprintf(w, "%s = %s.Micros(%q)\n", lv, rd, f.name)
			case "millis":
				g.imports["time"] = true
				fmt.Fprintf(w, "%s = time.Duration(%s.Long(%q, %s)) * time.Millisecond\n", lv, rd, f.name, def(f))
			case "int":
				fmt.Fprintf(w, "%s = int(%s.Long(%q, %s))\n", lv, rd, f.name, def(f))
			default:
				fmt.Fprintf(w, "%s = %s.Long(%q, %s)\n", lv, rd, f.name, def(f))
			}
		case "int":
			if r.Conv == "int" {
				fmt.Fprintf(w, "%s = int(%s.Int(%q, %s))\n", lv, rd, f.name, def(f))
			} else {
				fmt.Fprintf(w, "%s = %s.Int(%q, %s)\n", lv, rd, f.name, def(f))
			}
		case "double":
			fmt.Fprintf(w, "%s = %s.Double(%q, %s)\n", lv, rd, f.name, def(f))
		case "boolean":
			fmt.Fprintf(w, "%s = %s.Boolean(%q, %s)\n", lv, rd, f.name, def(f))
		case "timestamp":
			fmt.Fprintf(w, "%s = %s.Time(%q)\n", lv, rd, f.name)
		case "record":
			sub := g.v("r")
			fmt.Fprintf(w, "%s := %s.Record(%q)\n", sub, rd, f.name)
			g.fromNative(w, t.rec, sub, lv, expr)
		case "array":
			switch t.inner.kind {
			case "string":
				fmt.Fprintf(w, "%s = %s.Strings(%q)\n", lv, rd, f.name)
			case "record":
				name := g.typeName(t.inner.rec)
				g.helpers[name] = t.inner.rec
				sub := g.v("r")
				fmt.Fprintf(w, "for _, %s := range %s.Records(%q) {\n%s = append(%s, avroFromNative%s(%s))\n}\n", sub, rd, f.name, lv, lv, name, sub)
			default:
				panic("arrays of " + t.inner.kind + " are not supported")
			}
		case "map":
			switch t.inner.kind {
			case "string":
				fmt.Fprintf(w, "%s = %s.StringMap(%q)\n", lv, rd, f.name)
			case "long":
				fmt.Fprintf(w, "%s = %s.LongMap(%q)\n", lv, rd, f.name)
			case "record":
				name := g.typeName(t.inner.rec)
				g.helpers[name] = t.inner.rec
				k, sub := g.v("k"), g.v("r")
				fmt.Fprintf(w, "for %s, %s := range %s.RecordMap(%q) {\nif %s == nil {\n%s = map[string]%s{}\n}\n%s[%s] = avroFromNative%s(%s)\n}\n", k, sub, rd, f.name, lv, lv, name, lv, k, name, sub)
			default:
				panic("maps of " + t.inner.kind + " are not supported")
			}
		case "optional":
			switch t.inner.kind {
			case "string":
				if r.Conv == "json" {
					fmt.Fprintf(w, "%s = %s.JSON(%q)\n", lv, rd, f.name)
				} else {
					fmt.Fprintf(w, "%s = %s.Str(%q, \"\")\n", lv, rd, f.name)
				}
			case "timestamp":
				if r.Conv == "zero" {
					fmt.Fprintf(w, "%s = %s.Time(%q)\n", lv, rd, f.name)
				} else {
					fmt.Fprintf(w, "%s = %s.OptTime(%q)\n", lv, rd, f.name)
				}
			case "long":
				fmt.Fprintf(w, "%s = %s.OptLong(%q)\n", lv, rd, f.name)
			case "record":
				name := g.typeName(t.inner.rec)
				g.helpers[name] = t.inner.rec
				sub := g.v("r")
				if g.b.ZeroIsNull[t.inner.rec.fullName] {
					fmt.Fprintf(w, "if %s, ok := %s.OptRecord(%q, %q); ok {\n%s = avroFromNative%s(%s)\n}\n", sub, rd, f.name, t.inner.rec.fullName, lv, name, sub)
				} else {
					fmt.Fprintf(w, "if %s, ok := %s.OptRecord(%q, %q); ok {\nv := avroFromNative%s(%s)\n%s = &v\n}\n", sub, rd, f.name, t.inner.rec.fullName, name, sub, lv)
				}
			default:
				panic("optional " + t.inner.kind + " is not supported")
			}
		}
	}
}

// nativeHelper writes the native conversions of the record name, held in
// arrays, maps or unions (writing them may ask for more helpers).
func (g *gen) nativeHelper(w *bytes.Buffer, name string) {
	rec := g.helpers[name]
	fmt.Fprintf(w, "\nfunc avroNative%s(x %s) map[string]any {\n\treturn %s\n}\n", name, name, g.nativeRecord(rec, "x", "x"))
	fmt.Fprintf(w, "\nfunc avroFromNative%s(r *avrowire.NativeReader) %s {\n\tvar x %s\n", name, name, name)
	g.fromNative(w, rec, "r", "x", "x")
	fmt.Fprintf(w, "\treturn x\n}\n")
	if _, ok := g.opt[name]; ok {
		g.imports["github.com/linkedin/goavro/v2"] = true
		null, val := "x == nil", "*x"
		param := "*" + name
		if g.b.ZeroIsNull[rec.fullName] {
			null, val, param = "x.IsZero()", "x", name
		}
		fmt.Fprintf(w, "\nfunc avroOptNative%s(x %s) any {\n\tif %s {\n\t\treturn nil\n\t}\n\treturn goavro.Union(%q, avroNative%s(%s))\n}\n", name, param, null, rec.fullName, name, val)
	}
}
