package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/surgehq/surge/pkg/admin"
	"github.com/surgehq/surge/pkg/admin/admintest"
	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/subscription"
)

const token = "surge_test_token"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is an admin API on an httptest server with in-memory stores.
type env struct {
	t        *testing.T
	api      *admin.API
	srv      *httptest.Server
	subs     *admintest.Store[event.Subscription]
	sources  *admintest.Store[catalog.Source]
	types    *admintest.Store[catalog.EventType]
	catalog  *catalog.Catalog
	clock    *clock
	logs     *observer.ObservedLogs
	resolver admintest.Resolver
	dlq      *fakeDLQ // dlq_test.go
	aliases  *admintest.Store[catalog.EntityAlias]
	backlog  *fakeBacklog   // backlog_test.go
	inspect  *fakeInspector // pipeline_test.go
	tracer   *fakeTracer    // trace_test.go
}

// testHosts is what the test DNS answers; each env gets its own copy.
var testHosts = admintest.Resolver{
	"hooks.example.com":    {"203.0.113.10"},
	"erp.example.com":      {"203.0.113.20"},
	"internal.example.com": {"10.0.0.5"},
}

func newEnv(t *testing.T, cfg admin.Config) *env {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	e := &env{
		t:        t,
		subs:     admintest.NewStore[event.Subscription](),
		sources:  admintest.NewStore[catalog.Source](),
		types:    admintest.NewStore[catalog.EventType](),
		catalog:  catalog.New(catalog.Builtin()...),
		clock:    &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		logs:     logs,
		resolver: admintest.Resolver{},
		dlq:      newFakeDLQ(),
		aliases:  admintest.NewStore[catalog.EntityAlias](),
		inspect:  newFakeInspector(),
		tracer:   newFakeTracer(),
	}
	e.backlog = &fakeBacklog{e: e}
	for h, ips := range testHosts {
		e.resolver[h] = ips
	}
	if cfg.Token == "" {
		cfg.Token = token
	}
	api, err := admin.New(cfg, admin.Deps{
		Subscriptions: e.subs,
		Sources:       e.sources,
		EventTypes:    e.types,
		Catalog:       e.catalog,
		Now:           e.clock.Now,
		Resolver:      e.resolver,
		Log:           zap.New(core),
		DLQ:           e.dlq,
		Aliases:       e.aliases,
		Backlog:       e.backlog,
		Inspector:     e.inspect,
		Tracer:        e.tracer,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.api = api
	mux := http.NewServeMux()
	api.Mount(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.status, err, r.body)
	}
	return m
}

// errBody returns the error object of a JSON error response.
func (r response) errBody(t *testing.T) map[string]any {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", r.body)
	}
	return e
}

func (r response) wantError(t *testing.T, status int, code, field, msgPart string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
	e := r.errBody(t)
	if e["code"] != code {
		t.Fatalf("code %v, want %s: %s", e["code"], code, r.body)
	}
	if field != "" && e["field"] != field {
		t.Fatalf("field %v, want %s: %s", e["field"], field, r.body)
	}
	if msg, _ := e["message"].(string); !strings.Contains(msg, msgPart) {
		t.Fatalf("message %q does not contain %q", msg, msgPart)
	}
}

// do sends a request with the token and a JSON body (a string or a value
// to marshal; nil for none).
func (e *env) do(method, path string, body any, header ...string) response {
	e.t.Helper()
	h := []string{"Authorization", "Bearer " + token}
	return e.doRaw(method, path, body, append(h, header...)...)
}

