package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"github.com/surgehq/surge/pkg/httpx"
)

// handlerFunc serves one route; a returned error is written as the JSON
// error body (an *httpx.Error keeps its status, anything else is a 500).
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// operation is one "METHOD /pattern" of the API and its handler.
type operation struct {
	route string
	serve handlerFunc
}

// operations lists every operation that needs the bearer token; the
// OpenAPI document lists the same (openapi_test.go checks).
func (a *API) operations() []operation {
	return []operation{
		{"GET /v1/subscriptions", okJSON(a.listSubscriptions)},
		{"POST /v1/subscriptions", a.createSubscription},
		{"GET /v1/subscriptions/{id}", okJSON(a.getSubscription)},
		{"PATCH /v1/subscriptions/{id}", a.patchSubscription},
		{"DELETE /v1/subscriptions/{id}", a.deleteSubscription},
		{"POST /v1/subscriptions/{id}/rotate-secret", a.rotateSecret},
		{"POST /v1/subscriptions/{id}/revoke-secret", a.revokeSecret},
		{"GET /v1/subscriptions/{id}/attempts", okJSON(a.subscriptionAttempts)},
		{"GET /v1/subscriptions/{id}/lanes", okJSON(a.subscriptionLanes)},
		{"GET /v1/lanes", okJSON(a.parked)},
		{"GET /v1/stages/lag", okJSON(a.stageLag)},
		{"GET /v1/topics", okJSON(a.listTopics)},
		{"GET /v1/topics/{topic}/records", okJSON(a.topicRecords)},
		{"GET /v1/attempt-stats", okJSON(a.attemptStats)},
		{"GET /v1/sources", okJSON(a.listSources)},
		{"GET /v1/sources/{id}", okJSON(a.getSource)},
		{"PUT /v1/sources/{id}", a.putSource},
		{"DELETE /v1/sources/{id}", a.deleteSource},
		{"GET /v1/sources/{id}/aliases", okJSON(a.listAliases)},
		{"POST /v1/sources/{id}/aliases", a.postAliases},
		{"GET /v1/sources/{id}/aliases/{entity_type}/{sender_id}", okJSON(a.getAlias)},
		{"PUT /v1/sources/{id}/aliases/{entity_type}/{sender_id}", a.putAlias},
		{"DELETE /v1/sources/{id}/aliases/{entity_type}/{sender_id}", a.deleteAlias},
		{"GET /v1/event-types", okJSON(a.listEventTypes)},
		{"PUT /v1/event-types/{type}", a.putEventType},
		{"GET /v1/dlq/stats", okJSON(a.dlqStats)},
		{"GET /v1/dlq/records/{partition}/{offset}", okJSON(a.dlqRecord)},
		{"GET /v1/dlq/records", okJSON(a.dlqRecords)},
		{"GET /v1/dlq/replays", okJSON(a.listReplays)},
		{"POST /v1/dlq/replays", a.createReplay},
		{"GET /v1/dlq/replays/{id}", okJSON(a.getReplay)},
		{"POST /v1/dlq/replays/{id}/resume", a.resumeReplay},
		{"POST /v1/dlq/replays/{id}/stop", a.stopReplay},
		{"GET /v1/trace", okJSON(a.traceQuery)},
	}
}

// Mount registers every /v1 route of the admin API on mux, and a /v1/
// fallback answering unknown paths with a JSON 404.
func (a *API) Mount(mux *http.ServeMux) {
	a.routes = nil
	var patterns []string
	methods := map[string]map[string]handlerFunc{} // pattern → method → handler
	for _, op := range a.operations() {
		method, pattern, _ := strings.Cut(op.route, " ")
		if methods[pattern] == nil {
			methods[pattern] = map[string]handlerFunc{}
			patterns = append(patterns, pattern)
		}
		methods[pattern][method] = op.serve
	}
	for _, pattern := range patterns {
		a.handle(mux, pattern, true, methods[pattern])
	}
	a.handle(mux, "/v1/openapi.json", false, map[string]handlerFunc{
		http.MethodGet: a.openAPI,
	})
	a.handle(mux, "/v1/asyncapi.json", false, map[string]handlerFunc{
		http.MethodGet: a.asyncAPIDocument,
	})
	mux.Handle("/v1/", a.authenticated(func(_ http.ResponseWriter, r *http.Request) error {
		return httpx.Errorf(http.StatusNotFound, httpx.CodeNotFound, "no route %s %s; GET /v1/openapi.json lists them", r.Method, r.URL.Path)
	}))
}

// handle registers pattern, dispatching by method itself so a wrong method
// gets the JSON 405 with Allow rather than the mux's plain text.
func (a *API) handle(mux *http.ServeMux, pattern string, auth bool, methods map[string]handlerFunc) {
	allowed := make([]string, 0, len(methods))
	for m := range methods {
		allowed = append(allowed, m)
		a.routes = append(a.routes, m+" "+pattern)
	}
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")
	h := func(w http.ResponseWriter, r *http.Request) error {
		f, ok := methods[r.Method]
		if !ok {
			w.Header().Set("Allow", allow)
			return httpx.Errorf(http.StatusMethodNotAllowed, httpx.CodeMethodNotAllowed, "%s does not take %s; allowed: %s", pattern, r.Method, allow)
		}
		return f(w, r)
	}
	if auth {
		mux.Handle(pattern, a.authenticated(h))
	} else {
		mux.Handle(pattern, serve(h))
	}
}

// Routes lists "METHOD /pattern" of every route Mount registered, sorted.
func (a *API) Routes() []string {
	out := slices.Clone(a.routes)
	slices.Sort(out)
	return out
}

// routeOf is the "METHOD /pattern" r came in on, as the log lines name it.
// handle registers patterns without a method, so the mux's r.Pattern has
// none.
func routeOf(r *http.Request) string { return r.Method + " " + r.Pattern }

func serve(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			httpx.WriteError(w, err)
		}
	})
}

// authenticated requires "Authorization: Bearer <token>", compared in
// constant time (of hashes, so not even the length leaks).
func (a *API) authenticated(h handlerFunc) http.Handler {
	return serve(func(w http.ResponseWriter, r *http.Request) error {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="surge-admin"`)
			msg := "missing bearer token: send Authorization: Bearer <token> (surge dev keeps it in <data-dir>/admin-token)"
			if r.Header.Get("Authorization") != "" {
				msg = "wrong bearer token"
			}
			return httpx.Errorf(http.StatusUnauthorized, httpx.CodeUnauthorized, "%s", msg)
		}
		return h(w, r)
	})
}
