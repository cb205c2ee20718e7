package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/admin"
	"github.com/surgehq/surge/pkg/admin/admintest"
	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/subscription"
)

// Fuzz targets for the admin API's request bodies, through its real
// handlers. Properties: every answer is a documented status, never a 5xx
// (the stores do not fail here); an error is the JSON error body with a
// documented code; a refused request changes nothing stored; an accepted
// one stores a value that validates, and GET answers what the write
// answered.

// fuzzAPI is the admin API on in-memory stores, as newEnv builds it, for
// fuzzing without a server.
type fuzzAPI struct {
	h       http.Handler
	subs    *admintest.Store[event.Subscription]
	sources *admintest.Store[catalog.Source]
	types   *admintest.Store[catalog.EventType]
	cat     *catalog.Catalog
}

func newFuzzAPI(f *testing.F) *fuzzAPI {
	a := &fuzzAPI{
		subs:    admintest.NewStore[event.Subscription](),
		sources: admintest.NewStore[catalog.Source](),
		types:   admintest.NewStore[catalog.EventType](),
		cat:     catalog.New(catalog.Builtin()...),
	}
	resolver := admintest.Resolver{}
	for h, ips := range testHosts {
		resolver[h] = ips
	}
	api, err := admin.New(admin.Config{Token: token}, admin.Deps{
		Subscriptions: a.subs, Sources: a.sources, EventTypes: a.types,
		Catalog:  a.cat,
		Now:      func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) },
		Resolver: resolver,
	})
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Mount(mux)
	a.h = mux
	// One subscription to PATCH.
	r := a.do(f, http.MethodPost, "/v1/subscriptions", "application/json", []byte(validCreate))
	if r.status != http.StatusCreated {
		f.Fatalf("creating the subscription to patch: %d %s", r.status, r.body)
	}
	return a
}

