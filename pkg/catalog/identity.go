package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Entity identity per source. A sender names an entity by its own id (an
// Akeneo product by its uuid, Magento by its SKU); an IdentityRule says
// which id Surge keys the entity by instead, so the same product sent by
// both sources is one entity with one version sequence and one snapshot.
// Ingest applies the rules (services/ingest, identity.go); these types only
// describe and check them.

// IdentityRule says how the events of one entity type from one source name
// their entity, as set in Source.Identity:
//
//   - Field, when set, is a path in the event's data ("data.product.identifier")
//     whose value is the entity id. It wins whenever the event carries it.
//   - Aliases, when true, looks the sender's own id of the entity (what the
//     format gives: the canonical entity.id, Adobe's id fields, a
//     CloudEvent's data.<entity>.uuid|identifier|code) up in the source's
//     alias table (EntityAlias).
//
// An event neither gives an id is refused at the edge: a rule exists
// precisely so that the sender's own id is never used as is, which would
// fork the entity in two.
type IdentityRule struct {
	Field   string `json:"field,omitempty"`
	Aliases bool   `json:"aliases,omitempty"`
}

// FieldPrefix starts every IdentityRule.Field: the path is in the event's
// data.
const FieldPrefix = "data."

// maxIdentityField bounds an IdentityRule.Field.
const maxIdentityField = 256

func (r IdentityRule) validate(prefix string) []error {
	var errs []error
	if r.Field == "" && !r.Aliases {
		errs = append(errs, fieldErr(prefix, "says nothing: set field (a path such as data.product.identifier), aliases: true, or both"))
	}
	if r.Field != "" {
		if err := checkFieldPath(r.Field); err != nil {
			errs = append(errs, fieldErr(prefix+".field", "%v", err))
		}
	}
	return errs
}

func checkFieldPath(p string) error {
	if len(p) > maxIdentityField {
		return fmt.Errorf("is longer than %d characters", maxIdentityField)
	}
	rest, ok := strings.CutPrefix(p, FieldPrefix)
	if !ok {
		return fmt.Errorf("%q must start with %q: the path is in the event's data, e.g. data.product.identifier", p, FieldPrefix)
	}
	for _, seg := range strings.Split(rest, ".") {
		if seg == "" || strings.ContainsFunc(seg, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("%q must be dot-separated member names without white space, e.g. data.product.identifier", p)
		}
	}
	return nil
}

// Lookup reads the rule's Field from data, a JSON object: the member the
// path names, a non-empty string (trimmed) or a number (its literal
// text). ok is false when the rule has no Field, data is not an object or
// the value is absent, null, empty or of another type.
func (r IdentityRule) Lookup(data json.RawMessage) (id string, ok bool) {
	rest, has := strings.CutPrefix(r.Field, FieldPrefix)
	if r.Field == "" || !has || len(data) == 0 {
		return "", false
	}
	cur := data
	for _, seg := range strings.Split(rest, ".") {
		var obj map[string]json.RawMessage
		if json.Unmarshal(cur, &obj) != nil {
			return "", false
		}
		if cur, has = obj[seg]; !has {
			return "", false
		}
	}
	return ScalarID(cur)
}

// ScalarID is a JSON string (trimmed) or number as an id; ok is false for
// anything else and for an empty string.
func ScalarID(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		s = strings.TrimSpace(s)
		return s, s != ""
	case c == '-' || (c >= '0' && c <= '9'):
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		return string(raw), true
	}
	return "", false
}

func validateIdentity(rules map[string]IdentityRule) []error {
	entities := make([]string, 0, len(rules))
	for e := range rules {
		entities = append(entities, e)
	}
	sort.Strings(entities)
	var errs []error
	for _, e := range entities {
		f := "identity." + e
		if !entityTypeRE.MatchString(e) || len(e) > maxEntityLength {
			errs = append(errs, fieldErr(f, "%q is not an entity type (a lower-case word of a-z, 0-9, '_' and '-')", e))
		}
		errs = append(errs, rules[e].validate(f)...)
	}
	return errs
}

// EntityAlias maps one sender's id of an entity to the entity id Surge
// keys it by: Akeneo product uuid "6a9f8486-…" is product "SKU-1". Aliases
// live in the compacted topic commerce.entity-aliases, keyed by Key, and
// are used by the source's identity rules that set Aliases. They are
// maintained through the admin API (PUT /v1/sources/{id}/aliases/...), as
// the Akeneo connector's mapping table is by its imports.
type EntityAlias struct {
	Source     string    `json:"source"`
	EntityType string    `json:"entity_type"`
	SenderID   string    `json:"sender_id"`
	EntityID   string    `json:"entity_id"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// AliasKey is the record key of an alias: "<source>/<entity type>/<sender
// id>". Source ids and entity types hold no '/', so the sender id is the
// rest whatever it holds.
func AliasKey(source, entityType, senderID string) string {
	return source + "/" + entityType + "/" + senderID
}

// Key is the alias's record key.
func (a EntityAlias) Key() string { return AliasKey(a.Source, a.EntityType, a.SenderID) }

// maxIDLength bounds a sender id and an entity id: a record key must stay
// small.
const maxIDLength = 512

// Validate checks the alias. Errors are *FieldError values, joined, named
// as the JSON fields.
func (a EntityAlias) Validate() error {
	var errs []error
	if !sourceIDRE.MatchString(a.Source) {
		errs = append(errs, fieldErr("source", "%q is not a source id", a.Source))
	}
	if !entityTypeRE.MatchString(a.EntityType) || len(a.EntityType) > maxEntityLength {
		errs = append(errs, fieldErr("entity_type", "%q is not an entity type (a lower-case word of a-z, 0-9, '_' and '-')", a.EntityType))
	}
	for _, f := range []struct{ name, v string }{{"sender_id", a.SenderID}, {"entity_id", a.EntityID}} {
		switch {
		case strings.TrimSpace(f.v) == "":
			errs = append(errs, fieldErr(f.name, "is empty"))
		case f.v != strings.TrimSpace(f.v):
			errs = append(errs, fieldErr(f.name, "%q has leading or trailing white space (ingest trims ids, so it would never match)", f.v))
		case len(f.v) > maxIDLength:
			errs = append(errs, fieldErr(f.name, "is longer than %d bytes", maxIDLength))
		case !utf8.ValidString(f.v) || strings.ContainsFunc(f.v, func(r rune) bool { return r < ' ' || r == 0x7f }):
			errs = append(errs, fieldErr(f.name, "must be UTF-8 text without control characters"))
		}
	}
	return errors.Join(errs...)
}
