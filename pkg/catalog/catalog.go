// Package catalog owns what Surge knows about its senders and their events:
// the event types (canonical names, the aliases platforms send, the entity
// type each one is about, whether it deletes the entity, an optional JSON
// Schema for its data) and the sources (how a sender signs its requests and
// where thin events of each entity type are loaded from).
//
// Ingest resolves and checks every incoming event against a Catalog; enrich
// reads a Source's loaders; the admin API changes both at run time. The
// package does no I/O.
package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// FieldError is a validation failure of one field of a Source or an
// EventType. Field is a path such as "signature.secret" or
// "loaders.order.url", so the admin API can answer 422 naming it.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Leaves lists the errors err joins (errors.Join, at any depth), or err
// itself when it joins none; nil for nil. Validation joins one error per
// problem, most of them *FieldError.
func Leaves(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, Leaves(e)...)
	}
	return out
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// EventType is one kind of event the pipeline accepts, as set by
// PUT /v1/event-types/{type}.
type EventType struct {
	// Name is the canonical type, e.g. "order.placed". Subscriptions match
	// it and delivered webhooks carry it.
	Name string `json:"name"`
	// EntityType is what the event is about ("order", "product"...). When
	// set, an event of this type must name this entity type; when empty,
	// the sender's entity type is taken as given.
	EntityType string `json:"entity_type,omitempty"`
	// Aliases are other names senders use for this type, e.g. the Adobe
	// starter kit's "be-observer.catalog_product_update".
	Aliases []string `json:"aliases,omitempty"`
	// Description is for people.
	Description string `json:"description,omitempty"`
	// DataSchema is an optional JSON Schema (draft 2020-12 unless it says
	// otherwise) the event's data must satisfy. Thin events are not checked.
	DataSchema json.RawMessage `json:"data_schema,omitempty"`
	// Delete marks a type whose events delete the entity.
	Delete bool `json:"delete,omitempty"`
}

