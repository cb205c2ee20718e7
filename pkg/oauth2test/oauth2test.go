// Package oauth2test is an OAuth2 client-credentials token endpoint for
// tests: it counts the token requests it gets, issues numbered tokens with
// a chosen lifetime, can be made to fail, and checks the bearer tokens an
// endpoint receives. It is for tests only.
package oauth2test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Server is a token endpoint (its URL is the token URL) for one client.
type Server struct {
	*httptest.Server
	ClientID, ClientSecret string

	requests atomic.Int64
	failing  atomic.Bool

	mu        sync.Mutex
	expiresIn int // seconds; 0 sends no expires_in
	issued    map[string]bool
	revoked   map[string]bool
	scopes    []string
	audiences []string
}

// NewServer starts a token endpoint for the client id and secret whose
// tokens live expiresIn seconds; it is closed when t ends.
func NewServer(t testing.TB, clientID, clientSecret string, expiresIn int) *Server {
	t.Helper()
	s := &Server{ClientID: clientID, ClientSecret: clientSecret, expiresIn: expiresIn,
		issued: map[string]bool{}, revoked: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serveToken))
	t.Cleanup(s.Close)
	return s
}

// TokenURL is the URL a client fetches tokens from.
func (s *Server) TokenURL() string { return s.URL + "/oauth2/token" }

// Requests is how many token requests the endpoint got.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Fail makes every token request fail with a 503 (true) or succeed again.
func (s *Server) Fail(on bool) { s.failing.Store(on) }

// Revoke makes the endpoint check refuse a token it issued.
func (s *Server) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[token] = true
}

// RevokeAll refuses every token issued so far.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok := range s.issued {
		s.revoked[tok] = true
	}
}

// Requested is the scope and audience parameters of every token request
// so far, in order.
func (s *Server) Requested() (scopes, audiences []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.scopes...), append([]string(nil), s.audiences...)
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	if s.failing.Load() {
		http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.ClientID || secret != s.ClientSecret {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	tok := fmt.Sprintf("token-%d", n)
	s.mu.Lock()
	s.issued[tok] = true
	s.scopes = append(s.scopes, r.PostForm.Get("scope"))
	s.audiences = append(s.audiences, r.PostForm.Get("audience"))
	body := map[string]any{"access_token": tok, "token_type": "Bearer"}
	if s.expiresIn > 0 {
		body["expires_in"] = s.expiresIn
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// Check reports whether r carries a bearer token this endpoint issued and
// did not revoke.
func (s *Server) Check(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued[tok] && !s.revoked[tok]
}

// Protect wraps next: a request without a valid token gets 401.
func (s *Server) Protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.Check(r) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
