package admin

import (
	"errors"
	"net/http"
	"strings"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/httpx"
)

// A refused field value is answered with one of two statuses, so that
// what the OpenAPI document promises can be checked against the handlers
// (scripts/schemathesis.sh does):
//
//   - 400 invalid: the request breaks the document (a pattern, an enum,
//     a bound, a required field). A request that fits the document never
//     gets a 400.
//   - 422 invalid: the request fits the document but breaks a rule the
//     document states only in words: a CEL filter that does not compile,
//     a target the SSRF rules refuse, a Go duration out of range, a
//     header name (OpenAPI 3.0 cannot constrain map keys), a body id that
//     differs from the path's.
//
// Each handler names, with a docRule, the fields whose every rule the
// document states; a failure on one of them is a 400, any other a 422.

// validationError turns joined *catalog.FieldError values into an invalid
// error naming the first field; the message lists every problem. It is a
// 400 when one of the failing fields is a docRule field, else a 422.
func validationError(err error, docRule func(field string) bool) error {
	fes := fieldErrors(err)
	if len(fes) == 0 {
		return httpx.Errorf(http.StatusUnprocessableEntity, httpx.CodeInvalid, "%v", err)
	}
	status := http.StatusUnprocessableEntity
	for _, fe := range fes {
		if docRule != nil && docRule(fe.Field) {
			status = http.StatusBadRequest
		}
	}
	e := &httpx.Error{Status: status, Code: httpx.CodeInvalid, Field: fes[0].Field, Message: fes[0].Message}
	if len(fes) > 1 {
		parts := make([]string, len(fes))
		for i, fe := range fes {
			parts[i] = fe.Error()
		}
		e.Message = strings.Join(parts, "; ")
	}
	return e
}

// fieldErrors flattens joined errors into field errors; one that is not a
// *catalog.FieldError becomes one without a field.
func fieldErrors(err error) []*catalog.FieldError {
	var fes []*catalog.FieldError
	for _, e := range catalog.Leaves(err) {
		var fe *catalog.FieldError
		if !errors.As(e, &fe) {
			fe = &catalog.FieldError{Message: e.Error()}
		}
		fes = append(fes, fe)
	}
	return fes
}

// unprocessable is a 422 invalid on field.
func unprocessable(field, msg string) error {
	return &httpx.Error{Status: http.StatusUnprocessableEntity, Code: httpx.CodeInvalid, Field: field, Message: msg}
}

// subscriptionDocRule: event type patterns, their count and uniqueness,
// max_in_flight, rate_limit_per_s and signature_scheme are stated whole in
// the document.
func subscriptionDocRule(field string) bool {
	return field == "event_types" || strings.HasPrefix(field, "event_types[") ||
		field == "max_in_flight" || field == "rate_limit_per_s" || field == "signature_scheme"
}

// sourceDocRule: the id and the signature scheme (tolerance_s has a rule
// across fields: it needs timestamp_header).
func sourceDocRule(field string) bool {
	return field == "id" || field == "signature.scheme"
}

// eventTypeDocRule: the name and the entity type.
func eventTypeDocRule(field string) bool {
	return field == "name" || field == "entity_type"
}

// aliasDocRule: the entity type (a batch item's too); sender and entity
// ids have white-space rules the document states in words.
func aliasDocRule(field string) bool {
	return field == "entity_type" || strings.HasSuffix(field, ".entity_type")
}
