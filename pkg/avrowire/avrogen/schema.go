package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// avroType is the part of an Avro schema the generator understands: the
// primitives Surge's records use, timestamp-millis, records, arrays, maps
// and ["null", X] unions.
type avroType struct {
	kind  string     // string, long, int, double, boolean, timestamp, record, array, map, optional
	rec   *recordDef // record
	inner *avroType  // array and map items, optional's non-null branch
}

type recordDef struct {
	name, fullName, doc string
	fields              []fieldDef
}

type fieldDef struct {
	name, doc string
	typ       *avroType
	def       json.RawMessage // nil when the field has no default
}

// readSchema parses dir/name.avsc.
func readSchema(dir, name string) (*recordDef, error) {
	b, err := os.ReadFile(filepath.Join(dir, name+".avsc"))
	if err != nil {
		return nil, err
	}
	var raw any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s.avsc: %w", name, err)
	}
	t, err := parseType(raw, "")
	if err != nil {
		return nil, fmt.Errorf("%s.avsc: %w", name, err)
	}
	if t.kind != "record" {
		return nil, fmt.Errorf("%s.avsc: top level is %s, want a record", name, t.kind)
	}
	return t.rec, nil
}

func parseType(v any, namespace string) (*avroType, error) {
	switch v := v.(type) {
	case string:
		switch v {
		case "string", "long", "int", "double", "boolean":
			return &avroType{kind: v}, nil
		}
		return nil, fmt.Errorf("type %q is not supported (named references are not: define records inline)", v)
	case []any:
		if len(v) != 2 || v[0] != "null" {
			return nil, fmt.Errorf("union %v is not supported: only [\"null\", X]", v)
		}
		inner, err := parseType(v[1], namespace)
		if err != nil {
			return nil, err
		}
		return &avroType{kind: "optional", inner: inner}, nil
	case map[string]any:
		typ, _ := v["type"].(string)
		if lt, _ := v["logicalType"].(string); lt != "" {
			if typ == "long" && lt == "timestamp-millis" {
				return &avroType{kind: "timestamp"}, nil
			}
			return nil, fmt.Errorf("logical type %s of %s is not supported", lt, typ)
		}
		switch typ {
		case "array", "map":
			key := map[string]string{"array": "items", "map": "values"}[typ]
			inner, err := parseType(v[key], namespace)
			if err != nil {
				return nil, err
			}
			return &avroType{kind: typ, inner: inner}, nil
		case "record":
			return parseRecord(v, namespace)
		case "string", "long", "int", "double", "boolean":
			return &avroType{kind: typ}, nil
		}
		return nil, fmt.Errorf("type %v is not supported", v["type"])
	}
	return nil, fmt.Errorf("schema %v is not supported", v)
}

func parseRecord(v map[string]any, namespace string) (*avroType, error) {
	name, _ := v["name"].(string)
	if ns, _ := v["namespace"].(string); ns != "" {
		namespace = ns
	}
	rec := &recordDef{name: name, fullName: namespace + "." + name}
	rec.doc, _ = v["doc"].(string)
	fields, _ := v["fields"].([]any)
	for _, f := range fields {
		fm, ok := f.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("record %s: field %v is not an object", name, f)
		}
		fd := fieldDef{}
		fd.name, _ = fm["name"].(string)
		fd.doc, _ = fm["doc"].(string)
		t, err := parseType(fm["type"], namespace)
		if err != nil {
			return nil, fmt.Errorf("record %s, field %s: %w", name, fd.name, err)
		}
		fd.typ = t
		if d, has := fm["default"]; has {
			fd.def, _ = json.Marshal(d)
		}
		rec.fields = append(rec.fields, fd)
	}
	return &avroType{kind: "record", rec: rec}, nil
}