func (e *env) doRaw(method, path string, body any, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

const validCreate = `{"url":"https://hooks.example.com/surge","event_types":["order.*"],
	"filter":"type == \"order.placed\"","headers":{"X-Api-Key":"k"},"timeout_ms":5000,
	"rate_limit_per_s":10,"max_in_flight":4,"retry_schedule":["5s","30s","2m"],"description":"ERP"}`

// create makes a subscription and returns the create response's body.
func (e *env) create(body string) map[string]any {
	e.t.Helper()
	r := e.do("POST", "/v1/subscriptions", body)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

func TestNewChecksConfig(t *testing.T) {
	_, err := admin.New(admin.Config{SecretGrace: -1}, admin.Deps{})
	if err == nil {
		t.Fatal("New accepted an empty config")
	}
	for _, want := range []string{"Token", "SecretGrace", "Subscriptions", "Sources", "EventTypes", "Catalog"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, admin.Config{})
	for _, tt := range []struct {
		name, auth string
		wantMsg    string
	}{
		{"missing", "", "missing bearer token"},
		{"wrong", "Bearer nope", "wrong bearer token"},
		{"prefix of the token", "Bearer " + token[:5], "wrong bearer token"},
		{"token plus more", "Bearer " + token + "x", "wrong bearer token"},
		{"basic scheme", "Basic " + token, "wrong bearer token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Every route but the two public documents, and an unknown one.
			params := strings.NewReplacer("{id}", "x", "{partition}", "0", "{offset}", "0", "{entity_type}", "order",
				"{sender_id}", "s1", "{type}", "order.placed", "{topic}", "commerce.events.raw")
			routes := []string{"GET /v1/nothing-here"}
			for _, route := range e.api.Routes() {
				if !strings.HasSuffix(route, "/openapi.json") && !strings.HasSuffix(route, "/asyncapi.json") {
					routes = append(routes, route)
				}
			}
			for _, route := range routes {
				method, pattern, _ := strings.Cut(route, " ")
				path := params.Replace(pattern)
				r := e.doRaw(method, path, nil, "Authorization", tt.auth)
				r.wantError(t, http.StatusUnauthorized, "unauthorized", "", tt.wantMsg)
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Fatalf("%s %s: WWW-Authenticate %q", method, path, got)
				}
			}
		})
	}
	if r := e.doRaw("GET", "/v1/subscriptions", nil, "Authorization", "bearer "+token); r.status != http.StatusOK {
		t.Fatalf("lower-case scheme: %d %s", r.status, r.body)
	}
	// The document is public.
	if r := e.doRaw("GET", "/v1/openapi.json", nil); r.status != http.StatusOK || !json.Valid(r.body) {
		t.Fatalf("openapi.json without a token: %d", r.status)
	}
	// A rejected write changes nothing.
	r := e.doRaw("POST", "/v1/subscriptions", validCreate, "Authorization", "Bearer wrong")
	r.wantError(t, http.StatusUnauthorized, "unauthorized", "", "")
	if n := e.subs.Writes(); n != 0 {
		t.Fatalf("%d writes after an unauthorized create", n)
	}
}

func TestCreateShowsTheSecretOnce(t *testing.T) {
	e := newEnv(t, admin.Config{})
	r := e.do("POST", "/v1/subscriptions", validCreate)
	if r.status != http.StatusCreated {
		t.Fatalf("%d %s", r.status, r.body)
	}
	got := r.json(t)
	id, _ := got["id"].(string)
	secret, _ := got["secret"].(string)
	if !strings.HasPrefix(id, "sub_") || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("create answered id %q secret %q", id, secret)
	}
	if loc := r.header.Get("Location"); loc != "/v1/subscriptions/"+id {
		t.Fatalf("Location %q", loc)
	}
	if got["enabled"] != true || got["paused"] != false || got["url"] != "https://hooks.example.com/surge" {
		t.Fatalf("create answered %s", r.body)
	}
	if got["created_at"] != "2026-03-01T12:00:00Z" {
		t.Fatalf("created_at %v", got["created_at"])
	}
	secrets, _ := got["secrets"].([]any)
	if len(secrets) != 1 || secrets[0].(map[string]any)["fingerprint"] != subscription.Fingerprint(secret) {
		t.Fatalf("secret metadata %v", got["secrets"])
	}

	// Stored with the secret, in the stored form.
	stored, ok := e.subs.Get(id)
	if !ok || len(stored.Secrets) != 1 || stored.Secrets[0].Value != secret || stored.Filter != `type == "order.placed"` ||
		stored.TimeoutMS != 5000 || len(stored.RetrySchedule) != 3 || stored.Headers["X-Api-Key"] != "k" {
		t.Fatalf("stored %+v", stored)
	}

	// Never again: not in GET, not in the list, not in a PATCH answer, not in the logs.
	for _, r := range []response{
		e.do("GET", "/v1/subscriptions/"+id, nil),
		e.do("GET", "/v1/subscriptions", nil),
		e.do("PATCH", "/v1/subscriptions/"+id, `{"paused":true}`),
	} {
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if bytes.Contains(r.body, []byte("whsec_")) || bytes.Contains(r.body, []byte(`"secret"`)) {
			t.Fatalf("a later response shows the secret: %s", r.body)
		}
	}
	e.assertLogsHoldNo(secret)
	if e.logs.FilterMessage("subscription created").FilterField(zap.String("subscription_id", id)).Len() != 1 {
		t.Fatalf("no info line for the creation: %v", e.logs.All())
	}
}

