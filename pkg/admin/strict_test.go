package admin_test

import (
	"net/http"
	"testing"

	"github.com/surgehq/surge/pkg/admin"
)

// Findings of the Schemathesis run (scripts/schemathesis.sh): requests the
// OpenAPI document refuses must be refused, and must write nothing.

// A JSON null decodes into a Go struct as nothing at all: PUT
// /v1/event-types/0 with the body null created an event type named "0".
func TestNullBodyIsRefusedAndWritesNothing(t *testing.T) {
	e := newEnv(t, admin.Config{})
	for _, c := range []struct{ method, path string }{
		{"PUT", "/v1/event-types/zzz"},
		{"PUT", "/v1/sources/zzz"},
		{"POST", "/v1/subscriptions"},
		{"POST", "/v1/dlq/replays"},
	} {
		r := e.do(c.method, c.path, "null")
		r.wantError(t, http.StatusBadRequest, "malformed", "", "must be a JSON object, got a JSON null")
	}
	if _, ok := e.types.Get("zzz"); ok {
		t.Error("PUT /v1/event-types/zzz with a null body stored an event type")
	}
	if _, ok := e.sources.Get("zzz"); ok {
		t.Error("PUT /v1/sources/zzz with a null body stored a source")
	}
	if n := e.replayCount(); n != 1 {
		t.Errorf("%d replays after a POST /v1/dlq/replays with a null body, want the 1 there was", n)
	}
}

// A null field decodes as the field left out: {"until":null} started a
// replay of everything, {"url":null} was a PATCH that changed nothing.
func TestNullFieldIsRefused(t *testing.T) {
	e := newEnv(t, admin.Config{})
	id := e.create(`{"url":"https://hooks.example.com/","event_types":["*"]}`)["id"].(string)
	for _, c := range []struct{ method, path, body, field string }{
		{"POST", "/v1/dlq/replays", `{"until":null}`, "until"},
		{"PATCH", "/v1/subscriptions/" + id, `{"url":null}`, "url"},
		{"PATCH", "/v1/subscriptions/" + id, `{"headers":{"X-A":null}}`, "headers.X-A"},
		{"POST", "/v1/subscriptions", `{"url":"https://hooks.example.com/","event_types":["*",null]}`, "event_types[1]"},
		{"PUT", "/v1/sources/s1", `{"allow_unsigned":true,"signature":null}`, "signature"},
	} {
		r := e.do(c.method, c.path, c.body)
		r.wantError(t, http.StatusBadRequest, "malformed", c.field, "is null")
	}
	if n := e.replayCount(); n != 1 {
		t.Errorf("%d replays after a refused replay request, want the 1 there was", n)
	}
	if _, ok := e.sources.Get("s1"); ok {
		t.Error("a refused source PUT stored the source")
	}
	if n := len(e.subs.List()); n != 1 {
		t.Errorf("%d subscriptions after refused creates, want 1", n)
	}
	// An event type's data_schema is any JSON Schema, nulls included.
	r := e.do("PUT", "/v1/event-types/order.noted", `{"data_schema":{"properties":{"x":{"const":null}}}}`)
	if r.status != http.StatusCreated {
		t.Fatalf("a data_schema with a null const: %d %s", r.status, r.body)
	}
}

// replayCount is how many replays GET /v1/dlq/replays lists.
func (e *env) replayCount() int {
	e.t.Helper()
	r := e.do("GET", "/v1/dlq/replays", nil)
	list, _ := r.json(e.t)["replays"].([]any)
	return len(list)
}

// A request that fits the document but breaks a rule the document states
// only in words is a 422, never a 400 (invalid.go): Schemathesis holds a
// 400 to a schema-valid request as the document being looser than the
// handler.
func TestRuleInWordsOnlyIsA422(t *testing.T) {
	e := newEnv(t, admin.Config{})
	for _, c := range []struct{ method, path, body, field string }{
		// tolerance_s is in range, but needs timestamp_header.
		{"PUT", "/v1/sources/s1", `{"signature":{"scheme":"hmac-sha256-hex","secret":"k","tolerance_s":86399}}`, "signature.tolerance_s"},
		{"PUT", "/v1/sources/s1", `{"id":"s2","allow_unsigned":true}`, "id"},
		{"PUT", "/v1/event-types/order.noted", `{"name":"order.placed"}`, "name"},
		{"POST", "/v1/subscriptions", `{"url":"https://hooks.example.com/","event_types":["*"],"filter":"type =="}`, "filter"},
		{"POST", "/v1/dlq/replays", `{"filter":"a(","dry_run":true}`, "filter"},
	} {
		r := e.do(c.method, c.path, c.body)
		r.wantError(t, http.StatusUnprocessableEntity, "invalid", c.field, "")
	}
	if n := len(e.sources.List()) + len(e.types.List()) + len(e.subs.List()); n != 0 {
		t.Errorf("%d sources, event types and subscriptions stored by refused requests", n)
	}
}