func (a *fuzzAPI) do(t testing.TB, method, path, contentType string, body []byte) response {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// errorCodes are the codes of httpx the admin API may answer a body with.
var errorCodes = []string{httpx.CodeMalformed, httpx.CodeInvalid, httpx.CodeTooLarge, httpx.CodeUnsupportedMedia, httpx.CodeNotFound, httpx.CodeMethodNotAllowed, httpx.CodeConflict}

// check asserts a documented status and, for an error, the JSON error
// body; it reports whether the write was accepted.
func (r response) check(t *testing.T, statuses ...int) bool {
	t.Helper()
	if !slices.Contains(statuses, r.status) {
		t.Fatalf("status %d, documented %v: %s", r.status, statuses, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q of a %d", ct, r.status)
	}
	if r.status < 300 {
		var v map[string]any
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatalf("%d with a body that is not a JSON object: %s", r.status, r.body)
		}
		return true
	}
	var e struct {
		Error *struct{ Code, Message string }
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil || !slices.Contains(errorCodes, e.Error.Code) || e.Error.Message == "" {
		t.Fatalf("%d error body %s, want {\"error\":{\"code\",\"message\"}} with one of %v", r.status, r.body, errorCodes)
	}
	return false
}

// redirected reports whether r is the mux's redirect of an unclean path
// ("/v1/sources/.") to a clean one, which is what it must be for such a
// path (an escaped "/" does not count: "a%2F.." is one segment). Clients remove dot segments before sending (RFC 3986), so only
// raw requests get there.
func (r response) redirected(t *testing.T, p string) bool {
	t.Helper()
	if path.Clean(p) == strings.TrimSuffix(p, "/") {
		return false
	}
	loc := r.header.Get("Location")
	if r.status != http.StatusTemporaryRedirect || loc == "" || path.Clean(loc) != strings.TrimSuffix(loc, "/") && loc != "/" {
		t.Fatalf("%s: %d to %q, want a redirect to a clean path", p, r.status, loc)
	}
	return true
}

// contentTypes lets the fuzzer pick JSON and not-JSON media types.
func contentType(pick uint8) string {
	return []string{"application/json", "", "application/merge-patch+json", "text/plain", "application/json; charset=utf-8", "application/x-www-form-urlencoded"}[int(pick)%6]
}

func FuzzAdminSubscriptions(f *testing.F) {
	for _, s := range []string{
		validCreate,
		`{"url":"http://10.0.0.1/","event_types":["*"]}`,
		`{"url":"https://hooks.example.com/","event_types":["*"],"id":"sub_x"}`,
		`{"paused":true}`,
		`{"filter":"data.total >","headers":{"Host":"x"}}`,
		`{"url":"https://erp.example.com/in","event_types":["order.*"],"retry_schedule":["5s"],"timeout_ms":100}`,
		`{"description":null,"enabled":true}`,
		`{"url":"https://hooks.example.com/","event_types":["*"],"signature_scheme":"v1a"}`,
		`{"signature_scheme":"v1a"}`,
		`[]`,
	} {
		f.Add([]byte(s), uint8(0), false)
		f.Add([]byte(s), uint8(0), true)
	}
	f.Add([]byte(`{}`), uint8(3), false)
	a := newFuzzAPI(f)
	v := subscription.Validator{Resolver: admintest.Resolver{}, ResolveTimeout: time.Second}
	f.Fuzz(func(t *testing.T, body []byte, ct uint8, patch bool) {
		before := a.subs.List()
		var r response
		if patch {
			id := before[0].ID
			r = a.do(t, http.MethodPatch, "/v1/subscriptions/"+id, contentType(ct), body)
			if !r.check(t, 200, 400, 413, 415, 422) {
				if after := a.subs.List(); !reflect.DeepEqual(after, before) {
					t.Fatalf("a refused PATCH changed the subscription:\n%+v\n%+v", before, after)
				}
				return
			}
		} else {
			r = a.do(t, http.MethodPost, "/v1/subscriptions", contentType(ct), body)
			if !r.check(t, 201, 400, 413, 415, 422) {
				if after := a.subs.List(); len(after) != len(before) {
					t.Fatalf("a refused POST stored a subscription: %d, then %d", len(before), len(after))
				}
				return
			}
			got := r.json(t)
			secret, _ := got["secret"].(string)
			pub, _ := got["public_key"].(string)
			if got["signature_scheme"] == "v1a" != (pub != "") || !strings.HasPrefix(secret+pub, "whsec_") && !strings.HasPrefix(secret+pub, "whpk_") ||
				strings.Contains(string(r.body), "whsk_") {
				t.Fatalf("a created subscription without its secret or public key (or with a signing key): %s", r.body)
			}
		}
		id := r.json(t)["id"].(string)
		stored, ok := a.subs.Get(id)
		if !ok {
			t.Fatalf("answered %d for %s, but nothing is stored", r.status, id)
		}
		if err := v.Validate(context.Background(), stored); err != nil {
			t.Fatalf("stored a subscription that does not validate: %v\n%+v", err, stored)
		}
		got := a.do(t, http.MethodGet, "/v1/subscriptions/"+url.PathEscape(id), "", nil)
		want := r.json(t)
		delete(want, "secret")
		delete(want, "public_key")
		if got.status != 200 || !reflect.DeepEqual(got.json(t), want) {
			t.Fatalf("GET answers %d %s after the write answered %s", got.status, got.body, r.body)
		}
		if !patch {
			_ = a.subs.Delete(context.Background(), id) // keep the store small
		}
	})
}

func FuzzAdminSources(f *testing.F) {
	for _, s := range []string{
		`{"signature":{"scheme":"hmac-sha256-hex","header":"X-Shop-Signature","secret":"k"},
		  "loaders":{"order":{"url":"https://shop.example/rest/V1/orders/{id}","headers":{"Authorization":"Bearer t"},"timeout_ms":2000,"cache_ttl_s":60}}}`,
		`{"id":"shop","allow_unsigned":true}`,
		`{"id":"other","allow_unsigned":true}`,
		`{"signature":{"scheme":"standard-webhooks","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}`,
		`{"signature":{"scheme":"hmac-sha256-hex","secret":"[redacted]"}}`,
		`{"signature":{"scheme":"standard-webhooks","secret":"whsec_x"},"allow_unsigned":true}`,
	} {
		f.Add("shop", []byte(s), uint8(0))
	}
	f.Add("not/an id", []byte(`{"allow_unsigned":true}`), uint8(0))
	f.Add("", []byte(`{"allow_unsigned":true}`), uint8(0))
	f.Add(".", []byte(`{"allow_unsigned":true}`), uint8(0))
	f.Add("a/..", []byte(`{"allow_unsigned":true}`), uint8(0))
	a := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, id string, body []byte, ct uint8) {
		before := a.sources.List()
		p := "/v1/sources/" + url.PathEscape(id)
		r := a.do(t, http.MethodPut, p, contentType(ct), body)
		if r.redirected(t, p) {
			return
		}
		if !r.check(t, 200, 201, 400, 404, 405, 413, 415, 422) {
			if after := a.sources.List(); !reflect.DeepEqual(after, before) {
				t.Fatalf("a refused PUT changed the sources:\n%+v\n%+v", before, after)
			}
			return
		}
		stored, ok := a.sources.Get(id)
		if !ok || stored.ID != id {
			t.Fatalf("answered %d, but source %q is not stored: %+v", r.status, id, stored)
		}
		if err := stored.Validate(); err != nil {
			t.Fatalf("stored a source that does not validate: %v\n%+v", err, stored)
		}
		if strings.Contains(string(r.body), `"secret":"`) && !strings.Contains(string(r.body), `"secret":"[redacted]"`) {
			t.Fatalf("the answer shows the secret: %s", r.body)
		}
		got := a.do(t, http.MethodGet, "/v1/sources/"+url.PathEscape(id), "", nil)
		if got.status != 200 || !reflect.DeepEqual(got.json(t), r.json(t)) {
			t.Fatalf("GET answers %d %s after the PUT answered %s", got.status, got.body, r.body)
		}
	})
}