func (e *env) assertLogsHoldNo(secret string) {
	e.t.Helper()
	for _, l := range e.logs.All() {
		line := l.Message + fmt.Sprint(l.ContextMap())
		if strings.Contains(line, secret) || strings.Contains(line, "whsec_") {
			e.t.Fatalf("a log line holds a secret: %s", line)
		}
	}
}

func TestCreateValidation(t *testing.T) {
	e := newEnv(t, admin.Config{})
	tests := []struct {
		name, body        string
		status            int
		code, field, part string
	}{
		{"metadata service", `{"url":"http://169.254.169.254/latest/meta-data/","event_types":["*"]}`,
			422, "invalid", "url", "metadata"},
		{"metadata service says how to allow", `{"url":"http://169.254.169.254/","event_types":["*"]}`,
			422, "invalid", "url", `"allow_private": true`},
		{"resolves private", `{"url":"https://internal.example.com/","event_types":["*"]}`,
			422, "invalid", "url", "resolves to 10.0.0.5"},
		{"loopback refused outside dev", `{"url":"http://localhost:9000/","event_types":["*"]}`,
			422, "invalid", "url", "loopback"},
		{"bad filter", `{"url":"https://hooks.example.com/","event_types":["*"],"filter":"type == \"a\" &&"}`,
			422, "invalid", "filter", "line 1, column "},
		{"bad pattern", `{"url":"https://hooks.example.com/","event_types":["Order"]}`,
			400, "invalid", "event_types[0]", "Order"},
		{"reserved header", `{"url":"https://hooks.example.com/","event_types":["*"],"headers":{"webhook-signature":"x"}}`,
			422, "invalid", "headers.webhook-signature", "reserved"},
		{"missing url", `{"event_types":["*"]}`, 400, "invalid", "url", "required"},
		{"missing event types", `{"url":"https://hooks.example.com/"}`, 400, "invalid", "event_types", "required"},
		{"several problems", `{"url":"ftp://x","event_types":["*"],"timeout_ms":5}`, 422, "invalid", "url", "timeout_ms"},
		{"id is read-only", `{"id":"sub_mine","url":"https://hooks.example.com/","event_types":["*"]}`,
			400, "invalid", "id", "read-only"},
		{"secret is read-only", `{"secret":"whsec_x","url":"https://hooks.example.com/","event_types":["*"]}`,
			400, "invalid", "secret", "read-only"},
		{"unknown field", `{"url":"https://hooks.example.com/","event_types":["*"],"colour":"red"}`,
			400, "malformed", "colour", "unknown field"},
		{"wrong type", `{"url":"https://hooks.example.com/","event_types":["*"],"timeout_ms":"5s"}`,
			400, "malformed", "timeout_ms", "number"},
		{"not JSON", `{"url":`, 400, "malformed", "", "not valid JSON"},
		{"syntax", `{"url" "x"}`, 400, "malformed", "", "not valid JSON"},
		{"empty", ``, 400, "malformed", "", "empty"},
		{"array", `[]`, 400, "malformed", "", "JSON object"},
		{"trailing data", `{"url":"https://hooks.example.com/","event_types":["*"]} {}`, 400, "malformed", "", "after its JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", "/v1/subscriptions", tt.body)
			r.wantError(t, tt.status, tt.code, tt.field, tt.part)
		})
	}
	if n := e.subs.Writes(); n != 0 {
		t.Fatalf("%d writes after refused creates", n)
	}
	// allow_private lets the metadata address through: the operator asked.
	e.create(`{"url":"http://169.254.169.254/","event_types":["*"],"allow_private":true}`)
}

func TestLoopbackInDev(t *testing.T) {
	e := newEnv(t, admin.Config{AllowLoopback: true})
	e.create(`{"url":"http://localhost:9000/hook","event_types":["*"]}`)
	e.create(`{"url":"http://127.0.0.1:9000/hook","event_types":["*"]}`)
	r := e.do("POST", "/v1/subscriptions", `{"url":"http://10.0.0.1/","event_types":["*"]}`)
	r.wantError(t, 422, "invalid", "url", "private")
}

