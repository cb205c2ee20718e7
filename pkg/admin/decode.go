package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/surgehq/surge/pkg/httpx"
)

// decodeBody reads the JSON request body into v: 415 for a media type
// that is not JSON, 413 past MaxBodyBytes, 400 malformed for bad JSON, an
// unknown field, trailing data, a body that is not a JSON object or a
// field that is null (see nullField). readOnly reports fields that exist
// in responses but cannot be set; naming one is a 400 invalid on that
// field.
func (a *API) decodeBody(w http.ResponseWriter, r *http.Request, v any, readOnly func(string) bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !readAsJSON(mt) {
			return httpx.Errorf(http.StatusUnsupportedMediaType, httpx.CodeUnsupportedMedia, "Content-Type %q is not JSON; send application/json", ct)
		}
	}
	raw, err := httpx.ReadBody(w, r, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		// One JSON value only.
		if _, err := dec.Token(); err != io.EOF {
			return httpx.Errorf(http.StatusBadRequest, httpx.CodeMalformed, "the body has data after its JSON object")
		}
		return checkShape(raw)
	}
	var (
		syn  *json.SyntaxError
		typ  *json.UnmarshalTypeError
		name string
	)
	switch {
	case errors.Is(err, io.EOF):
		return httpx.Errorf(http.StatusBadRequest, httpx.CodeMalformed, "the body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return httpx.Errorf(http.StatusBadRequest, httpx.CodeMalformed, "the body is not valid JSON: it ends early")
	case errors.As(err, &syn):
		return httpx.Errorf(http.StatusBadRequest, httpx.CodeMalformed, "the body is not valid JSON: %v (at byte %d)", syn, syn.Offset)
	case errors.As(err, &typ):
		e := &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeMalformed, Field: typ.Field,
			Message: fmt.Sprintf("expected %s, got a JSON %s", jsonKind(typ), typ.Value)}
		if typ.Field == "" {
			e.Message = fmt.Sprintf("the body must be a JSON object, got a JSON %s", typ.Value)
		}
		return e
	case unknownField(err, &name):
		if readOnly != nil && readOnly(name) {
			return &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: name,
				Message: fmt.Sprintf("%s is read-only: it is set by the server and cannot be given or changed", name)}
		}
		return &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeMalformed, Field: name,
			Message: fmt.Sprintf("unknown field %q", name)}
	}
	return httpx.Errorf(http.StatusBadRequest, httpx.CodeMalformed, "the body is not valid JSON: %v", err)
}

// decodeNamed decodes the body of a PUT that stores one named entry (a
// source, an event type) into v, as decodeBody does, and checks the name
// the body gives, *name, against the path's value of param: a name left
// out is the path's, another one is a 422 on field.
func (a *API) decodeNamed(w http.ResponseWriter, r *http.Request, v any, name *string, field, param string) error {
	if err := a.decodeBody(w, r, v, nil); err != nil {
		return err
	}
	path := r.PathValue(param)
	switch {
	case *name == "":
		*name = path
	case *name != path:
		return unprocessable(field, "\""+*name+"\" does not match the "+param+" in the path, \""+path+"\"; leave it out or make them equal")
	}
	return nil
}

// freeForm names the top-level request fields whose value is any JSON,
// null included (an event type's data_schema).
var freeForm = map[string]bool{"data_schema": true}

// checkShape refuses, after a successful decode, what encoding/json lets
// through but the OpenAPI document does not: a body that is not an
// object (null decodes into a struct as nothing at all) and a null field
// (it decodes as the field left out, so {"url":null} would be a PATCH
// that changes nothing, or a create with defaults).
func checkShape(raw []byte) error {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return httpx.Errorf(http.StatusBadRequest, httpx.CodeMalformed, "the body is not valid JSON: %v", err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return httpx.Errorf(http.StatusBadRequest, httpx.CodeMalformed, "the body must be a JSON object, got a JSON %s", jsonType(doc))
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if freeForm[k] {
			continue
		}
		if field := nullField(k, obj[k]); field != "" {
			return &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeMalformed, Field: field,
				Message: "is null; leave the field out instead"}
		}
	}
	return nil
}

// nullField is the path of the first null at or under v, which is at
// path; "" when there is none. Object keys are visited in sorted order so
// the answer is stable.
func nullField(path string, v any) string {
	switch v := v.(type) {
	case nil:
		return path
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if f := nullField(path+"."+k, v[k]); f != "" {
				return f
			}
		}
	case []any:
		for i, x := range v {
			if f := nullField(fmt.Sprintf("%s[%d]", path, i), x); f != "" {
				return f
			}
		}
	}
	return ""
}

// jsonType names the JSON type of a value decoded into any.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	}
	return "object"
}

// unknownField recognizes encoding/json's error for a field that
// DisallowUnknownFields refused (it has no type of its own) and stores the
// field's name.
func unknownField(err error, name *string) bool {
	rest, ok := strings.CutPrefix(err.Error(), `json: unknown field "`)
	if !ok {
		return false
	}
	*name = strings.TrimSuffix(rest, `"`)
	return true
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(e *json.UnmarshalTypeError) string {
	switch k := e.Type.Kind().String(); {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "float"):
		if e.Value == "number" {
			return "a number in range (" + e.Type.String() + ")"
		}
		return "a number"
	case k == "string":
		return "a string"
	case k == "bool":
		return "true or false"
	case k == "slice":
		return "an array"
	case k == "map", k == "struct":
		return "an object"
	case k == "ptr":
		return "a " + strings.TrimPrefix(e.Type.String(), "*")
	}
	return e.Type.String()
}
