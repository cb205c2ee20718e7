// Package admin is Surge's admin HTTP API: subscriptions (create, list,
// get, partial update, delete, secret rotation and revocation), sources and
// their entity aliases, event types, the dead-letter topics (stats,
// records, replays; pkg/dlq) and what the pipeline left in Kafka (stage
// lag, a subscription's recent attempts and parked keys; pkg/inspect), behind a
// bearer token, with the JSON errors of pkg/httpx and an OpenAPI 3
// document of itself at /v1/openapi.json.
//
// The API keeps no state of its own: every read and write goes to a Store,
// one compacted Kafka topic tailed into memory (pkg/ktable in production,
// an in-memory map in tests). Changes are logged at info with the route
// and the id, never a secret.
package admin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/asyncapi"
	"github.com/surgehq/surge/pkg/backlog"
	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/subscription"
)

// Store is one compacted topic tailed into memory. Implementations must be
// safe for concurrent use. Get and List never block on I/O; Put and Delete
// block until the change is durable and visible to Get, or ctx ends.
type Store[V any] interface {
	Get(key string) (V, bool)
	// List returns every value, sorted by key.
	List() []V
	// Put is durable and visible to Get when it returns nil.
	Put(ctx context.Context, key string, v V) error
	// Delete writes a tombstone; it is visible to Get when it returns nil.
	Delete(ctx context.Context, key string) error
}

// Defaults of Config.
const (
	DefaultMaxBodyBytes = 256 << 10
	DefaultWriteTimeout = 10 * time.Second
	// RetryAfter is sent with a 503 when a store write failed.
	RetryAfter = 5 * time.Second
)

// Config is the admin API's settings.
type Config struct {
	// Token is the bearer token every request but the OpenAPI document
	// must carry; required.
	Token string
	// AllowLoopback lets subscriptions target loopback without
	// allow_private (surge dev).
	AllowLoopback bool
	// SecretGrace is how long a rotated-out secret keeps signing when a
	// rotation request names no grace; 0 means subscription.DefaultGrace
	// (24 h).
	SecretGrace time.Duration
	// MaxBodyBytes bounds a request body (413 above); 0 means
	// DefaultMaxBodyBytes (256 KiB).
	MaxBodyBytes int64
	// WriteTimeout bounds one store write (503 after); 0 means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Cluster is the cluster the AsyncAPI document of the topics, served
	// without authentication at GET /v1/asyncapi.json, names as its
	// server; without a Host the document names none.
	Cluster asyncapi.Server
}

// Deps are the API's collaborators.
type Deps struct {
	Subscriptions Store[event.Subscription]
	Sources       Store[catalog.Source]
	// EventTypes holds the operator-set types; they override built-ins
	// by name.
	EventTypes Store[catalog.EventType]
	// Catalog is the live merged view (built-ins and EventTypes) that
	// GET /v1/event-types shows. The API also puts a type it stored into
	// it, so the change is in effect at once in this process.
	Catalog *catalog.Catalog
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Resolver resolves subscription target hosts for the SSRF check; nil
	// means net.DefaultResolver.
	Resolver subscription.Resolver
	// ResolveTimeout bounds one lookup; 0 means
	// subscription.DefaultResolveTimeout.
	ResolveTimeout time.Duration
	// Log receives one info line per change; nil means no logging.
	Log *zap.Logger
	// DLQ serves /v1/dlq (stats, records, replays); nil answers those
	// routes with 503.
	DLQ DLQ
	// Aliases holds the sources' entity aliases (commerce.entity-aliases),
	// keyed by catalog.AliasKey; nil answers the alias routes with 503.
	Aliases Store[catalog.EntityAlias]
	// Backlog holds the dispatchers' backlog reports (commerce.backlog,
	// pkg/backlog), which GET /v1/subscriptions/{id} sums into its
	// read-only "backlog"; nil leaves that field out.
	Backlog BacklogReports
	// Inspector reads stage lag, attempts and lanes from Kafka (pkg/inspect);
	// nil answers those routes with 503.
	Inspector Inspector
	// Tracer reads an event's trace, an entity key's events and a
	// webhook-id's event from Kafka (pkg/trace) for GET /v1/trace; nil
	// answers it with 503.
	Tracer Tracer
}

// BacklogReports is the table of the dispatchers' backlog reports
// (a *ktable.Table in production). List never blocks on I/O and is safe
// for concurrent use.
type BacklogReports interface {
	List() []backlog.Report
}

// API serves the admin routes. It is safe for concurrent use.
type API struct {
	cfg       Config
	deps      Deps
	validator subscription.Validator
	now       func() time.Time
	log       *zap.Logger
	tokenSum  [sha256.Size]byte

	// mu serializes this process's read-modify-write changes, so two
	// PATCHes of one subscription cannot lose either change.
	mu sync.Mutex

	routes   []string // "METHOD /pattern" of every route Mount registered
	asyncAPI []byte   // the AsyncAPI document of the topics on cfg.Cluster
}

// New checks cfg and deps and returns the API.
func New(cfg Config, deps Deps) (*API, error) {
	var errs []error
	if cfg.Token == "" {
		errs = append(errs, errors.New("admin: Config.Token is empty; the admin API needs a bearer token"))
	}
	if cfg.SecretGrace < 0 {
		errs = append(errs, fmt.Errorf("admin: Config.SecretGrace must not be negative, got %s", cfg.SecretGrace))
	}
	if cfg.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("admin: Config.MaxBodyBytes must not be negative, got %d", cfg.MaxBodyBytes))
	}
	if cfg.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("admin: Config.WriteTimeout must not be negative, got %s", cfg.WriteTimeout))
	}
	if deps.Subscriptions == nil {
		errs = append(errs, errors.New("admin: Deps.Subscriptions is nil"))
	}
	if deps.Sources == nil {
		errs = append(errs, errors.New("admin: Deps.Sources is nil"))
	}
	if deps.EventTypes == nil {
		errs = append(errs, errors.New("admin: Deps.EventTypes is nil"))
	}
	if deps.Catalog == nil {
		errs = append(errs, errors.New("admin: Deps.Catalog is nil"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.SecretGrace == 0 {
		cfg.SecretGrace = subscription.DefaultGrace
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	a := &API{
		cfg:  cfg,
		deps: deps,
		validator: subscription.Validator{
			AllowLoopback:  cfg.AllowLoopback,
			Resolver:       deps.Resolver,
			ResolveTimeout: deps.ResolveTimeout,
		},
		now:      deps.Now,
		log:      deps.Log,
		tokenSum: sha256.Sum256([]byte(cfg.Token)),
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	doc, err := asyncapi.Document(cfg.Cluster)
	if err != nil {
		return nil, fmt.Errorf("admin: writing the AsyncAPI document: %w", err)
	}
	a.asyncAPI = doc
	return a, nil
}

// resolverNoLookup fails every lookup: the SSRF check of an unchanged URL
// then only looks at IP literals, so pausing a subscription does not wait
// for DNS.
type resolverNoLookup struct{}

func (resolverNoLookup) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	return nil, errors.New("not looked up")
}
