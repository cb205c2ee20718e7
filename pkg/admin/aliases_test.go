package admin_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/surgehq/surge/pkg/admin"
	"github.com/surgehq/surge/pkg/catalog"
)

func TestAliases(t *testing.T) {
	e := newEnv(t, admin.Config{})
	if r := e.do("PUT", "/v1/sources/akeneo/aliases/product/u1", `{"entity_id":"SKU-1"}`); r.status != http.StatusNotFound ||
		!strings.Contains(string(r.body), "PUT /v1/sources/akeneo first") {
		t.Fatalf("alias of an unknown source: %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/v1/sources/akeneo", `{"allow_unsigned":true,"identity":{"product":{"field":"data.product.identifier","aliases":true}}}`); r.status != http.StatusCreated {
		t.Fatalf("PUT source: %d %s", r.status, r.body)
	}

	// One alias: created, read, replaced.
	r := e.do("PUT", "/v1/sources/akeneo/aliases/product/6a9f8486-2c36", `{"entity_id":"SKU-1"}`)
	if r.status != http.StatusCreated || r.header.Get("Location") != "/v1/sources/akeneo/aliases/product/6a9f8486-2c36" {
		t.Fatalf("PUT alias: %d %s %v", r.status, r.body, r.header)
	}
	stored, ok := e.aliases.Get("akeneo/product/6a9f8486-2c36")
	if !ok || stored.EntityID != "SKU-1" || stored.Source != "akeneo" || stored.UpdatedAt.IsZero() {
		t.Fatalf("stored %+v %v", stored, ok)
	}
	if r := e.do("GET", "/v1/sources/akeneo/aliases/product/6a9f8486-2c36", nil); r.status != 200 || jsonOf(t, r.body)["entity_id"] != "SKU-1" {
		t.Fatalf("GET alias: %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/v1/sources/akeneo/aliases/product/6a9f8486-2c36", `{"entity_id":"SKU-1b"}`); r.status != http.StatusOK {
		t.Fatalf("replace: %d %s", r.status, r.body)
	}

	// A sender id with a slash, path-escaped.
	if r := e.do("PUT", "/v1/sources/akeneo/aliases/category/a%2Fb", `{"entity_id":"ab"}`); r.status != http.StatusCreated {
		t.Fatalf("escaped sender id: %d %s", r.status, r.body)
	}
	if _, ok := e.aliases.Get("akeneo/category/a/b"); !ok {
		t.Fatal("the escaped sender id was not stored unescaped")
	}

	// Bad input names the field and stores nothing.
	for _, tc := range []struct {
		path, body, field string
		status            int
	}{
		{"/v1/sources/akeneo/aliases/product/u2", `{"entity_id":""}`, "entity_id", 422},
		{"/v1/sources/akeneo/aliases/Product/u2", `{"entity_id":"x"}`, "entity_type", 400},
		{"/v1/sources/akeneo/aliases/product/u2", `{"entity_id":"x","source":"other"}`, "source", 400},
	} {
		r := e.do("PUT", tc.path, tc.body)
		if r.status != tc.status || errorField(t, r.body) != tc.field {
			t.Errorf("PUT %s %s: %d %s, want %d naming %s", tc.path, tc.body, r.status, r.body, tc.status, tc.field)
		}
	}

	// A batch: all or nothing.
	bad := `{"aliases":[{"entity_type":"product","sender_id":"u3","entity_id":"SKU-3"},{"entity_type":"product","sender_id":"u4","entity_id":" "}]}`
	if r := e.do("POST", "/v1/sources/akeneo/aliases", bad); r.status != 422 || errorField(t, r.body) != "aliases[1].entity_id" {
		t.Fatalf("bad batch: %d %s", r.status, r.body)
	}
	if _, ok := e.aliases.Get("akeneo/product/u3"); ok {
		t.Fatal("a refused batch stored an alias")
	}
	var items []string
	for i := range 5 {
		items = append(items, fmt.Sprintf(`{"entity_type":"product","sender_id":"u%d","entity_id":"SKU-%d"}`, 10+i, 10+i))
	}
	if r := e.do("POST", "/v1/sources/akeneo/aliases", `{"aliases":[`+strings.Join(items, ",")+`]}`); r.status != 200 || len(aliasesOf(t, r.body)) != 5 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/sources/akeneo/aliases", `{"aliases":[]}`); r.status != 400 {
		t.Fatalf("empty batch: %d %s", r.status, r.body)
	}

	// Listing: every alias of the source, or of one entity type.
	if r := e.do("GET", "/v1/sources/akeneo/aliases", nil); r.status != 200 || len(aliasesOf(t, r.body)) != 7 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/sources/akeneo/aliases?entity_type=category", nil); r.status != 200 || len(aliasesOf(t, r.body)) != 1 {
		t.Fatalf("list categories: %d %s", r.status, r.body)
	}

	// Delete.
	if r := e.do("DELETE", "/v1/sources/akeneo/aliases/product/u10", nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/v1/sources/akeneo/aliases/product/u10", nil); r.status != http.StatusNotFound {
		t.Fatalf("delete again: %d %s", r.status, r.body)
	}

	// A store that cannot write: 503, nothing changed.
	e.aliases.Fail(errors.New("kafka down"))
	if r := e.do("PUT", "/v1/sources/akeneo/aliases/product/u99", `{"entity_id":"SKU-99"}`); r.status != http.StatusServiceUnavailable {
		t.Fatalf("store down: %d %s", r.status, r.body)
	}
}

// TestSourceIdentityRules: PUT /v1/sources checks the identity rules and
// GET shows them.
func TestSourceIdentityRules(t *testing.T) {
	e := newEnv(t, admin.Config{})
	if r := e.do("PUT", "/v1/sources/akeneo", `{"allow_unsigned":true,"identity":{"product":{"field":"product.identifier"}}}`); r.status != 422 ||
		errorField(t, r.body) != "identity.product.field" {
		t.Fatalf("a field outside data: %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/v1/sources/akeneo", `{"allow_unsigned":true,"identity":{"product":{}}}`); r.status != 422 || errorField(t, r.body) != "identity.product" {
		t.Fatalf("an empty rule: %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/v1/sources/akeneo", `{"allow_unsigned":true,"identity":{"product":{"field":"data.product.identifier","aliases":true}}}`); r.status != 201 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	r := e.do("GET", "/v1/sources/akeneo", nil)
	var got catalog.Source
	if err := json.Unmarshal(r.body, &got); err != nil || got.Identity["product"] != (catalog.IdentityRule{Field: "data.product.identifier", Aliases: true}) {
		t.Fatalf("GET: %s %v", r.body, err)
	}
}

func jsonOf(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

func errorField(t *testing.T, b []byte) string {
	t.Helper()
	e, _ := jsonOf(t, b)["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

func aliasesOf(t *testing.T, b []byte) []catalog.EntityAlias {
	t.Helper()
	var l struct {
		Aliases []catalog.EntityAlias `json:"aliases"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return l.Aliases
}
