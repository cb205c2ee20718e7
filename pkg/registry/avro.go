package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hamba/avro/v2"
)

// Reference is a named type a schema takes from another subject's version
// (Confluent's schema references). For Avro, Name is the referenced type's
// full name.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// schemaTypeAvro is the only schema type served. Confluent omits
// "schemaType" from its answers for Avro, and so do we.
const schemaTypeAvro = "AVRO"

// maxReferenceDepth bounds how deep references of references may nest.
const maxReferenceDepth = 32

// lookupFunc finds a registered version, soft-deleted ones included (a
// reference keeps pointing at a version after it is soft-deleted).
type lookupFunc func(subject string, version int) (*schemaInfo, bool)

// parseAvro parses text with hamba/avro after loading its references into a
// fresh cache, so a named type from one subject never leaks into another
// (hamba's package-level cache would let it). Parsing never panics: a panic
// inside the parser becomes an error.
func parseAvro(text string, refs []Reference, lookup lookupFunc) (avro.Schema, error) {
	cache := &avro.SchemaCache{}
	if err := loadReferences(cache, refs, lookup, 0); err != nil {
		return nil, err
	}
	return parseWithCache(text, cache)
}

func loadReferences(cache *avro.SchemaCache, refs []Reference, lookup lookupFunc, depth int) error {
	if len(refs) > 0 && depth >= maxReferenceDepth {
		return fmt.Errorf("references nest deeper than %d levels", maxReferenceDepth)
	}
	for _, ref := range refs {
		if ref.Subject == "" || ref.Version < 1 {
			return fmt.Errorf("reference %q needs a subject and a version >= 1", ref.Name)
		}
		target, ok := lookup(ref.Subject, ref.Version)
		if !ok {
			return fmt.Errorf("reference %q: version %d of subject %q is not registered", ref.Name, ref.Version, ref.Subject)
		}
		if err := loadReferences(cache, target.refs, lookup, depth+1); err != nil {
			return fmt.Errorf("loading reference %q: %w", ref.Name, err)
		}
		if _, err := parseWithCache(target.text, cache); err != nil {
			return fmt.Errorf("parsing reference %q (subject %q version %d): %w", ref.Name, ref.Subject, ref.Version, err)
		}
	}
	return nil
}

func parseWithCache(text string, cache *avro.SchemaCache) (s avro.Schema, err error) {
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("avro parser panicked: %v", p)
		}
	}()
	return avro.ParseWithCache(text, "", cache)
}

// canonicalForm is the text two registrations are compared by: the parsed
// schema written back by hamba/avro, which fixes the key order and drops
// whitespace but keeps everything that matters to readers (defaults,
// aliases, logical types, custom properties), plus the references. This is
// what Confluent does too: it compares parsed schemas, not strings.
func canonicalForm(s avro.Schema, refs []Reference) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("writing schema back as JSON: %w", err)
	}
	if len(refs) == 0 {
		return string(b), nil
	}
	r, err := json.Marshal(refs)
	if err != nil {
		return "", fmt.Errorf("encoding references: %w", err)
	}
	return string(b) + "\x00" + string(r), nil
}

// compactText is what is stored for a submitted schema: its JSON with
// insignificant whitespace removed, otherwise exactly as written (no number
// or key-order changes), or the trimmed text when it is not JSON (a bare
// primitive name).
func compactText(text string) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(text)); err != nil {
		return strings.TrimSpace(text)
	}
	return buf.String()
}
