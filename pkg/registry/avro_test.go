package registry

import (
	"testing"
)

func mustParse(t *testing.T, text string) side {
	t.Helper()
	s, err := parseAvro(text, nil, func(string, int) (*schemaInfo, bool) { return nil, false })
	if err != nil {
		t.Fatalf("parsing %s: %v", text, err)
	}
	return side{schema: s}
}

func record(fields string) string {
	return `{"type":"record","name":"Event","namespace":"dev.surge.v1","fields":[` + fields + `]}`
}

func TestCanonicalFormIgnoresLayout(t *testing.T) {
	t.Parallel()
	a := mustParse(t, `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1}]}`)
	b := mustParse(t, "{\n \"fields\" : [ {\"default\":1, \"type\":\"int\", \"name\":\"a\"} ],\n \"name\":\"R\", \"type\":\"record\"\n}")
	c := mustParse(t, `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":2}]}`)
	ca, _ := canonicalForm(a.schema, nil)
	cb, _ := canonicalForm(b.schema, nil)
	cc, _ := canonicalForm(c.schema, nil)
	if ca != cb {
		t.Fatalf("layout changed the canonical form:\n%s\n%s", ca, cb)
	}
	if ca == cc {
		t.Fatalf("a different default must be a different schema: %s", ca)
	}
	if cr, _ := canonicalForm(a.schema, []Reference{{Name: "X", Subject: "x", Version: 1}}); cr == ca {
		t.Fatal("references must be part of the canonical form")
	}
}

func TestParseAvroDoesNotLeakNames(t *testing.T) {
	t.Parallel()
	none := func(string, int) (*schemaInfo, bool) { return nil, false }
	if _, err := parseAvro(`{"type":"record","name":"dev.surge.v1.Leak","fields":[]}`, nil, none); err != nil {
		t.Fatal(err)
	}
	if _, err := parseAvro(`{"type":"record","name":"R","fields":[{"name":"l","type":"dev.surge.v1.Leak"}]}`, nil, none); err == nil {
		t.Fatal("a type defined by an earlier, unrelated schema must not resolve")
	}
}
