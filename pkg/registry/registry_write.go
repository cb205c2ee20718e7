package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/surgehq/surge/pkg/observe"
	"go.uber.org/zap"
)

// What a write asks of the registry: a schema registered under a
// subject (parsed, checked for compatibility, given an id), versions
// deleted, a compatibility level set.

// registerRequest is the body of POST /subjects/{subject}/versions and of
// the lookup and compatibility endpoints.
type registerRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	ID         int         `json:"id,omitempty"`      // only to ask for the id the schema already has
	Version    int         `json:"version,omitempty"` // ignored, as Confluent does outside IMPORT mode
	// Metadata and RuleSet are Confluent's data contracts, which this
	// registry does not keep: a request that sets them is refused rather
	// than stored without them.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	RuleSet  json.RawMessage `json:"ruleSet,omitempty"`
}

// candidate is a submitted schema, parsed against the current state.
type candidate struct {
	text      string
	refs      []Reference
	parsed    *side
	canonical string
}

// parseCandidate checks a submitted schema. Only Avro is served.
func parseCandidate(st *state, req registerRequest) (*candidate, error) {
	typ := req.SchemaType
	if typ == "" {
		typ = schemaTypeAvro
	}
	if typ != schemaTypeAvro {
		return nil, apiErr(errInvalidSchema, "Invalid schema: schema type %s is not supported; this registry serves AVRO schemas only", typ)
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"metadata", req.Metadata}, {"ruleSet", req.RuleSet}} {
		if hasContent(f.raw) {
			return nil, apiErr(errInvalidSchema, "Invalid schema: this registry does not keep a schema's %s (Confluent's data contracts); send the schema without %q", f.name, f.name)
		}
	}
	if len(req.Schema) == 0 || len(compactText(req.Schema)) == 0 {
		return nil, apiErr(errInvalidSchema, "Invalid schema: the schema is empty")
	}
	parsed, err := parseAvro(req.Schema, req.References, st.lookup)
	if err != nil {
		return nil, apiErr(errInvalidSchema, "Invalid Avro schema: %v", err)
	}
	canonical, err := canonicalForm(parsed, req.References)
	if err != nil {
		return nil, apiErr(errInvalidSchema, "Invalid Avro schema: %v", err)
	}
	return &candidate{
		text:      compactText(req.Schema),
		refs:      req.References,
		parsed:    &side{schema: parsed, name: "the new schema", isNew: true},
		canonical: canonical,
	}, nil
}

// hasContent reports whether a JSON value holds anything: null, and
// objects and arrays of nothing but such values, are empty; a string (even
// ""), number or boolean anywhere is content. Undecodable JSON cannot
// reach here (the body decoded).
func hasContent(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return true
	}
	var walk func(v any) bool
	walk = func(v any) bool {
		switch t := v.(type) {
		case nil:
			return false
		case map[string]any:
			for _, m := range t {
				if walk(m) {
					return true
				}
			}
			return false
		case []any:
			return slices.ContainsFunc(t, walk)
		default:
			return true
		}
	}
	return walk(v)
}

// versionProblems are the reasons a candidate cannot follow one version.
type versionProblems struct {
	version  *versionInfo
	problems []*incompatibility
}

// checkAgainst checks c against the given versions under level, in their
// order, and returns the versions it fails with their reasons (one per
// direction checked: the first place found). firstOnly stops at the first
// version that fails.
func checkAgainst(c *candidate, level string, against []*versionInfo, firstOnly bool) []versionProblems {
	var out []versionProblems
	for _, v := range against {
		vp := versionProblems{version: v}
		old := side{schema: v.schema.parsed, name: "version " + strconv.Itoa(v.version)}
		if old.schema == nil {
			vp.problems = append(vp.problems, &incompatibility{
				message: fmt.Sprintf("version %d is a %s schema this registry cannot check against", v.version, v.schema.schemaType)})
		} else {
			var errs []error
			if level != CompatForward && level != CompatForwardTransitive {
				errs = append(errs, checkReadable(*c.parsed, old))
			}
			if level != CompatBackward && level != CompatBackwardTransitive {
				errs = append(errs, checkReadable(old, *c.parsed))
			}
			for _, err := range errs {
				var inc *incompatibility
				if errors.As(err, &inc) {
					vp.problems = append(vp.problems, inc)
				}
			}
		}
		if len(vp.problems) > 0 {
			out = append(out, vp)
			if firstOnly {
				break
			}
		}
	}
	return out
}

