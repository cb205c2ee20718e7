package schemas_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/surgehq/surge/schemas"
)

var update = flag.Bool("update", false, "rewrite testdata/<name>.avro from testdata/<name>.json")

// declared lists the schema name constants.
var declared = []string{
	schemas.Event, schemas.EnrichedEvent, schemas.Subscription, schemas.Delivery, schemas.DeliveryAttempt,
	schemas.EntitySnapshot, schemas.Source, schemas.EventType, schemas.Stall, schemas.EntityAlias,
	schemas.Backlog, schemas.Replay, schemas.IdempotencyRecord,
}

// TestGolden checks, for each schema, that the fixture in Avro's JSON
// encoding (testdata/<name>.json) encodes to exactly the bytes of
// testdata/<name>.avro, and that those bytes decode to the same values.
//
// Every map in the fixtures has at most one entry: goavro writes map entries
// in Go's map iteration order, so a map with several entries has several
// equally valid binary forms.
func TestGolden(t *testing.T) {
	for _, name := range schemas.Names() { // every schema has fixtures
		t.Run(name, func(t *testing.T) {
			text := schemas.MustText(name)
			codec, err := goavro.NewCodec(text)
			if err != nil {
				t.Fatalf("parsing schema: %v", err)
			}
			js, err := os.ReadFile(filepath.Join("testdata", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			fromJSON, err := nativeFromAvroJSON(codec, text, js)
			if err != nil {
				t.Fatalf("decoding %s.json: %v", name, err)
			}
			bin, err := codec.BinaryFromNative(nil, fromJSON)
			if err != nil {
				t.Fatalf("encoding %s.json: %v", name, err)
			}
			avroPath := filepath.Join("testdata", name+".avro")
			if *update {
				if err := os.WriteFile(avroPath, bin, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(avroPath)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(bin, want) {
				t.Errorf("JSON → binary differs from %s\n got: %x\nwant: %x", avroPath, bin, want)
			}
			fromBin, rest, err := codec.NativeFromBinary(want)
			if err != nil {
				t.Fatalf("decoding %s: %v", avroPath, err)
			}
			if len(rest) != 0 {
				t.Errorf("decoding %s: %d bytes left over", avroPath, len(rest))
			}
			if !reflect.DeepEqual(fromBin, fromJSON) {
				t.Errorf("binary → native differs from the JSON fixture\n got: %#v\nwant: %#v", fromBin, fromJSON)
			}
		})
	}
}

// TestSchemaRules checks the rules every schema follows: it parses, its
// records and all their fields have a doc, and each nullable union lists
// null first with a null default, so fields can be added and read back by
// older and newer readers.
func TestSchemaRules(t *testing.T) {
	for _, name := range schemas.Names() {
		t.Run(name, func(t *testing.T) {
			text := schemas.MustText(name)
			if _, err := goavro.NewCodec(text); err != nil {
				t.Fatalf("parsing schema: %v", err)
			}
			var s any
			if err := json.Unmarshal([]byte(text), &s); err != nil {
				t.Fatal(err)
			}
			root, ok := s.(map[string]any)
			if !ok || root["type"] != "record" {
				t.Fatalf("top level is not a record")
			}
			if root["namespace"] != "dev.surge.v1" {
				t.Errorf("namespace = %v, want dev.surge.v1", root["namespace"])
			}
			for _, p := range checkRules(s, "") {
				t.Error(p)
			}
		})
	}
}

// checkRules walks a schema and returns what breaks the rules, each problem
// prefixed with the path of the offending record or field.
func checkRules(s any, path string) []string {
	var problems []string
	switch s := s.(type) {
	case []any:
		for i, b := range s {
			if b == "null" && i != 0 {
				problems = append(problems, path+": null must be the first branch of a union")
			}
			problems = append(problems, checkRules(b, path)...)
		}
	case map[string]any:
		switch s["type"] {
		case "record":
			rec := path + "/" + fmt.Sprint(s["name"])
			if doc, _ := s["doc"].(string); strings.TrimSpace(doc) == "" {
				problems = append(problems, rec+": record has no doc")
			}
			fields, _ := s["fields"].([]any)
			for _, f := range fields {
				f, _ := f.(map[string]any)
				fp := rec + "." + fmt.Sprint(f["name"])
				if doc, _ := f["doc"].(string); strings.TrimSpace(doc) == "" {
					problems = append(problems, fp+": field has no doc")
				}
				if u, ok := f["type"].([]any); ok && slices.Contains(u, any("null")) {
					if d, has := f["default"]; !has || d != nil {
						problems = append(problems, fp+": nullable field must default to null")
					}
				}
				problems = append(problems, checkRules(f["type"], fp)...)
			}
		case "array":
			problems = append(problems, checkRules(s["items"], path+"[]")...)
		case "map":
			problems = append(problems, checkRules(s["values"], path+"{}")...)
		}
	}
	return problems
}

func TestText(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // a fragment of the text
		wantErr bool
	}{
		{name: "event", in: schemas.Event, want: `"name": "Event"`},
		{name: "enriched event", in: schemas.EnrichedEvent, want: `"name": "EnrichedEvent"`},
		{name: "subscription", in: schemas.Subscription, want: `"name": "Subscription"`},
		{name: "delivery", in: schemas.Delivery, want: `"name": "Delivery"`},
		{name: "delivery attempt", in: schemas.DeliveryAttempt, want: `"name": "DeliveryAttempt"`},
		{name: "entity snapshot", in: schemas.EntitySnapshot, want: `"name": "EntitySnapshot"`},
		{name: "source", in: schemas.Source, want: `"name": "Source"`},
		{name: "event type", in: schemas.EventType, want: `"name": "EventType"`},
		{name: "stall", in: schemas.Stall, want: `"name": "Stall"`},
		{name: "entity alias", in: schemas.EntityAlias, want: `"name": "EntityAlias"`},
		{name: "unknown", in: "order", wantErr: true},
		{name: "with extension", in: "event.avsc", wantErr: true},
		{name: "path", in: "../schemas/event", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := schemas.Text(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Text(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("Text(%q) does not contain %s", tt.in, tt.want)
			}
		})
	}
}

func TestMustTextPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustText of an unknown name did not panic")
		}
	}()
	schemas.MustText("no_such_schema")
}

