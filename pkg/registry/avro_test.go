package registry

import (
	"strings"
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

func TestCheckReadableNamesTheField(t *testing.T) {
	t.Parallel()
	customer := func(extra string) string {
		return `{"name":"customer","type":{"type":"record","name":"Customer","fields":[{"name":"id","type":"string"}` + extra + `]}}`
	}
	status := func(symbols string) string {
		return `{"name":"status","type":{"type":"enum","name":"Status","symbols":[` + symbols + `]}}`
	}
	tests := []struct {
		name     string
		old, new string
		forward  bool   // check that the old schema reads the new one instead
		want     string // "" = compatible
	}{
		{name: "optional field added", old: record(`{"name":"id","type":"string"}`),
			new: record(`{"name":"id","type":"string"},{"name":"note","type":["null","string"],"default":null}`)},
		{name: "required field added", old: record(`{"name":"id","type":"string"}`),
			new:  record(`{"name":"id","type":"string"},{"name":"total","type":"string"}`),
			want: `field "total" (dev.surge.v1.Event.total) has no default and is missing from version 1`},
		{name: "required field removed, forward", forward: true,
			old:  record(`{"name":"id","type":"string"},{"name":"total","type":"string"}`),
			new:  record(`{"name":"id","type":"string"}`),
			want: `field "total" (dev.surge.v1.Event.total) of version 1 has no default and is missing from the new schema`},
		{name: "type changed", old: record(`{"name":"total","type":"string"}`), new: record(`{"name":"total","type":"int"}`),
			want: `field "total" (dev.surge.v1.Event.total) has type int in the new schema, which cannot read type string from version 1`},
		{name: "promotion", old: record(`{"name":"n","type":"int"}`), new: record(`{"name":"n","type":"double"}`)},
		{name: "nested record", old: record(customer(``)), new: record(customer(`,{"name":"email","type":"string"}`)),
			want: `field "email" (dev.surge.v1.Event.customer.email) has no default and is missing from version 1`},
		{name: "nested record in union", old: `["null",` + record(`{"name":"id","type":"string"}`) + `]`,
			new:  `["null",` + record(`{"name":"id","type":"string"},{"name":"sku","type":"string"}`) + `]`,
			want: `field "sku" (dev.surge.v1.Event.sku)`},
		{name: "enum symbol removed", old: record(status(`"NEW","PAID","REFUNDED"`)), new: record(status(`"NEW","PAID"`)),
			want: `field "status" (dev.surge.v1.Event.status): enum dev.surge.v1.Status in the new schema lacks symbol(s) "REFUNDED" that version 1 has`},
		{name: "nullable made required", old: record(`{"name":"note","type":["null","string"],"default":null}`),
			new:  record(`{"name":"note","type":"string"}`),
			want: `field "note" (dev.surge.v1.Event.note) has type string in the new schema, which cannot read type null from version 1`},
		{name: "array items", old: record(`{"name":"tags","type":{"type":"array","items":"string"}}`),
			new:  record(`{"name":"tags","type":{"type":"array","items":"long"}}`),
			want: `field "tags" (dev.surge.v1.Event.tags[]) has type long`},
		{name: "record renamed", old: record(`{"name":"id","type":"string"}`),
			new:  `{"type":"record","name":"Evt","namespace":"dev.surge.v1","fields":[{"name":"id","type":"string"}]}`,
			want: `record is named dev.surge.v1.Evt in the new schema but dev.surge.v1.Event in version 1`},
		{name: "top-level primitive", old: `"string"`, new: `"int"`,
			want: `the new schema has type int, which cannot read type string from version 1`},
		{name: "recursive type", old: `{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}`,
			new:  `{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]},{"name":"v","type":"long"}]}`,
			want: `field "v" (Node.v) has no default`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			old, nw := mustParse(t, tt.old), mustParse(t, tt.new)
			old.name = "version 1"
			nw.name, nw.isNew = "the new schema", true
			reader, writer := nw, old
			if tt.forward {
				reader, writer = old, nw
			}
			err := checkReadable(reader, writer)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("want compatible, got %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v\nwant a message containing %q", err, tt.want)
			}
		})
	}
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