// incompatibilities checks c against the given versions under level and
// returns one message per failing check, for a refused registration.
func incompatibilities(c *candidate, level string, against []*versionInfo) []string {
	var msgs []string
	for _, vp := range checkAgainst(c, level, against, false) {
		for _, p := range vp.problems {
			msgs = append(msgs, p.message)
		}
	}
	return msgs
}

// checkedVersions are the versions a registration is checked against under
// level: none, the latest, or all (transitive), soft-deleted ones excluded.
func checkedVersions(st *state, subject, level string) []*versionInfo {
	live := st.versionsOf(subject, false)
	switch {
	case level == CompatNone || len(live) == 0:
		return nil
	case level == CompatBackwardTransitive || level == CompatForwardTransitive || level == CompatFullTransitive:
		return live
	default:
		return live[len(live)-1:]
	}
}

// registration is what a writer proposes for a new schema version.
type registration struct {
	subject  string
	version  int
	id       int
	existing bool // already a live version of the subject: nothing to write
	value    []byte
}

func (r *Registry) planRegistration(st *state, subject string, req registerRequest) (*registration, error) {
	c, err := parseCandidate(st, req)
	if err != nil {
		return nil, err
	}
	if v := st.findInSubject(subject, c.canonical, false); v != nil {
		if req.ID > 0 && req.ID != v.schema.id {
			return nil, apiErr(errOperationNotPermitted, "Overwrite new schema with id %d is not permitted: the schema already has id %d under subject %q", req.ID, v.schema.id, subject)
		}
		return &registration{subject: subject, version: v.version, id: v.schema.id, existing: true}, nil
	}
	level := st.compatibility(subject, r.cfg.DefaultCompatibility)
	if msgs := incompatibilities(c, level, checkedVersions(st, subject, level)); len(msgs) > 0 {
		return nil, apiErr(errIncompatible, "Schema being registered is incompatible with an earlier schema for subject %q: %s",
			subject, strings.Join(msgs, "; "))
	}
	id := st.maxID + 1
	if known := st.byCanonical[c.canonical]; known != nil {
		id = known.id
	}
	if req.ID > 0 && req.ID != id {
		return nil, apiErr(errOperationNotPermitted, "Overwrite new schema with id %d is not permitted: choosing ids needs IMPORT mode, which this registry does not support", req.ID)
	}
	reg := &registration{subject: subject, version: st.nextVersion(subject), id: id}
	val := schemaValue{Subject: subject, Version: reg.version, ID: id, References: c.refs, Schema: c.text}
	if known := st.byID[id]; known != nil {
		val.Schema = known.text // keep one text per id
	}
	reg.value, _ = json.Marshal(val) // cannot fail
	return reg, nil
}

