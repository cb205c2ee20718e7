// Package console is the operator console: server-rendered HTML pages
// under /console/ on the admin listener (surge admin, surge dev) — the
// overview, the subscriptions list with its actions, and a subscription's
// detail with its recent attempts and lanes.
//
// The console is a client of the admin API and nothing more: every page
// calls the admin routes in process, through the same handler an HTTP
// client reaches, with the admin token, so what it shows and changes is
// exactly what the JSON API shows and changes. It keeps no data of its
// own, only its sessions.
//
// Access takes the admin token once, on the login page; the console then
// keeps a session in a Secure, HttpOnly, SameSite=Strict cookie (the token
// never travels in a URL and is never stored in the browser), and every
// form that changes something carries a CSRF token bound to the session.
// Pages are html/template, so everything shown is HTML-escaped; the
// assets are embedded and the pages send a Content-Security-Policy that
// runs only them.
package console

import (
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"sync"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Defaults of Config.
const (
	DefaultSessionTTL = 12 * time.Hour
	// MaxSessions bounds the sessions kept; the oldest goes first.
	MaxSessions = 1000
)

// Config is the console's settings.
type Config struct {
	// Token is the admin API's bearer token; logging in takes it.
	Token string
	// API serves the admin routes (/v1/...), the mux admin.API.Mount
	// registered them on.
	API http.Handler
	// SessionTTL is how long a session lasts; 0 means DefaultSessionTTL.
	SessionTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Console serves /console/. It is safe for concurrent use.
type Console struct {
	cfg      Config
	now      func() time.Time
	tokenSum [sha256.Size]byte
	csrfKey  [32]byte
	pages    map[string]*template.Template

	routes []string // what Mount registered behind the session

	mu       sync.Mutex
	sessions map[string]time.Time // session id → expiry
}

// Routes lists "METHOD /pattern" of every route Mount registered that
// needs a session (all but the login page and the static assets), sorted.
func (c *Console) Routes() []string { return slices.Clone(c.routes) }

// New checks cfg and returns the console.
func New(cfg Config) (*Console, error) {
	var errs []error
	if cfg.Token == "" {
		errs = append(errs, errors.New("console: Config.Token is empty"))
	}
	if cfg.API == nil {
		errs = append(errs, errors.New("console: Config.API is nil"))
	}
	if cfg.SessionTTL < 0 {
		errs = append(errs, fmt.Errorf("console: Config.SessionTTL must not be negative, got %s", cfg.SessionTTL))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	c := &Console{cfg: cfg, now: cfg.Now, tokenSum: sha256.Sum256([]byte(cfg.Token)), sessions: map[string]time.Time{}}
	if c.now == nil {
		c.now = time.Now
	}
	if _, err := rand.Read(c.csrfKey[:]); err != nil {
		return nil, fmt.Errorf("console: drawing the CSRF key: %w", err)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c.pages = pages
	return c, nil
}

// Mount registers the console's routes on mux.
func (c *Console) Mount(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /console/static/", c.headers(http.StripPrefix("/console/static/", http.FileServerFS(static))))
	mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	mux.Handle("GET /console/login", c.headers(http.HandlerFunc(c.loginPage)))
	mux.Handle("POST /console/login", c.headers(http.HandlerFunc(c.login)))
	for route, h := range map[string]pageFunc{
		"GET /console/{$}":                               c.overview,
		"GET /console/subscriptions":                     c.subscriptions,
		"GET /console/subscriptions/{id}":                c.subscriptionDetail,
		"GET /console/topics":                            c.topicsPage,
		"POST /console/logout":                           c.logout,
		"POST /console/subscriptions":                    c.createSubscription,
		"POST /console/subscriptions/{id}/pause":         c.pauseSubscription,
		"POST /console/subscriptions/{id}/resume":        c.resumeSubscription,
		"GET /console/subscriptions/{id}/delete":         c.confirmDelete,
		"POST /console/subscriptions/{id}/delete":        c.deleteSubscription,
		"POST /console/subscriptions/{id}/rotate-secret": c.rotateSecret,
		"GET /console/dlq":                               c.dlqPage,
		"GET /console/dlq/replay":                        c.replayWizard,
		"POST /console/dlq/replay":                       c.planReplay,
		"GET /console/dlq/replays":                       c.replays,
		"POST /console/dlq/replays":                      c.startReplay,
		"GET /console/dlq/replays/{id}":                  c.replayDetail,
		"POST /console/dlq/replays/{id}/stop":            c.stopReplay,
		"POST /console/dlq/replays/{id}/resume":          c.resumeReplay,
		"GET /console/trace":                             c.tracePage,
	} {
		mux.Handle(route, c.headers(c.authenticated(h)))
		c.routes = append(c.routes, route)
	}
	slices.Sort(c.routes)
	mux.Handle("/console/", c.headers(c.authenticated(func(w http.ResponseWriter, r *http.Request, _ session) error {
		return c.render(w, r, http.StatusNotFound, "notfound", page{Title: "Not found"})
	})))
}

// headers sets what every console answer carries: no caching, no
// framing, no sniffing, and scripts and styles from the console only.
func (c *Console) headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.ServeHTTP(w, r)
	})
}