func FuzzAdminEventTypes(f *testing.F) {
	for _, s := range []string{
		`{"entity_type":"return","aliases":["magento.rma_created"],"description":"RMA opened"}`,
		`{"name":"return.requested","data_schema":{"type":"object","required":["reason"]}}`,
		`{"entity_type":"order","aliases":["stock.adjusted"]}`,
		`{"data_schema":{"properties":{"n":{"type":0}}}}`,
		`{"data_schema":"object"}`,
		`{"name":"other.name"}`,
	} {
		f.Add("return.requested", []byte(s), uint8(0))
	}
	f.Add("order.placed", []byte(`{"entity_type":"order","data_schema":true}`), uint8(0))
	f.Add("Bad Name", []byte(`{}`), uint8(0))
	a := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, name string, body []byte, ct uint8) {
		before := a.types.List()
		p := "/v1/event-types/" + url.PathEscape(name)
		r := a.do(t, http.MethodPut, p, contentType(ct), body)
		if r.redirected(t, p) {
			return
		}
		if !r.check(t, 200, 201, 400, 404, 405, 409, 413, 415, 422) {
			if after := a.types.List(); !reflect.DeepEqual(after, before) {
				t.Fatalf("a refused PUT changed the event types:\n%+v\n%+v", before, after)
			}
			return
		}
		stored, ok := a.types.Get(name)
		if !ok || stored.Name != name {
			t.Fatalf("answered %d, but event type %q is not stored", r.status, name)
		}
		if err := stored.Validate(); err != nil {
			t.Fatalf("stored an event type that does not validate: %v\n%+v", err, stored)
		}
		// Keep the catalog as it was, so one accepted type does not make
		// every later input a conflict.
		_ = a.types.Delete(context.Background(), name)
		if err := a.cat.Replace(catalog.Builtin()); err != nil {
			t.Fatal(err)
		}
	})
}