// register adds a schema to subject, or finds it there, and returns its id.
// A proposal that lost a race against another instance is planned again.
func (r *Registry) register(ctx context.Context, subject string, req registerRequest) (int, error) {
	ctx, done := r.beginWrite(ctx)
	defer done()
	for attempt := 1; ; attempt++ {
		if err := r.catchUp(ctx); err != nil {
			return 0, storeErr("registering schema", err)
		}
		var reg *registration
		var err error
		r.read(func(st *state) { reg, err = r.planRegistration(st, subject, req) })
		if err != nil {
			return 0, err
		}
		if reg.existing {
			return reg.id, nil
		}
		if err := r.produceAndApply(ctx, [2][]byte{schemaKeyBytes(subject, reg.version), reg.value}); err != nil {
			return 0, storeErr("registering schema", err)
		}
		won := false
		r.read(func(st *state) {
			v := st.subjects[subject][reg.version]
			won = v != nil && v.schema.id == reg.id
		})
		if won {
			r.log.Info("registered schema", zap.String("subject", subject), zap.Int("version", reg.version), zap.Int("id", reg.id))
			return reg.id, nil
		}
		if attempt == maxWriteAttempts {
			return 0, storeErr("registering schema", fmt.Errorf("gave up after %d attempts: other registry instances kept taking the proposed id or version", attempt))
		}
		r.log.Debug("lost a registration race; planning again", zap.String("subject", subject),
			zap.Int("version", reg.version), zap.Int("id", reg.id), zap.Int(observe.KeyAttempts, attempt))
		// Instances that keep proposing the same next version at the
		// same moment keep colliding; a random pause that grows with the
		// attempts breaks the tie (on a real broker, where a round trip
		// takes milliseconds, retrying at once lost eight times in a row).
		select {
		case <-ctx.Done():
			return 0, storeErr("registering schema", ctx.Err())
		case <-time.After(raceBackoff(attempt)):
		}
	}
}

// raceBackoff is the pause before planning a lost registration again:
// random, up to 5 ms per attempt so far, at most 200 ms.
func raceBackoff(attempt int) time.Duration {
	limit := min(time.Duration(attempt)*5*time.Millisecond, 200*time.Millisecond)
	return time.Duration(rand.Int64N(int64(limit) + 1))
}

// deleteVersions soft-deletes (or, permanent, removes) the given versions
// of subject, chosen on current state by pick, and returns their numbers.
func (r *Registry) deleteVersions(ctx context.Context, subject string, permanent bool,
	pick func(st *state) ([]*versionInfo, error)) ([]int, error) {
	ctx, done := r.beginWrite(ctx)
	defer done()
	if err := r.catchUp(ctx); err != nil {
		return nil, storeErr("deleting schema versions", err)
	}
	var recs [][2][]byte
	var nums []int
	var err error
	r.read(func(st *state) {
		var vs []*versionInfo
		if vs, err = pick(st); err != nil {
			return
		}
		for _, v := range vs {
			if by := st.referencedBy(subject, v.version); len(by) > 0 {
				err = apiErr(errReferenceExists, "One or more references exist to version %d of subject %q (schema ids %v)", v.version, subject, by)
				return
			}
		}
		for _, v := range vs {
			nums = append(nums, v.version)
			key := schemaKeyBytes(subject, v.version)
			if permanent {
				recs = append(recs, [2][]byte{key, nil})
				continue
			}
			val, _ := json.Marshal(schemaValue{Subject: subject, Version: v.version, ID: v.schema.id,
				SchemaType: foreignType(v.schema.schemaType), References: v.schema.refs, Schema: v.schema.text, Deleted: true})
			recs = append(recs, [2][]byte{key, val})
		}
		if permanent && len(vs) == len(st.subjects[subject]) {
			if _, ok := st.subjectCompat[subject]; ok {
				recs = append(recs, [2][]byte{configKeyBytes(subject), nil}) // the subject is gone, and so is its config
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if err := r.produceAndApply(ctx, recs...); err != nil {
		return nil, storeErr("deleting schema versions", err)
	}
	r.log.Info("deleted schema versions", zap.String("subject", subject), zap.Ints("versions", nums), zap.Bool("permanent", permanent))
	return nums, nil
}

func foreignType(t string) string {
	if t == schemaTypeAvro {
		return ""
	}
	return t
}

// setCompatibility writes a compatibility level for subject ("" = global);
// level "" clears it.
func (r *Registry) setCompatibility(ctx context.Context, subject, level string) error {
	ctx, done := r.beginWrite(ctx)
	defer done()
	var val []byte
	if level != "" {
		val, _ = json.Marshal(configValue{CompatibilityLevel: level}) // cannot fail
	}
	if err := r.produceAndApply(ctx, [2][]byte{configKeyBytes(subject), val}); err != nil {
		return storeErr("setting compatibility", err)
	}
	r.log.Info("set compatibility", zap.String("subject", subject), zap.String("level", level))
	return nil
}
