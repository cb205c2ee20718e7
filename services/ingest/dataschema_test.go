package ingest_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/services/ingest"
)

func TestDataSchemaValidate(t *testing.T) {
	placed := catalog.EventType{Name: "order.placed", EntityType: "order", DataSchema: decFixture(t, "order_placed.schema.json")}
	odd := catalog.EventType{Name: "x.y", DataSchema: json.RawMessage(`{
		"type":"object",
		"properties":{"a.b":{"type":"string"},"7":{"type":"string"},"m":{"type":"object","additionalProperties":{"type":"integer"}}}}`)}
	v := ingest.NewDataValidator()
	tests := []struct {
		name      string
		et        catalog.EventType
		in        string // "" = nil data
		wantField string // "" = valid
	}{
		{"valid", placed, `{"total":59.9,"currency":"EUR","items":[{"sku":"A","qty_ordered":1}]}`, ""},
		{"thin event skips validation", placed, "", ""},
		{"null data skips validation", placed, "null", ""},
		{"no schema", catalog.EventType{Name: "order.updated"}, `{"anything":[1,2]}`, ""},
		{"wrong type", placed, `{"total":"59.90"}`, "data.total"},
		{"below minimum", placed, `{"total":-1}`, "data.total"},
		{"missing required member", placed, `{"currency":"EUR"}`, "data.total"},
		{"array item", placed, `{"total":1,"items":[{"sku":"A"},{"sku":"B","qty_ordered":0}]}`, "data.items[1].qty_ordered"},
		{"missing member of an array item", placed, `{"total":1,"items":[{"qty_ordered":2}]}`, "data.items[0].sku"},
		{"not an object", placed, `[1]`, "data"},
		{"dotted key is quoted", odd, `{"a.b":1}`, `data["a.b"]`},
		{"numeric key of an object is a key", odd, `{"7":1}`, `data["7"]`},
		{"map value", odd, `{"m":{"qty":"x"}}`, "data.m.qty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var data json.RawMessage
			if tc.in != "" {
				data = json.RawMessage(tc.in)
			}
			err := v.Validate(tc.et, data)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var he *httpx.Error
			if !errors.As(err, &he) || he.Status != http.StatusUnprocessableEntity || he.Code != httpx.CodeInvalid {
				t.Fatalf("error %v, want 422 %s", err, httpx.CodeInvalid)
			}
			if he.Field != tc.wantField || he.Message == "" {
				t.Fatalf("field %q (%s), want %q", he.Field, he.Message, tc.wantField)
			}
		})
	}
}

// TestMovementSchema: the built-in inventory movements accept what the
// inventory ledger applies and refuse the rest with a 422 naming the
// quantity, so a movement is never accepted and then left unapplied.
func TestMovementSchema(t *testing.T) {
	cat := catalog.New(catalog.Builtin()...)
	v := ingest.NewDataValidator()
	for _, name := range []string{"inventory.reserved", "inventory.released"} {
		et, _ := cat.Lookup(name)
		if err := v.Compile(et); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for in, wantField := range map[string]string{
			`{"qty":2}`:                      "",
			`{"qty":2.0}`:                    "",
			`{"quantity":3,"sku":"A"}`:       "",
			`{"qty":"2.0000"}`:               "",
			`{"qty":"10"}`:                   "",
			`{"qty":1,"order_id":"7"}`:       "",
			`{"sku":"A"}`:                    "data.qty",
			`{"qty":0}`:                      "data.qty",
			`{"qty":-1}`:                     "data.qty",
			`{"qty":1.5}`:                    "data.qty",
			`{"qty":"two"}`:                  "data.qty",
			`{"qty":"1.5"}`:                  "data.qty",
			`{"qty":"0.000"}`:                "data.qty",
			`{"quantity":true}`:              "data.quantity",
			`{"qty":2,"quantity":"several"}`: "data.quantity",
		} {
			err := v.Validate(et, json.RawMessage(in))
			var he *httpx.Error
			switch {
			case wantField == "" && err != nil:
				t.Errorf("%s %s: %v, want it accepted", name, in, err)
			case wantField != "" && (!errors.As(err, &he) || he.Status != http.StatusUnprocessableEntity || he.Field != wantField):
				t.Errorf("%s %s: %v, want a 422 naming %s", name, in, err, wantField)
			}
		}
		if err := v.Validate(et, nil); err != nil {
			t.Errorf("%s: a thin movement: %v (enrich delivers it with a warning)", name, err)
		}
	}
}

func TestDataSchemaCacheFollowsCatalogChanges(t *testing.T) {
	v := ingest.NewDataValidator()
	et := catalog.EventType{Name: "order.placed", DataSchema: json.RawMessage(`{"required":["total"]}`)}
	if err := v.Validate(et, json.RawMessage(`{"sum":1}`)); err == nil {
		t.Fatal("first schema not applied")
	}
	et.DataSchema = json.RawMessage(`{"required":["sum"]}`)
	if err := v.Validate(et, json.RawMessage(`{"sum":1}`)); err != nil {
		t.Fatalf("changed schema not picked up: %v", err)
	}
	et.DataSchema = nil
	if err := v.Validate(et, json.RawMessage(`{}`)); err != nil {
		t.Fatalf("removed schema still applied: %v", err)
	}
}

func TestDataSchemaBadSchemaIsNotTheSendersFault(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.json")
	if err := os.WriteFile(secret, []byte(`{"type":"string"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		schema string
	}{
		{"not a schema", `{"type":"no-such-type"}`},
		{"bad regexp", `{"pattern":"("}`},
		{"ref to a local file", `{"$ref":"file://` + filepath.ToSlash(secret) + `"}`},
		{"ref to a URL", `{"$ref":"https://schemas.example.com/order.json"}`},
	}
	v := ingest.NewDataValidator()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			et := catalog.EventType{Name: "order.placed", DataSchema: json.RawMessage(tc.schema)}
			if err := v.Compile(et); err == nil {
				t.Fatal("Compile accepted the schema")
			}
			err := v.Validate(et, json.RawMessage(`{"total":1}`))
			var he *httpx.Error
			if err == nil || errors.As(err, &he) {
				t.Fatalf("Validate = %v, want a plain (500) error", err)
			}
		})
	}
	if err := v.Compile(catalog.EventType{Name: "a.b"}); err != nil {
		t.Errorf("a type without a schema: %v", err)
	}
	if err := v.Compile(catalog.EventType{Name: "a.b", DataSchema: json.RawMessage(`{"$defs":{"n":{"type":"number"}},"properties":{"x":{"$ref":"#/$defs/n"}}}`)}); err != nil {
		t.Errorf("a schema with a local $ref: %v", err)
	}
}

func TestDataSchemaNilValidatorAndConcurrentUse(t *testing.T) {
	et := catalog.EventType{Name: "order.placed", DataSchema: json.RawMessage(`{"required":["total"]}`)}
	var nilV *ingest.DataValidator
	if err := nilV.Validate(et, json.RawMessage(`{}`)); err != nil {
		t.Fatalf("nil validator: %v", err)
	}
	v := ingest.NewDataValidator()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if err := v.Validate(et, json.RawMessage(`{"total":1}`)); err != nil {
					t.Error(err)
					return
				}
				if err := v.Validate(et, json.RawMessage(`{}`)); err == nil {
					t.Error("violation not reported")
					return
				}
			}
		}()
	}
	wg.Wait()
}
