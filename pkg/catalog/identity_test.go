package catalog_test

import (
	"encoding/json"
	"testing"

	"github.com/surgehq/surge/pkg/catalog"
)

func TestIdentityRulesValidate(t *testing.T) {
	src := func(rules map[string]catalog.IdentityRule) catalog.Source {
		return catalog.Source{ID: "akeneo", AllowUnsigned: true, Identity: rules}
	}
	tests := []struct {
		name      string
		in        catalog.Source
		wantField string
	}{
		{"field and aliases", src(map[string]catalog.IdentityRule{"product": {Field: "data.product.identifier", Aliases: true}}), ""},
		{"aliases only", src(map[string]catalog.IdentityRule{"category": {Aliases: true}}), ""},
		{"top-level field", src(map[string]catalog.IdentityRule{"product": {Field: "data.sku"}}), ""},
		{"says nothing", src(map[string]catalog.IdentityRule{"product": {}}), "identity.product"},
		{"field outside data", src(map[string]catalog.IdentityRule{"product": {Field: "product.identifier"}}), "identity.product.field"},
		{"data alone", src(map[string]catalog.IdentityRule{"product": {Field: "data."}}), "identity.product.field"},
		{"empty segment", src(map[string]catalog.IdentityRule{"product": {Field: "data.product..identifier"}}), "identity.product.field"},
		{"white space", src(map[string]catalog.IdentityRule{"product": {Field: "data.product identifier"}}), "identity.product.field"},
		{"bad entity type", src(map[string]catalog.IdentityRule{"Product": {Aliases: true}}), "identity.Product"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkField(t, tc.in.Validate(), tc.wantField)
		})
	}
}

func TestIdentityRuleLookup(t *testing.T) {
	rule := catalog.IdentityRule{Field: "data.product.identifier"}
	tests := []struct {
		data   string
		want   string
		wantOK bool
	}{
		{`{"product":{"uuid":"u1","identifier":"SKU-1"}}`, "SKU-1", true},
		{`{"product":{"identifier":"  SKU-1 "}}`, "SKU-1", true},
		{`{"product":{"identifier":100012}}`, "100012", true},
		{`{"product":{"identifier":""}}`, "", false},
		{`{"product":{"identifier":null}}`, "", false},
		{`{"product":{"identifier":{"a":1}}}`, "", false},
		{`{"product":{"identifier":true}}`, "", false},
		{`{"product":{"uuid":"u1"}}`, "", false},
		{`{"product":"SKU-1"}`, "", false},
		{`{}`, "", false},
		{``, "", false},
	}
	for _, tc := range tests {
		got, ok := rule.Lookup(json.RawMessage(tc.data))
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("Lookup(%s) = %q, %v; want %q, %v", tc.data, got, ok, tc.want, tc.wantOK)
		}
	}
	if _, ok := (catalog.IdentityRule{Aliases: true}).Lookup(json.RawMessage(`{"product":{"identifier":"x"}}`)); ok {
		t.Error("a rule without a field found an id")
	}
}

func TestEntityAliasValidate(t *testing.T) {
	ok := catalog.EntityAlias{Source: "akeneo", EntityType: "product", SenderID: "6a9f8486-2c36-4680-b87f-6f5f8f01b6cf", EntityID: "SKU-1"}
	with := func(f func(*catalog.EntityAlias)) catalog.EntityAlias { a := ok; f(&a); return a }
	tests := []struct {
		name      string
		in        catalog.EntityAlias
		wantField string
	}{
		{"valid", ok, ""},
		{"sender id with a slash", with(func(a *catalog.EntityAlias) { a.SenderID = "a/b" }), ""},
		{"bad source", with(func(a *catalog.EntityAlias) { a.Source = "a/b" }), "source"},
		{"bad entity type", with(func(a *catalog.EntityAlias) { a.EntityType = "Product" }), "entity_type"},
		{"empty sender id", with(func(a *catalog.EntityAlias) { a.SenderID = " " }), "sender_id"},
		{"padded entity id", with(func(a *catalog.EntityAlias) { a.EntityID = "SKU-1 " }), "entity_id"},
		{"control character", with(func(a *catalog.EntityAlias) { a.EntityID = "SKU\n1" }), "entity_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkField(t, tc.in.Validate(), tc.wantField)
		})
	}
	if k := ok.Key(); k != "akeneo/product/6a9f8486-2c36-4680-b87f-6f5f8f01b6cf" {
		t.Errorf("Key() = %q", k)
	}
}
