package registry

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/hamba/avro/v2"
)

// Record key types on the topic, as Confluent's registry writes them.
const (
	keyTypeSchema = "SCHEMA"
	keyTypeConfig = "CONFIG"
)

// recordKey is the JSON key of a record on the topic. Field order matters:
// compaction compares key bytes, and this is the order Confluent writes.
type recordKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject"`
	Version int     `json:"version,omitempty"`
	Magic   int     `json:"magic"`
}

// schemaValue is the value of a SCHEMA record: one version of a subject.
type schemaValue struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"` // omitted for AVRO
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted"`
}

// configValue is the value of a CONFIG record.
type configValue struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

func schemaKeyBytes(subject string, version int) []byte {
	b, _ := json.Marshal(recordKey{KeyType: keyTypeSchema, Subject: &subject, Version: version, Magic: 1}) // cannot fail
	return b
}

// configKeyBytes is the key of the global config when subject is "".
func configKeyBytes(subject string) []byte {
	k := recordKey{KeyType: keyTypeConfig}
	if subject != "" {
		k.Subject = &subject
	}
	b, _ := json.Marshal(k) // cannot fail
	return b
}

// schemaInfo is one schema, shared by every subject version that uses it.
type schemaInfo struct {
	id         int
	schemaType string // "AVRO" unless a foreign record says otherwise
	text       string // as stored on the topic
	refs       []Reference
	canonical  string      // what "the same schema" means, see canonicalForm
	parsed     avro.Schema // nil when the schema could not be parsed
	uses       int         // subject versions (soft-deleted included) using it
}

// versionInfo is one version of a subject. Only deleted (and the schema's
// uses) change after creation; read those under the registry's lock.
type versionInfo struct {
	subject string
	version int
	schema  *schemaInfo
	deleted bool // soft-deleted: hidden from listings, id still resolves
}

// state is the registry's content, rebuilt from the topic by apply. It is
// not safe for concurrent use; Registry guards it.
type state struct {
	byID          map[int]*schemaInfo
	byCanonical   map[string]*schemaInfo // the lowest id bound to a canonical form
	subjects      map[string]map[int]*versionInfo
	maxID         int               // highest id ever applied, never decreases
	globalCompat  string            // "" until a global CONFIG record sets it
	subjectCompat map[string]string // subject-level compatibility
}

func newState() *state {
	return &state{
		byID:          map[int]*schemaInfo{},
		byCanonical:   map[string]*schemaInfo{},
		subjects:      map[string]map[int]*versionInfo{},
		subjectCompat: map[string]string{},
	}
}

// apply changes the state by one record of the topic and returns why the
// record was ignored, or "" when it was applied. The outcome depends only
// on the state and the record, never on time or on which instance applies
// it, so every instance reading the same log reaches the same state. These
// are the rules that decide races between writers (see the package
// comment):
//
//   - A SCHEMA record for a (subject, version) that exists with another id
//     is ignored: the version was taken first. With the same id it updates
//     the soft-delete flag.
//   - A new (subject, version) whose id is bound to a different schema is
//     ignored: the id was taken first.
//   - A new live version whose schema already is a live version of the
//     subject is ignored: the schema was registered there first.
//   - A tombstone removes the version; an id no version uses is unbound,
//     but ids are never reused (maxID only grows).
//   - CONFIG records set (or, as tombstones, clear) a compatibility level.
//   - Anything else (other key types Confluent writes: NOOP, MODE, ...) is
//     ignored.
func (s *state) apply(key, value []byte) string {
	var k recordKey
	if err := json.Unmarshal(key, &k); err != nil {
		return fmt.Sprintf("undecodable key: %v", err)
	}
	switch k.KeyType {
	case keyTypeSchema:
		return s.applySchema(k, value)
	case keyTypeConfig:
		return s.applyConfig(k, value)
	default:
		return "key type " + k.KeyType + " is not used by this registry"
	}
}

func (s *state) applySchema(k recordKey, value []byte) string {
	if k.Subject == nil || *k.Subject == "" || k.Version < 1 {
		return "SCHEMA key without subject or version"
	}
	subject := *k.Subject
	if value == nil {
		s.removeVersion(subject, k.Version)
		return ""
	}
	var v schemaValue
	if err := json.Unmarshal(value, &v); err != nil {
		return fmt.Sprintf("undecodable SCHEMA value: %v", err)
	}
	if v.Subject != subject || v.Version != k.Version || v.ID < 1 {
		return "SCHEMA value does not match its key"
	}
	versions := s.subjects[subject]
	if cur := versions[v.Version]; cur != nil {
		if cur.schema.id != v.ID {
			return fmt.Sprintf("version %d of %q already has id %d", v.Version, subject, cur.schema.id)
		}
		cur.deleted = v.Deleted
		return ""
	}
	info := s.newSchemaInfo(v)
	bound := s.byID[v.ID]
	if bound != nil && bound.canonical != info.canonical {
		return fmt.Sprintf("id %d is already bound to another schema", v.ID)
	}
	if !v.Deleted {
		for _, ver := range versions {
			if !ver.deleted && ver.schema.id == v.ID {
				return fmt.Sprintf("id %d already is version %d of %q", v.ID, ver.version, subject)
			}
		}
	}
	if bound == nil {
		bound = info
		s.byID[v.ID] = info
		if c := s.byCanonical[info.canonical]; c == nil || c.id > v.ID {
			s.byCanonical[info.canonical] = info
		}
	}
	bound.uses++
	if versions == nil {
		versions = map[int]*versionInfo{}
		s.subjects[subject] = versions
	}
	versions[v.Version] = &versionInfo{subject: subject, version: v.Version, schema: bound, deleted: v.Deleted}
	s.maxID = max(s.maxID, v.ID)
	return ""
}