func TestMediaTypeAndSize(t *testing.T) {
	e := newEnv(t, admin.Config{MaxBodyBytes: 1024})
	sub := e.create(validCreate)
	id := sub["id"].(string)
	big := `{"url":"https://hooks.example.com/","event_types":["*"],"description":"` + strings.Repeat("x", 2000) + `"}`
	for _, tt := range []struct{ method, path string }{
		{"POST", "/v1/subscriptions"},
		{"PATCH", "/v1/subscriptions/" + id},
		{"PUT", "/v1/sources/s1"},
		{"PUT", "/v1/event-types/order.placed"},
	} {
		r := e.do(tt.method, tt.path, big)
		r.wantError(t, http.StatusRequestEntityTooLarge, "too_large", "", "1024")
		r = e.do(tt.method, tt.path, `{}`, "Content-Type", "text/plain")
		r.wantError(t, http.StatusUnsupportedMediaType, "unsupported_media_type", "", "text/plain")
	}
	// application/json with parameters and +json types are JSON.
	r := e.do("PATCH", "/v1/subscriptions/"+id, `{"paused":true}`, "Content-Type", "application/json; charset=utf-8")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = e.do("PATCH", "/v1/subscriptions/"+id, `{"paused":false}`, "Content-Type", "application/merge-patch+json")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestBodyLimitWithoutContentLength(t *testing.T) {
	e := newEnv(t, admin.Config{MaxBodyBytes: 1024})
	big := `{"url":"https://hooks.example.com/","event_types":["*"],"description":"` + strings.Repeat("x", 2000) + `"}`
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/subscriptions", io.NopCloser(strings.NewReader(big)))
	req.ContentLength = -1 // chunked
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	response{status: resp.StatusCode, header: resp.Header, body: body}.wantError(t, 413, "too_large", "", "")
}

func TestPatch(t *testing.T) {
	e := newEnv(t, admin.Config{})
	sub := e.create(validCreate)
	id := sub["id"].(string)
	before, _ := e.subs.Get(id)

	e.clock.Advance(time.Minute)
	r := e.do("PATCH", "/v1/subscriptions/"+id, `{"paused":true,"description":"paused for the ERP upgrade"}`)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	after, _ := e.subs.Get(id)
	if !after.Paused || after.Description != "paused for the ERP upgrade" {
		t.Fatalf("patch not applied: %+v", after)
	}
	// Everything else is as it was.
	if after.URL != before.URL || after.Filter != before.Filter || after.TimeoutMS != before.TimeoutMS ||
		after.Secrets[0].Value != before.Secrets[0].Value || !after.CreatedAt.Equal(before.CreatedAt) || after.Headers["X-Api-Key"] != "k" {
		t.Fatalf("patch changed other fields:\nbefore %+v\nafter  %+v", before, after)
	}
	if !after.UpdatedAt.Equal(before.UpdatedAt.Add(time.Minute)) {
		t.Fatalf("updated_at %v, want a minute after %v", after.UpdatedAt, before.UpdatedAt)
	}
	if got := r.json(t); got["paused"] != true || got["updated_at"] != "2026-03-01T12:01:00Z" {
		t.Fatalf("patch answered %s", r.body)
	}

	for _, tt := range []struct {
		body, field, code, part string
		status                  int
	}{
		{`{"id":"sub_other"}`, "id", "invalid", "read-only", 400},
		{`{"created_at":"2020-01-01T00:00:00Z"}`, "created_at", "invalid", "read-only", 400},
		{`{"secrets":[]}`, "secrets", "invalid", "read-only", 400},
		{`{"filter":"data.total >"}`, "filter", "invalid", "line 1, column", 422},
		{`{"url":"http://169.254.169.254/"}`, "url", "invalid", "metadata", 422},
		{`{"retry_schedule":["100ms"]}`, "retry_schedule[0]", "invalid", "1s", 422},
		{`{"enabled":"yes"}`, "enabled", "malformed", "true or false", 400},
	} {
		r := e.do("PATCH", "/v1/subscriptions/"+id, tt.body)
		r.wantError(t, tt.status, tt.code, tt.field, tt.part)
	}
	if now, _ := e.subs.Get(id); now.UpdatedAt != after.UpdatedAt || now.URL != before.URL {
		t.Fatal("a refused patch changed the subscription")
	}

	// Disable with a reason, then re-enable: the reason goes.
	r = e.do("PATCH", "/v1/subscriptions/"+id, `{"enabled":false,"disabled_reason":"ERP decommissioned"}`)
	if got := r.json(t); got["enabled"] != false || got["disabled_reason"] != "ERP decommissioned" {
		t.Fatalf("%s", r.body)
	}
	r = e.do("PATCH", "/v1/subscriptions/"+id, `{"enabled":true}`)
	if got := r.json(t); got["enabled"] != true || got["disabled_reason"] != "" {
		t.Fatalf("%s", r.body)
	}
	// An empty patch changes nothing but is fine.
	if r := e.do("PATCH", "/v1/subscriptions/"+id, `{}`); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	e.do("PATCH", "/v1/subscriptions/sub_missing", `{"paused":true}`).wantError(t, 404, "not_found", "", "sub_missing")
}

// A patch that leaves the URL alone does not wait for DNS.
func TestPatchOfUnchangedTargetSkipsLookup(t *testing.T) {
	e := newEnv(t, admin.Config{})
	id := e.create(validCreate)["id"].(string)
	// The host now resolves to a private address; pausing still works,
	// changing the URL to it does not.
	e.resolver["hooks.example.com"] = []string{"10.9.9.9"}
	if r := e.do("PATCH", "/v1/subscriptions/"+id, `{"paused":true}`); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	e.do("PATCH", "/v1/subscriptions/"+id, `{"url":"https://hooks.example.com/other"}`).wantError(t, 422, "invalid", "url", "10.9.9.9")
}

func TestConcurrentPatchesLoseNothing(t *testing.T) {
	e := newEnv(t, admin.Config{})
	id := e.create(validCreate)["id"].(string)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body string
			if i%2 == 0 {
				body = fmt.Sprintf(`{"description":"d%d"}`, i)
			} else {
				body = fmt.Sprintf(`{"headers":{"X-N":"%d"}}`, i)
			}
			if r := e.do("PATCH", "/v1/subscriptions/"+id, body); r.status != 200 {
				t.Errorf("%d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	r := e.do("POST", "/v1/subscriptions/"+id+"/rotate-secret", nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	s, _ := e.subs.Get(id)
	if !strings.HasPrefix(s.Description, "d") || s.Headers["X-N"] == "" || len(s.Secrets) != 2 {
		t.Fatalf("lost an update: %+v", s)
	}
}

func TestRotateSecret(t *testing.T) {
	e := newEnv(t, admin.Config{SecretGrace: time.Hour})
	created := e.create(validCreate)
	id, first := created["id"].(string), created["secret"].(string)

	e.clock.Advance(10 * time.Minute)
	r := e.do("POST", "/v1/subscriptions/"+id+"/rotate-secret", nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	got := r.json(t)
	second, _ := got["secret"].(string)
	if !strings.HasPrefix(second, "whsec_") || second == first {
		t.Fatalf("rotation answered secret %q", second)
	}
	secrets := got["secrets"].([]any)
	if len(secrets) != 2 {
		t.Fatalf("secrets after rotation: %v", secrets)
	}
	newest, previous := secrets[0].(map[string]any), secrets[1].(map[string]any)
	if newest["fingerprint"] != subscription.Fingerprint(second) || newest["expires_at"] != nil {
		t.Fatalf("newest %v", newest)
	}
	if previous["fingerprint"] != subscription.Fingerprint(first) || previous["expires_at"] != "2026-03-01T13:10:00Z" {
		t.Fatalf("previous %v: want it to expire an hour after the rotation", previous)
	}
	s, _ := e.subs.Get(id)
	if s.Secrets[0].Value != second || s.Secrets[1].Value != first {
		t.Fatal("stored secrets are not newest first")
	}

	// Two hours later the first has expired: the next rotation drops it.
	e.clock.Advance(2 * time.Hour)
	third := e.do("POST", "/v1/subscriptions/"+id+"/rotate-secret", nil).json(t)["secret"].(string)
	s, _ = e.subs.Get(id)
	if len(s.Secrets) != 2 || s.Secrets[0].Value != third || s.Secrets[1].Value != second {
		t.Fatalf("after the second rotation: %d secrets", len(s.Secrets))
	}
	e.assertLogsHoldNo(first)
	e.assertLogsHoldNo(third)
	if e.logs.FilterMessage("subscription secret rotated").Len() != 2 {
		t.Fatal("rotations were not logged")
	}
	e.do("POST", "/v1/subscriptions/sub_missing/rotate-secret", nil).wantError(t, 404, "not_found", "", "")
}

func TestDelete(t *testing.T) {
	e := newEnv(t, admin.Config{})
	id := e.create(validCreate)["id"].(string)
	r := e.do("DELETE", "/v1/subscriptions/"+id, nil)
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	e.do("GET", "/v1/subscriptions/"+id, nil).wantError(t, 404, "not_found", "", id)
	e.do("DELETE", "/v1/subscriptions/"+id, nil).wantError(t, 404, "not_found", "", id)
	if got := e.do("GET", "/v1/subscriptions", nil).json(t)["subscriptions"].([]any); len(got) != 0 {
		t.Fatalf("list after delete: %v", got)
	}
}

func TestListIsSortedAndEmptyIsAnArray(t *testing.T) {
	e := newEnv(t, admin.Config{})
	if string(e.do("GET", "/v1/subscriptions", nil).body) != "{\"subscriptions\":[]}\n" {
		t.Fatal("empty list is not []")
	}
	var ids []string
	for range 3 {
		ids = append(ids, e.create(validCreate)["id"].(string))
	}
	var got struct{ Subscriptions []subscription.View }
	if err := json.Unmarshal(e.do("GET", "/v1/subscriptions", nil).body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Subscriptions) != 3 {
		t.Fatalf("%d subscriptions", len(got.Subscriptions))
	}
	for i := 1; i < 3; i++ {
		if got.Subscriptions[i-1].ID >= got.Subscriptions[i].ID {
			t.Fatalf("list not sorted by id: %v", ids)
		}
	}
}

func TestStoreFailureIs503AndChangesNothing(t *testing.T) {
	e := newEnv(t, admin.Config{})
	id := e.create(validCreate)["id"].(string)
	boom := errors.New("kafka: NOT_ENOUGH_REPLICAS")
	e.subs.Fail(boom)
	e.sources.Fail(boom)
	e.types.Fail(boom)
	before, _ := e.subs.Get(id)
	for _, tt := range []struct {
		method, path, body string
	}{
		{"POST", "/v1/subscriptions", validCreate},
		{"PATCH", "/v1/subscriptions/" + id, `{"paused":true}`},
		{"DELETE", "/v1/subscriptions/" + id, ""},
		{"POST", "/v1/subscriptions/" + id + "/rotate-secret", ""},
		{"PUT", "/v1/sources/shop", `{"allow_unsigned":true}`},
		{"PUT", "/v1/event-types/order.placed", `{"entity_type":"order"}`},
	} {
		var body any
		if tt.body != "" {
			body = tt.body
		}
		r := e.do(tt.method, tt.path, body)
		r.wantError(t, http.StatusServiceUnavailable, "unavailable", "", "NOT_ENOUGH_REPLICAS")
		if ra := r.header.Get("Retry-After"); ra != "5" {
			t.Fatalf("%s %s: Retry-After %q", tt.method, tt.path, ra)
		}
	}
	after, _ := e.subs.Get(id)
	if after.Paused || len(after.Secrets) != len(before.Secrets) || len(e.subs.List()) != 1 {
		t.Fatal("a failed write changed something")
	}
	if _, ok := e.catalog.Lookup("order.placed"); !ok {
		t.Fatal("catalog lost a type")
	}
	if et, _ := e.catalog.Lookup("order.placed"); et.Description == "" {
		t.Fatal("a failed event-type write changed the live catalog")
	}
	// Healed: the same requests work.
	e.subs.Fail(nil)
	if r := e.do("PATCH", "/v1/subscriptions/"+id, `{"paused":true}`); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestMethodNotAllowedAndNotFound(t *testing.T) {
	e := newEnv(t, admin.Config{})
	for _, tt := range []struct{ method, path, allow string }{
		{"PUT", "/v1/subscriptions", "GET, POST"},
		{"DELETE", "/v1/subscriptions", "GET, POST"},
		{"POST", "/v1/subscriptions/sub_x", "DELETE, GET, PATCH"},
		{"GET", "/v1/subscriptions/sub_x/rotate-secret", "POST"},
		{"POST", "/v1/sources", "GET"},
		{"PATCH", "/v1/sources/a", "DELETE, GET, PUT"},
		{"POST", "/v1/event-types", "GET"},
		{"GET", "/v1/event-types/order.placed", "PUT"},
		{"POST", "/v1/openapi.json", "GET"},
	} {
		r := e.do(tt.method, tt.path, nil)
		r.wantError(t, http.StatusMethodNotAllowed, "method_not_allowed", "", tt.allow)
		if got := r.header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
	for _, path := range []string{"/v1/nothing", "/v1/subscriptions/", "/v1/subscriptions/a/b", "/v1/sources/"} {
		e.do("GET", path, nil).wantError(t, 404, "not_found", "", "")
	}
}

func TestSources(t *testing.T) {
	e := newEnv(t, admin.Config{})
	const shop = `{"signature":{"scheme":"hmac-sha256-hex","secret":"s3cret-key"},
		"loaders":{"order":{"url":"https://shop.example/rest/V1/orders/{id}","headers":{"Authorization":"Bearer shop-token"}}}}`
	r := e.do("PUT", "/v1/sources/shop", shop)
	if r.status != http.StatusCreated || r.header.Get("Location") != "/v1/sources/shop" {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
	if bytes.Contains(r.body, []byte("s3cret-key")) || bytes.Contains(r.body, []byte("shop-token")) {
		t.Fatalf("PUT answered secrets: %s", r.body)
	}
	stored, _ := e.sources.Get("shop")
	if stored.ID != "shop" || stored.Signature.Secret != "s3cret-key" {
		t.Fatalf("stored %+v", stored)
	}
	for _, r := range []response{e.do("GET", "/v1/sources/shop", nil), e.do("GET", "/v1/sources", nil)} {
		if r.status != 200 || bytes.Contains(r.body, []byte("s3cret-key")) || bytes.Contains(r.body, []byte("shop-token")) ||
			!bytes.Contains(r.body, []byte("[redacted]")) {
			t.Fatalf("GET shows secrets or no redaction: %d %s", r.status, r.body)
		}
	}

	// GET, change, PUT back: the redacted values keep the stored ones.
	var got catalog.Source
	_ = json.Unmarshal(e.do("GET", "/v1/sources/shop", nil).body, &got)
	got.Signature.ToleranceS = 0
	got.Loaders["order"] = catalog.Loader{URL: "https://shop.example/rest/V2/orders/{id}", Headers: got.Loaders["order"].Headers}
	r = e.do("PUT", "/v1/sources/shop", got)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	stored, _ = e.sources.Get("shop")
	if stored.Signature.Secret != "s3cret-key" || stored.Loaders["order"].Headers["Authorization"] != "Bearer shop-token" ||
		!strings.Contains(stored.Loaders["order"].URL, "/V2/") {
		t.Fatalf("after PUT of a redacted GET: %+v", stored)
	}

	// 400 where the document refuses the value, 422 where only its
	// words do (invalid.go).
	for _, tt := range []struct {
		path, body, field, part string
		status                  int
	}{
		{"/v1/sources/shop", `{"id":"other","allow_unsigned":true}`, "id", "does not match", 422},
		{"/v1/sources/shop", `{}`, "signature", "allow_unsigned", 422},
		{"/v1/sources/bad%20id", `{"allow_unsigned":true}`, "id", "must be", 400},
		{"/v1/sources/shop", `{"signature":{"scheme":"standard-webhooks","secret":"nope"}}`, "signature.secret", "whsec_", 422},
		{"/v1/sources/new", `{"signature":{"scheme":"hmac-sha256-hex","secret":"[redacted]"}}`, "signature.secret", "placeholder", 422},
		{"/v1/sources/shop", `{"signature":{"scheme":"hmac-sha256-base64","secret":"[redacted]"}}`, "signature.secret", "placeholder", 422},
		{"/v1/sources/shop", `{"allow_unsigned":true,"loaders":{"order":{"url":"https://x/{id}","headers":{"X-New":"[redacted]"}}}}`, "loaders.order.headers.X-New", "placeholder", 422},
		{"/v1/sources/shop", `{"allow_unsigned":true,"loaders":{"order":{"url":"https://x/"}}}`, "loaders.order.url", "{id}", 422},
	} {
		e.do("PUT", tt.path, tt.body).wantError(t, tt.status, "invalid", tt.field, tt.part)
	}
	e.do("PUT", "/v1/sources/shop", `{"allow_unsigned":true,"signing":{}}`).wantError(t, 400, "malformed", "signing", "unknown field")

	r = e.do("DELETE", "/v1/sources/shop", nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("%d %s", r.status, r.body)
	}
	e.do("GET", "/v1/sources/shop", nil).wantError(t, 404, "not_found", "", "shop")
	e.do("DELETE", "/v1/sources/shop", nil).wantError(t, 404, "not_found", "", "shop")
	for _, l := range e.logs.All() {
		if s := fmt.Sprint(l.Message, l.ContextMap()); strings.Contains(s, "s3cret") || strings.Contains(s, "shop-token") {
			t.Fatalf("a log line holds a source secret: %s", s)
		}
	}
}

func TestEventTypes(t *testing.T) {
	e := newEnv(t, admin.Config{})
	var list struct {
		EventTypes []catalog.EventType `json:"event_types"`
	}
	if err := json.Unmarshal(e.do("GET", "/v1/event-types", nil).body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.EventTypes) != len(catalog.Builtin()) {
		t.Fatalf("%d types, want the %d built-ins", len(list.EventTypes), len(catalog.Builtin()))
	}

	// A new type: 201, stored, and in effect at once.
	r := e.do("PUT", "/v1/event-types/return.requested", `{"entity_type":"order","aliases":["shop.rma_created"],"description":"An RMA was opened."}`)
	if r.status != http.StatusCreated || r.json(t)["name"] != "return.requested" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if _, ok := e.types.Get("return.requested"); !ok {
		t.Fatal("not stored")
	}
	if et, ok := e.catalog.Lookup("shop.rma_created"); !ok || et.Name != "return.requested" {
		t.Fatal("not in the live catalog")
	}
	// Overriding a built-in: 200.
	r = e.do("PUT", "/v1/event-types/order.placed", `{"name":"order.placed","entity_type":"order","data_schema":{"type":"object","required":["total"]}}`)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if et, _ := e.catalog.Lookup("order.placed"); len(et.DataSchema) == 0 {
		t.Fatal("override not in the live catalog")
	}
	for _, tt := range []struct {
		path, body, field, part string
		status                  int
		code                    string
	}{
		{"/v1/event-types/order.placed", `{"name":"order.updated"}`, "name", "does not match", 422, "invalid"},
		{"/v1/event-types/Order.Placed", `{}`, "name", "lower-case", 400, "invalid"},
		{"/v1/event-types/order.*", `{}`, "name", "lower-case", 400, "invalid"},
		{"/v1/event-types/x.y", `{"aliases":["be-observer.catalog_product_update"]}`, "aliases[0]", "product.updated", 409, "conflict"},
		{"/v1/event-types/be-observer.sales_order_status_update", `{}`, "name", "alias", 409, "conflict"},
		{"/v1/event-types/x.y", `{"data_schema":[1]}`, "data_schema", "JSON Schema", 422, "invalid"},
	} {
		e.do("PUT", tt.path, tt.body).wantError(t, tt.status, tt.code, tt.field, tt.part)
	}
	if _, ok := e.types.Get("x.y"); ok {
		t.Fatal("a refused type was stored")
	}
}

func TestRoutesAreTheDocumentedOnes(t *testing.T) {
	e := newEnv(t, admin.Config{})
	want := []string{
		"DELETE /v1/sources/{id}", "DELETE /v1/sources/{id}/aliases/{entity_type}/{sender_id}", "DELETE /v1/subscriptions/{id}",
		"GET /v1/asyncapi.json", "GET /v1/attempt-stats", "GET /v1/dlq/records", "GET /v1/dlq/records/{partition}/{offset}", "GET /v1/dlq/replays", "GET /v1/dlq/replays/{id}", "GET /v1/dlq/stats",
		"GET /v1/event-types", "GET /v1/lanes", "GET /v1/openapi.json", "GET /v1/sources", "GET /v1/sources/{id}",
		"GET /v1/sources/{id}/aliases", "GET /v1/sources/{id}/aliases/{entity_type}/{sender_id}",
		"GET /v1/stages/lag",
		"GET /v1/subscriptions", "GET /v1/subscriptions/{id}", "GET /v1/subscriptions/{id}/attempts", "GET /v1/subscriptions/{id}/lanes",
		"GET /v1/topics", "GET /v1/topics/{topic}/records", "GET /v1/trace",
		"PATCH /v1/subscriptions/{id}",
		"POST /v1/dlq/replays", "POST /v1/dlq/replays/{id}/resume", "POST /v1/dlq/replays/{id}/stop",
		"POST /v1/sources/{id}/aliases",
		"POST /v1/subscriptions", "POST /v1/subscriptions/{id}/revoke-secret", "POST /v1/subscriptions/{id}/rotate-secret",
		"PUT /v1/event-types/{type}", "PUT /v1/sources/{id}", "PUT /v1/sources/{id}/aliases/{entity_type}/{sender_id}",
	}
	if got := e.api.Routes(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("routes\n got %v\nwant %v", got, want)
	}
}

func TestWriteTimeout(t *testing.T) {
	e := newEnv(t, admin.Config{WriteTimeout: 50 * time.Millisecond})
	e.subs.Hang(true)
	start := time.Now()
	r := e.do("POST", "/v1/subscriptions", validCreate)
	r.wantError(t, 503, "unavailable", "", context.DeadlineExceeded.Error())
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a hanging write answered after %s; the write timeout is 50ms", d)
	}
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}
