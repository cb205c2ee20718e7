package registry

import (
	"testing"
	"unicode/utf8"

	"github.com/surgehq/surge/schemas"
)

// FuzzParseAvro: whatever schema text is submitted, parsing gives a
// schema or an error (hamba's parser's panics are errors too). A schema
// that parses has a canonical form that parses back to itself, its
// compacted text (what is stored) parses to the same canonical form, and
// it can read data written with itself: registering it twice, or checking
// it against itself, can never be refused.
func FuzzParseAvro(f *testing.F) {
	for _, name := range []string{schemas.Event, schemas.EnrichedEvent, schemas.Subscription, schemas.Delivery,
		schemas.DeliveryAttempt, schemas.EntitySnapshot, schemas.Source, schemas.EventType} {
		f.Add(schemas.MustText(name))
	}
	for _, s := range []string{
		`"string"`, `{"type":"array","items":"long"}`, `["null","string",{"type":"map","values":"int"}]`,
		`{"type":"enum","name":"Status","symbols":["NEW","PAID"],"default":"NEW"}`,
		`{"type":"fixed","name":"Hash","size":16}`,
		`{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"],"default":null}]}`,
		`{"type":"record","name":"Event","fields":[{"name":"total","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}}]}`,
		`{"type":"record","name":"E","fields":[{"name":"a","type":"int","default":"x"}]}`,
		`{"type":"record","name":"E","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}`,
		`{"type":"fixed","name":"F","size":-1}`,
	} {
		f.Add(s)
	}
	none := func(string, int) (*schemaInfo, bool) { return nil, false }
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) {
			// Unreachable: a schema arrives as a JSON string (the REST
			// body, the _schemas topic), which encoding/json has already
			// made valid UTF-8.
			return
		}
		s, err := parseAvro(text, nil, none)
		if err != nil {
			return
		}
		canonical, err := canonicalForm(s, nil)
		if err != nil {
			t.Fatalf("%s parses but has no canonical form: %v", text, err)
		}
		again, err := parseAvro(canonical, nil, none)
		if err != nil {
			t.Fatalf("the canonical form %s of %s does not parse: %v", canonical, text, err)
		}
		if c2, err := canonicalForm(again, nil); err != nil || c2 != canonical {
			t.Fatalf("canonical form not stable:\n%s\n%s (%v)", canonical, c2, err)
		}
		stored, err := parseAvro(compactText(text), nil, none)
		if err != nil {
			t.Fatalf("the stored text %s of %s does not parse: %v", compactText(text), text, err)
		}
		if c3, _ := canonicalForm(stored, nil); c3 != canonical {
			t.Fatalf("the stored text has another canonical form:\n%s\n%s", canonical, c3)
		}
		if err := checkReadable(side{schema: s, name: "the new schema", isNew: true}, side{schema: again, name: "version 1"}); err != nil {
			t.Fatalf("%s cannot read what it wrote: %v", text, err)
		}
	})
}
