package registry

import (
	"errors"
	"strings"
	"testing"
)

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
		// kind and location are Avro's names for the incompatibility and
		// its JSON pointer in the reader schema; info ("" = not checked)
		// the short detail.
		kind, location, info string
	}{
		{name: "optional field added", old: record(`{"name":"id","type":"string"}`),
			new: record(`{"name":"id","type":"string"},{"name":"note","type":["null","string"],"default":null}`)},
		{name: "required field added", old: record(`{"name":"id","type":"string"}`),
			new:  record(`{"name":"id","type":"string"},{"name":"total","type":"string"}`),
			want: `field "total" (dev.surge.v1.Event.total) has no default and is missing from version 1`,
			kind: kindFieldMissingDefault, location: "/fields/1", info: "total"},
		{name: "required field removed, forward", forward: true,
			old:  record(`{"name":"id","type":"string"},{"name":"total","type":"string"}`),
			new:  record(`{"name":"id","type":"string"}`),
			want: `field "total" (dev.surge.v1.Event.total) of version 1 has no default and is missing from the new schema`,
			kind: kindFieldMissingDefault, location: "/fields/1", info: "total"},
		{name: "type changed", old: record(`{"name":"total","type":"string"}`), new: record(`{"name":"total","type":"int"}`),
			want: `field "total" (dev.surge.v1.Event.total) has type int in the new schema, which cannot read type string from version 1`,
			kind: kindTypeMismatch, location: "/fields/0/type", info: "reader type int, writer type string"},
		{name: "promotion", old: record(`{"name":"n","type":"int"}`), new: record(`{"name":"n","type":"double"}`)},
		{name: "nested record", old: record(customer(``)), new: record(customer(`,{"name":"email","type":"string"}`)),
			want: `field "email" (dev.surge.v1.Event.customer.email) has no default and is missing from version 1`,
			kind: kindFieldMissingDefault, location: "/fields/0/type/fields/1", info: "email"},
		{name: "nested record in union", old: `["null",` + record(`{"name":"id","type":"string"}`) + `]`,
			new:  `["null",` + record(`{"name":"id","type":"string"},{"name":"sku","type":"string"}`) + `]`,
			want: `field "sku" (dev.surge.v1.Event.sku)`, kind: kindFieldMissingDefault, location: "/1/fields/1", info: "sku"},
		{name: "enum symbol removed", old: record(status(`"NEW","PAID","REFUNDED"`)), new: record(status(`"NEW","PAID"`)),
			want: `field "status" (dev.surge.v1.Event.status): enum dev.surge.v1.Status in the new schema lacks symbol(s) "REFUNDED" that version 1 has`,
			kind: kindMissingEnumSymbols, location: "/fields/0/type/symbols", info: "[REFUNDED]"},
		{name: "nullable made required", old: record(`{"name":"note","type":["null","string"],"default":null}`),
			new:  record(`{"name":"note","type":"string"}`),
			want: `field "note" (dev.surge.v1.Event.note) has type string in the new schema, which cannot read type null from version 1`,
			kind: kindTypeMismatch, location: "/fields/0/type", info: "reader type string, writer type null"},
		{name: "array items", old: record(`{"name":"tags","type":{"type":"array","items":"string"}}`),
			new:  record(`{"name":"tags","type":{"type":"array","items":"long"}}`),
			want: `field "tags" (dev.surge.v1.Event.tags[]) has type long`, kind: kindTypeMismatch, location: "/fields/0/type/items"},
		{name: "record renamed", old: record(`{"name":"id","type":"string"}`),
			new:  `{"type":"record","name":"Evt","namespace":"dev.surge.v1","fields":[{"name":"id","type":"string"}]}`,
			want: `record is named dev.surge.v1.Evt in the new schema but dev.surge.v1.Event in version 1`,
			kind: kindNameMismatch, location: "/name", info: "writer name dev.surge.v1.Event"},
		{name: "top-level primitive", old: `"string"`, new: `"int"`,
			want: `the new schema has type int, which cannot read type string from version 1`, kind: kindTypeMismatch, location: "/"},
		{name: "recursive type", old: `{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}`,
			new:  `{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]},{"name":"v","type":"long"}]}`,
			want: `field "v" (Node.v) has no default`, kind: kindFieldMissingDefault, location: "/fields/1"},
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
			case tt.want == "":
				return
			case err == nil || !strings.Contains(err.Error(), tt.want):
				t.Fatalf("got %v\nwant a message containing %q", err, tt.want)
			}
			var inc *incompatibility
			if !errors.As(err, &inc) || inc.kind != tt.kind || inc.location != tt.location || (tt.info != "" && inc.info != tt.info) {
				t.Fatalf("got %#v\nwant kind %s at %s, info %q", inc, tt.kind, tt.location, tt.info)
			}
		})
	}
}

// Two more kinds the table above does not reach: a fixed that changed size
// and a union that lost the writer's branch.
func TestCheckReadableKinds(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, old, new, kind, location, info, verbose string }{
		{name: "fixed size", old: record(`{"name":"h","type":{"type":"fixed","name":"Hash","size":16}}`),
			new: record(`{"name":"h","type":{"type":"fixed","name":"Hash","size":8}}`), kind: kindFixedSizeMismatch, location: "/fields/0/type/size",
			info:    "reader size 8, writer size 16",
			verbose: `{errorType:'FIXED_SIZE_MISMATCH', description:'at path '/fields/0/type/size': field "h" (dev.surge.v1.Event.h): fixed dev.surge.v1.Hash has size 8 in the new schema but 16 in version 1', additionalInfo:'reader size 8, writer size 16'}`},
		{name: "union branch dropped", old: record(`{"name":"v","type":["null","string","long"]}`),
			new: record(`{"name":"v","type":["null","string"]}`), kind: kindMissingUnionBranch, location: "/fields/0/type",
			info:    "no branch of the reader's union reads writer type long",
			verbose: `{errorType:'MISSING_UNION_BRANCH', description:'at path '/fields/0/type': field "v" (dev.surge.v1.Event.v) has type union [null, string] in the new schema, which cannot read type long from version 1', additionalInfo:'no branch of the reader's union reads writer type long'}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			old, nw := mustParse(t, tt.old), mustParse(t, tt.new)
			old.name = "version 1"
			nw.name, nw.isNew = "the new schema", true
			var inc *incompatibility
			if err := checkReadable(nw, old); !errors.As(err, &inc) {
				t.Fatalf("got %v, want an incompatibility", err)
			}
			if inc.kind != tt.kind || inc.location != tt.location || inc.info != tt.info {
				t.Fatalf("got %#v\nwant kind %s at %s, info %q", inc, tt.kind, tt.location, tt.info)
			}
			if got := inc.verbose(); got != tt.verbose {
				t.Fatalf("verbose entry:\n got %s\nwant %s", got, tt.verbose)
			}
		})
	}
}