func TestNames(t *testing.T) {
	names := schemas.Names()
	if !slices.IsSorted(names) {
		t.Errorf("Names() = %v, not sorted", names)
	}
	for _, n := range declared {
		if !slices.Contains(names, n) {
			t.Errorf("Names() = %v, missing %q", names, n)
		}
	}
	if len(names) != len(declared) {
		t.Errorf("Names() = %v, but the package declares %d names: a schema without its constant", names, len(declared))
	}
}

func ExampleText() {
	for _, name := range []string{schemas.Event, schemas.EnrichedEvent, schemas.Subscription, schemas.Delivery, schemas.DeliveryAttempt} {
		var s struct{ Name, Namespace string }
		if err := json.Unmarshal([]byte(schemas.MustText(name)), &s); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: %s.%s\n", name, s.Namespace, s.Name)
	}
	// Output:
	// event: dev.surge.v1.Event
	// enriched_event: dev.surge.v1.EnrichedEvent
	// subscription: dev.surge.v1.Subscription
	// delivery: dev.surge.v1.Delivery
	// delivery_attempt: dev.surge.v1.DeliveryAttempt
}

// nativeFromAvroJSON decodes a value in Avro's standard JSON encoding. goavro
// names a union branch with a logical type "long.timestamp-millis" where the
// specification says "long", so the branch names are translated first.
func nativeFromAvroJSON(codec *goavro.Codec, schemaText string, js []byte) (any, error) {
	var schema, v any
	if err := json.Unmarshal([]byte(schemaText), &schema); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber() // keep longs exact
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	v, err := toGoavroJSON(schema, v, "", map[string]any{})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	native, rest, err := codec.NativeFromTextual(b)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%d bytes left over", len(rest))
	}
	return native, nil
}

