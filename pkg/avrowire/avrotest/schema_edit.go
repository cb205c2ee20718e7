package avrotest

import (
	"encoding/json"
	"slices"
	"testing"
)

// EditSchema returns the schema text changed by edit, which gets the
// schema parsed as JSON: what an older or another writer's schema would be.
func EditSchema(t testing.TB, text string, edit func(schema map[string]any)) string {
	t.Helper()
	var s map[string]any
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		t.Fatalf("parsing schema: %v", err)
	}
	edit(s)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("writing schema: %v", err)
	}
	return string(b)
}

// DropFields is an edit for EditSchema that removes the named top-level
// fields of a record schema.
func DropFields(names ...string) func(schema map[string]any) {
	return func(s map[string]any) {
		var kept []any
		for _, f := range s["fields"].([]any) {
			if !slices.Contains(names, f.(map[string]any)["name"].(string)) {
				kept = append(kept, f)
			}
		}
		s["fields"] = kept
	}
}

// WithoutFields returns the record schema text without the named top-level
// fields.
func WithoutFields(t testing.TB, text string, names ...string) string {
	t.Helper()
	return EditSchema(t, text, DropFields(names...))
}