var (
	// typeNameRE: lower-case dotted words; no wildcards, which are
	// subscription patterns.
	typeNameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$`)
	entityTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
)

const (
	maxTypeNameLen  = 128
	maxAliasLen     = 256
	maxEntityLength = 64
)

// ReservedPrefix starts the types of Surge's own operator events
// (pkg/opsevent): no catalog type or alias may start with it, so ingest
// refuses them from every sender (an unknown type) and only Surge writes
// them.
const ReservedPrefix = "surge."

// Validate checks the event type on its own (not against other types of a
// catalog). Errors are *FieldError values, joined.
func (et EventType) Validate() error {
	var errs []error
	switch {
	case et.Name == "":
		errs = append(errs, fieldErr("name", "is empty"))
	case len(et.Name) > maxTypeNameLen:
		errs = append(errs, fieldErr("name", "is longer than %d characters", maxTypeNameLen))
	case !typeNameRE.MatchString(et.Name):
		errs = append(errs, fieldErr("name", "%q must be lower-case dotted words of a-z, 0-9, '_' and '-'", et.Name))
	case strings.HasPrefix(et.Name, ReservedPrefix):
		errs = append(errs, fieldErr("name", "%q is reserved: types starting with %q are Surge's own operator events", et.Name, ReservedPrefix))
	}
	if et.EntityType != "" && (len(et.EntityType) > maxEntityLength || !entityTypeRE.MatchString(et.EntityType)) {
		errs = append(errs, fieldErr("entity_type", "%q must be a lower-case word of a-z, 0-9, '_' and '-' of at most %d characters", et.EntityType, maxEntityLength))
	}
	seen := make(map[string]bool, len(et.Aliases))
	for i, a := range et.Aliases {
		f := fmt.Sprintf("aliases[%d]", i)
		switch {
		case a == "":
			errs = append(errs, fieldErr(f, "is empty"))
		case len(a) > maxAliasLen:
			errs = append(errs, fieldErr(f, "is longer than %d characters", maxAliasLen))
		case strings.ContainsFunc(a, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			errs = append(errs, fieldErr(f, "%q contains white space or control characters", a))
		case a == et.Name:
			errs = append(errs, fieldErr(f, "%q is the type's own name", a))
		case strings.HasPrefix(a, ReservedPrefix):
			errs = append(errs, fieldErr(f, "%q is reserved: names starting with %q are Surge's own operator events", a, ReservedPrefix))
		case seen[a]:
			errs = append(errs, fieldErr(f, "%q is listed twice", a))
		}
		seen[a] = true
	}
	if len(et.DataSchema) > 0 {
		var v any
		if err := json.Unmarshal(et.DataSchema, &v); err != nil {
			errs = append(errs, fieldErr("data_schema", "is not valid JSON: %v", err))
		} else {
			switch v.(type) {
			case map[string]any, bool:
				// The schema must compile, or ingest could check no
				// event of the type (a 500 for each).
				if _, err := CompileDataSchema(et); err != nil {
					errs = append(errs, fieldErr("data_schema", "is not a usable JSON Schema: %s", oneLine(err)))
				}
			default:
				errs = append(errs, fieldErr("data_schema", "must be a JSON Schema object or boolean"))
			}
		}
	}
	return errors.Join(errs...)
}

// oneLine is err's message with its lines joined, for a field error.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ; ")), " ")
}

func (et EventType) clone() EventType {
	et.Aliases = slices.Clone(et.Aliases)
	et.DataSchema = slices.Clone(et.DataSchema)
	return et
}

// Catalog is the set of known event types. It is safe for concurrent use;
// lookups never block behind writers. The zero value is an empty catalog.
type Catalog struct {
	mu   sync.Mutex // serializes Put and Replace
	snap atomic.Pointer[snapshot]
}

// snapshot is an immutable state of the catalog.
type snapshot struct {
	types map[string]EventType // by canonical name
	names map[string]string    // canonical name or alias -> canonical name
}

// New returns a catalog holding types. It is meant for fixed, known-good
// lists such as Builtin() and panics when they do not validate, as
// regexp.MustCompile does; build catalogs from user input with an empty
// New() and Replace.
func New(types ...EventType) *Catalog {
	c := &Catalog{}
	if err := c.Replace(types); err != nil {
		panic(fmt.Sprintf("catalog.New: %v", err))
	}
	return c
}

func (c *Catalog) load() *snapshot {
	if c == nil {
		return nil
	}
	return c.snap.Load()
}

// Lookup resolves a sender's type name, canonical or alias, to its event
// type. The result's slices are shared with the catalog: do not modify them.
func (c *Catalog) Lookup(name string) (EventType, bool) {
	s := c.load()
	if s == nil {
		return EventType{}, false
	}
	canonical, ok := s.names[name]
	if !ok {
		return EventType{}, false
	}
	return s.types[canonical], true
}

// List returns every event type, sorted by name.
func (c *Catalog) List() []EventType {
	s := c.load()
	if s == nil {
		return nil
	}
	out := make([]EventType, 0, len(s.types))
	for _, et := range s.types {
		out = append(out, et.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Put adds et, or replaces the type of the same name (aliases included).
// It fails, changing nothing, when et does not validate or one of its names
// is already taken by another type.
func (c *Catalog) Put(et EventType) error {
	if err := et.Validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := &snapshot{types: map[string]EventType{}, names: map[string]string{}}
	if cur := c.snap.Load(); cur != nil {
		for name, t := range cur.types {
			if name == et.Name {
				continue
			}
			next.types[name] = t
			next.names[name] = name
			for _, a := range t.Aliases {
				next.names[a] = name
			}
		}
	}
	if err := next.add(et.clone()); err != nil {
		return err
	}
	c.snap.Store(next)
	return nil
}

// Replace swaps the whole catalog for types. It fails, changing nothing,
// when a type does not validate or two types share a name or an alias.
func (c *Catalog) Replace(types []EventType) error {
	next := &snapshot{types: make(map[string]EventType, len(types)), names: make(map[string]string, 2*len(types))}
	for i, et := range types {
		if err := et.Validate(); err != nil {
			return fmt.Errorf("validating event type %d (%q): %w", i, et.Name, err)
		}
		if err := next.add(et.clone()); err != nil {
			return fmt.Errorf("adding event type %d (%q): %w", i, et.Name, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snap.Store(next)
	return nil
}

// add puts a validated et into a snapshot under construction.
func (s *snapshot) add(et EventType) error {
	if owner, ok := s.names[et.Name]; ok {
		if owner == et.Name {
			return fieldErr("name", "%q is defined twice", et.Name)
		}
		return fieldErr("name", "%q is already an alias of %q", et.Name, owner)
	}
	for i, a := range et.Aliases {
		if owner, ok := s.names[a]; ok {
			return fieldErr(fmt.Sprintf("aliases[%d]", i), "%q is already a name or alias of %q", a, owner)
		}
	}
	s.types[et.Name] = et
	s.names[et.Name] = et.Name
	for _, a := range et.Aliases {
		s.names[a] = et.Name
	}
	return nil
}