// toGoavroJSON rewrites the union branch names of v, a value of schema s in
// Avro's JSON encoding, into the names goavro expects.
func toGoavroJSON(s, v any, ns string, named map[string]any) (any, error) {
	switch s := s.(type) {
	case string:
		if def, ok := named[fullName(s, ns)]; ok {
			return toGoavroJSON(def, v, ns, named)
		}
		return v, nil // a primitive
	case []any:
		if v == nil {
			return nil, nil
		}
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return nil, fmt.Errorf("union value %v is not a one-key object", v)
		}
		for key, val := range m {
			for _, branch := range s {
				std, goavroName := branchNames(branch, ns)
				if std != key {
					continue
				}
				val, err := toGoavroJSON(branch, val, ns, named)
				if err != nil {
					return nil, err
				}
				return map[string]any{goavroName: val}, nil
			}
			return nil, fmt.Errorf("union has no branch %q", key)
		}
	case map[string]any:
		typ, _ := s["type"].(string)
		switch typ {
		case "record", "error":
			full := fullName(s["name"].(string), nsOf(s, ns))
			named[full] = s
			inner := nsOf(s, ns)
			if i := strings.LastIndexByte(full, '.'); i >= 0 {
				inner = full[:i]
			}
			rec, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("record %s: value %v is not an object", full, v)
			}
			out := make(map[string]any, len(rec))
			for _, f := range s["fields"].([]any) {
				f := f.(map[string]any)
				fname := f["name"].(string)
				fv, ok := rec[fname]
				if !ok {
					continue
				}
				conv, err := toGoavroJSON(f["type"], fv, inner, named)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", full, fname, err)
				}
				out[fname] = conv
			}
			return out, nil
		case "enum", "fixed":
			named[fullName(s["name"].(string), nsOf(s, ns))] = s
			return v, nil
		case "array":
			items, _ := v.([]any)
			out := make([]any, len(items))
			return out, convertEach(slices.All(items), s["items"], ns, named, func(i int, conv any) { out[i] = conv })
		case "map":
			vals, _ := v.(map[string]any)
			out := make(map[string]any, len(vals))
			return out, convertEach(maps.All(vals), s["values"], ns, named, func(k string, conv any) { out[k] = conv })
		default:
			return v, nil // a primitive, maybe with a logical type
		}
	}
	return v, nil
}

// convertEach converts with toGoavroJSON each value of an array or a map
// whose values are of schema s, handing it to put with its index or key.
// It stops at the first error (what put was given is then of no use).
func convertEach[K any](all iter.Seq2[K, any], s any, ns string, named map[string]any, put func(K, any)) error {
	for k, v := range all {
		conv, err := toGoavroJSON(s, v, ns, named)
		if err != nil {
			return err
		}
		put(k, conv)
	}
	return nil
}

// branchNames returns the name Avro's JSON encoding gives a union branch and
// the name goavro gives it.
func branchNames(branch any, ns string) (std, goavroName string) {
	switch b := branch.(type) {
	case string:
		return fullNameIfNamed(b, ns), fullNameIfNamed(b, ns)
	case map[string]any:
		typ, _ := b["type"].(string)
		switch typ {
		case "record", "error", "enum", "fixed":
			n := fullName(b["name"].(string), nsOf(b, ns))
			return n, n
		case "array", "map":
			return typ, typ
		}
		if lt, ok := b["logicalType"].(string); ok {
			return typ, typ + "." + lt
		}
		return typ, typ
	}
	return "", ""
}

var primitives = []string{"null", "boolean", "int", "long", "float", "double", "bytes", "string"}

func fullNameIfNamed(n, ns string) string {
	if slices.Contains(primitives, n) {
		return n
	}
	return fullName(n, ns)
}

func fullName(n, ns string) string {
	if strings.Contains(n, ".") || ns == "" {
		return n
	}
	return ns + "." + n
}

func nsOf(s map[string]any, enclosing string) string {
	if ns, ok := s["namespace"].(string); ok {
		return ns
	}
	return enclosing
}
