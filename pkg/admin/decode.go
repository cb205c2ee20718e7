package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/surgehq/surge/pkg/httpx"
)

// decodeBody reads the JSON request body into v: 415 for a media type
// that is not JSON, 413 past MaxBodyBytes, 400 malformed for bad JSON, an
// unknown field or trailing data. readOnly reports fields that exist in
// responses but cannot be set; naming one is a 400 invalid on that field.
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
		return nil
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
