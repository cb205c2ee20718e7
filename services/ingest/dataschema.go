package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/httpx"
)

// DataValidator checks event data against the JSON Schema the catalog
// gives its event type. Compiled schemas are cached per event type and
// recompiled when the type's schema changes. It is safe for concurrent use;
// a nil *DataValidator validates nothing.
type DataValidator struct {
	mu      sync.RWMutex
	schemas map[string]compiledSchema // by event type name
}

type compiledSchema struct {
	hash   [sha256.Size]byte
	schema *jsonschema.Schema
	err    error // a schema that does not compile stays cached as such
}

// NewDataValidator returns an empty validator.
func NewDataValidator() *DataValidator {
	return &DataValidator{schemas: map[string]compiledSchema{}}
}

// Compile checks that et's data schema compiles, caching it (as
// catalog.EventType.Validate does, with the same catalog.CompileDataSchema).
// A type without a schema passes.
func (v *DataValidator) Compile(et catalog.EventType) error {
	if len(et.DataSchema) == 0 {
		return nil
	}
	_, err := v.schema(et)
	return err
}

// Validate checks data against et's schema. Thin events (nil or null data)
// and types without a schema pass. A violation is a 422 *httpx.Error whose
// Field is the path of the first failing value ("data.total",
// "data.items[2].sku") and whose message is the validator's. A schema that
// does not compile is a plain error: the catalog is at fault, not the
// sender.
func (v *DataValidator) Validate(et catalog.EventType, data json.RawMessage) error {
	return v.validate(et, data, "data")
}

// validate is Validate with the path of data in the request, e.g.
// "data.value" for the Adobe format.
func (v *DataValidator) validate(et catalog.EventType, data json.RawMessage, root string) error {
	if v == nil || len(et.DataSchema) == 0 || isNullJSON(data) {
		return nil
	}
	sch, err := v.schema(et)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeMalformed, Field: root,
			Message: fmt.Sprintf("decoding data: %v", err)}
	}
	err = sch.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("validating data of event type %q: %w", et.Name, err)
	}
	leaf := ve
	for len(leaf.Causes) > 0 {
		leaf = leaf.Causes[0]
	}
	loc := leaf.InstanceLocation
	if req, ok := leaf.ErrorKind.(*kind.Required); ok && len(req.Missing) > 0 {
		loc = append(loc[:len(loc):len(loc)], req.Missing[0])
	}
	msg := "does not match the schema"
	if out := leaf.BasicOutput(); out != nil && out.Error != nil {
		msg = out.Error.String()
	}
	return &httpx.Error{
		Status:  http.StatusUnprocessableEntity,
		Code:    httpx.CodeInvalid,
		Field:   instancePath(root, inst, loc),
		Message: fmt.Sprintf("data does not match the schema of %s: %s", et.Name, msg),
	}
}

// schema returns et's compiled schema from the cache, compiling it when the
// type is new or its schema changed.
func (v *DataValidator) schema(et catalog.EventType) (*jsonschema.Schema, error) {
	hash := sha256.Sum256(et.DataSchema)
	v.mu.RLock()
	c, ok := v.schemas[et.Name]
	v.mu.RUnlock()
	if ok && c.hash == hash {
		return c.schema, c.err
	}
	c = compiledSchema{hash: hash}
	c.schema, c.err = catalog.CompileDataSchema(et)
	v.mu.Lock()
	if v.schemas == nil {
		v.schemas = map[string]compiledSchema{}
	}
	v.schemas[et.Name] = c
	v.mu.Unlock()
	return c.schema, c.err
}

var plainKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// instancePath renders a JSON Schema instance location as a field path:
// root, then ".key" for object members (`["odd key"]` when not a plain
// word) and "[i]" for array elements, telling the two apart by walking
// inst.
func instancePath(root string, inst any, loc []string) string {
	var b strings.Builder
	b.WriteString(root)
	cur := inst
	for _, tok := range loc {
		switch c := cur.(type) {
		case []any:
			b.WriteString("[" + tok + "]")
			cur = nil
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(c) {
				cur = c[i]
			}
		default:
			if plainKeyRE.MatchString(tok) {
				b.WriteString("." + tok)
			} else {
				b.WriteString("[" + strconv.Quote(tok) + "]")
			}
			cur = nil
			if m, ok := c.(map[string]any); ok {
				cur = m[tok]
			}
		}
	}
	return b.String()
}