// newSchemaInfo parses a stored schema. A schema that does not parse (a
// foreign type, or a reference that is gone) still gets a canonical form
// built from its text, so the outcome stays deterministic.
func (s *state) newSchemaInfo(v schemaValue) *schemaInfo {
	info := &schemaInfo{id: v.ID, schemaType: v.SchemaType, text: v.Schema, refs: v.References}
	if info.schemaType == "" {
		info.schemaType = schemaTypeAvro
	}
	if info.schemaType == schemaTypeAvro {
		if parsed, err := parseAvro(v.Schema, v.References, s.lookup); err == nil {
			if c, err := canonicalForm(parsed, v.References); err == nil {
				info.parsed, info.canonical = parsed, c
				return info
			}
		}
	}
	refs, _ := json.Marshal(v.References) // cannot fail
	info.canonical = "!" + info.schemaType + "\x00" + compactText(v.Schema) + "\x00" + string(refs)
	return info
}

func (s *state) removeVersion(subject string, version int) {
	versions := s.subjects[subject]
	ver := versions[version]
	if ver == nil {
		return
	}
	delete(versions, version)
	if len(versions) == 0 {
		delete(s.subjects, subject)
	}
	ver.schema.uses--
	if ver.schema.uses > 0 {
		return
	}
	gone := ver.schema
	delete(s.byID, gone.id)
	if s.byCanonical[gone.canonical] == gone {
		delete(s.byCanonical, gone.canonical)
		// Another id may hold the same schema (written by another
		// registry); the lowest one takes over.
		for _, other := range s.byID {
			if other.canonical == gone.canonical {
				if c := s.byCanonical[gone.canonical]; c == nil || c.id > other.id {
					s.byCanonical[gone.canonical] = other
				}
			}
		}
	}
}

func (s *state) applyConfig(k recordKey, value []byte) string {
	level := ""
	if value != nil {
		var v configValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Sprintf("undecodable CONFIG value: %v", err)
		}
		l, ok := parseCompat(v.CompatibilityLevel)
		if !ok {
			return fmt.Sprintf("unknown compatibility level %q", v.CompatibilityLevel)
		}
		level = l
	}
	switch {
	case k.Subject == nil:
		s.globalCompat = level
	case level == "":
		delete(s.subjectCompat, *k.Subject)
	default:
		s.subjectCompat[*k.Subject] = level
	}
	return ""
}

// lookup finds a version, soft-deleted or not.
func (s *state) lookup(subject string, version int) (*schemaInfo, bool) {
	if v := s.subjects[subject][version]; v != nil {
		return v.schema, true
	}
	return nil, false
}

// versionsOf returns the versions of subject in ascending order, the
// soft-deleted ones only when deleted is set.
func (s *state) versionsOf(subject string, deleted bool) []*versionInfo {
	var out []*versionInfo
	for _, v := range s.subjects[subject] {
		if deleted || !v.deleted {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out
}

// subjectNames lists subjects with at least one version (live unless
// deleted is set), sorted.
func (s *state) subjectNames(deleted bool, prefix string) []string {
	out := []string{}
	for name := range s.subjects {
		if strings.HasPrefix(name, prefix) && len(s.versionsOf(name, deleted)) > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// latest is the highest version of subject, or nil.
func (s *state) latest(subject string, deleted bool) *versionInfo {
	vs := s.versionsOf(subject, deleted)
	if len(vs) == 0 {
		return nil
	}
	return vs[len(vs)-1]
}

// nextVersion is the version a new registration under subject gets: one
// past every version still on record, soft-deleted ones included.
func (s *state) nextVersion(subject string) int {
	next := 1
	for v := range s.subjects[subject] {
		next = max(next, v+1)
	}
	return next
}

// findInSubject returns the version of subject holding the schema with
// that canonical form, preferring a live one.
func (s *state) findInSubject(subject, canonical string, deleted bool) *versionInfo {
	var found *versionInfo
	for _, v := range s.versionsOf(subject, deleted) {
		if v.schema.canonical == canonical && (found == nil || found.deleted) {
			found = v
		}
	}
	return found
}

// usages lists the subject versions using id, sorted by subject and version.
func (s *state) usages(id int, deleted bool) []*versionInfo {
	var out []*versionInfo
	for _, name := range slices.Sorted(maps.Keys(s.subjects)) {
		for _, v := range s.versionsOf(name, deleted) {
			if v.schema.id == id {
				out = append(out, v)
			}
		}
	}
	return out
}

// referencedBy lists the ids of live schemas referencing subject's version.
func (s *state) referencedBy(subject string, version int) []int {
	seen := map[int]bool{}
	for _, versions := range s.subjects {
		for _, v := range versions {
			if v.deleted || seen[v.schema.id] {
				continue
			}
			for _, r := range v.schema.refs {
				if r.Subject == subject && r.Version == version {
					seen[v.schema.id] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// compatibility is the level that applies to subject.
func (s *state) compatibility(subject, def string) string {
	if l, ok := s.subjectCompat[subject]; ok && subject != "" {
		return l
	}
	if s.globalCompat != "" {
		return s.globalCompat
	}
	return def
}
