// Package ingest is Surge's HTTP front door. It accepts commerce events in
// the canonical envelope, the Adobe Commerce starter-kit format and
// CloudEvents 1.0, verifies the source's signature, checks the event type
// against the catalog, keys each event's entity by the source's identity
// rules (identity.go), keeps the sender's own identity of the event in its
// origin, mints ksuid event ids and answers 202 only once the
// events are committed to commerce.events.raw with acks from all in-sync
// replicas. Overload gives 429 and Kafka trouble 503, both with
// Retry-After; the number of events in flight is bounded.
//
// Idempotency: the same (source, idempotency key) within the dedup window
// yields one event and the same id, across restarts and instances, because
// the key is recorded in the compacted commerce.ingest.dedup topic in the
// same Kafka transaction as the event.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"golang.org/x/sync/semaphore"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/ktable"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/service"
	"github.com/surgehq/surge/pkg/store"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/tracing"
)

// Config is the ingest service's configuration.
type Config struct {
	Addr         string
	Kafka        config.Kafka
	Registry     config.Registry
	Log          config.Log
	InstanceID   string
	MaxBodyBytes int64
	// BodyDrain bounds the discarding of a body left unread by an early
	// answer (a 413, 401, ...), so that clients that send before they
	// read still get the answer.
	BodyDrain      httpx.Drain
	MaxInFlight    int
	ProduceTimeout time.Duration
	DedupWindow    time.Duration
	Writers        int
	MaxTxnRecords  int
}

// Flags registers the settings on fs with their defaults.
func (c *Config) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Addr, "ingest-addr", "127.0.0.1:8080", "ingest HTTP listener")
	c.Kafka.Flags(fs)
	c.Registry.Flags(fs)
	c.Log.Flags(fs)
	host, _ := os.Hostname()
	fs.StringVar(&c.InstanceID, "instance-id", host, "stable name of this instance; transactional ids derive from it, so two live instances must differ")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 1<<20, "largest request body accepted (413 above)")
	c.BodyDrain.Flags(fs)
	fs.IntVar(&c.MaxInFlight, "max-in-flight-events", 20000, "events accepted but not yet committed before answering 429")
	fs.DurationVar(&c.ProduceTimeout, "produce-timeout", 10*time.Second, "how long to wait for Kafka before answering 503")
	fs.DurationVar(&c.DedupWindow, "dedup-window", topics.DefaultDedupWindow, "how long an idempotency key is remembered")
	fs.IntVar(&c.Writers, "writers", 2, "transactional producers committing in parallel")
	fs.IntVar(&c.MaxTxnRecords, "max-txn-records", 5000, "most records one ingest transaction carries")
}

// Validate checks the configuration without doing any I/O.
func (c *Config) Validate() error {
	errs := []error{
		config.ValidateAddr("ingest-addr", c.Addr),
		c.Kafka.Validate(),
		c.Registry.Validate(),
		c.Log.Validate(),
		config.ValidatePositive("produce-timeout", c.ProduceTimeout),
		config.ValidatePositive("dedup-window", c.DedupWindow),
		c.BodyDrain.Validate(),
		config.ValidateSet("instance-id", c.InstanceID),
		config.ValidateAtLeast("max-body-bytes", c.MaxBodyBytes, 1024),
		config.ValidateAtLeast("max-in-flight-events", c.MaxInFlight, 1),
		config.ValidateBetween("writers", c.Writers, 1, 16),
		config.ValidateAtLeast("max-txn-records", c.MaxTxnRecords, 1),
	}
	return errors.Join(errs...)
}

// Deps are the collaborators a Service can be given. Without Sources and
// Catalog, the service tails the sources and event types topics the admin
// API writes, and without Aliases the entity aliases topic (the built-in catalog and the "default" unsigned source until
// an operator changes them), so changes apply without a restart. Without
// Metrics nothing is registered; without Now the wall clock is used.
type Deps struct {
	Sources catalog.Sources
	Catalog *catalog.Catalog
	// Aliases resolves entity aliases for the sources' identity rules;
	// nil tails commerce.entity-aliases.
	Aliases Aliases
	Metrics prometheus.Registerer
	Now     func() time.Time
	// Tracing is the service's tracing (pkg/tracing); nil is off.
	Tracing *tracing.Provider
}

// Service is a running ingest: HTTP handler, idempotency index and
// transactional writers.
type Service struct {
	cfg       Config
	log       *zap.Logger
	sources   catalog.Sources
	catalog   *catalog.Catalog
	aliases   Aliases
	validator *DataValidator
	now       func() time.Time
	names     topics.Namer
	tracer    trace.Tracer // nil: tracing off

	events *avroserde.Codec[event.Event]
	dedups *avroserde.Codec[IdempotencyRecord]
	dedup  *dedupIndex
	writer *txnWriter
	budget *semaphore.Weighted
	m      *metrics

	live       *store.Live                        // sources and event types tailed, unless given in Deps
	aliasTable *ktable.Table[catalog.EntityAlias] // entity aliases tailed, unless given in Deps
	tail       *kgo.Client
	cancel     context.CancelFunc
	done       chan struct{}
	ready      observe.Readiness
}

// New connects to Kafka and the registry, creates missing topics,
// registers the schemas, and reads the idempotency topic to its end. It
// returns once the service can accept events.
func New(ctx context.Context, cfg Config, log *zap.Logger, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Service{
		cfg:       cfg,
		log:       log,
		sources:   deps.Sources,
		catalog:   deps.Catalog,
		aliases:   deps.Aliases,
		tracer:    deps.Tracing.Tracer(),
		validator: NewDataValidator(),
		now:       deps.Now,
		names:     topics.Namer{Prefix: cfg.Kafka.TopicPrefix},
		dedup:     newDedupIndex(cfg.DedupWindow, deps.Now),
		budget:    semaphore.NewWeighted(int64(cfg.MaxInFlight)),
		done:      make(chan struct{}),
	}
	s.m = newMetrics(deps.Metrics, func() float64 { return float64(s.dedup.size()) })

	admCl, err := kafkax.Open(ctx, cfg.Kafka, log, cfg.DedupWindow)
	if err != nil {
		return nil, err
	}
	defer admCl.Close()

	reg, err := avroserde.Connect(cfg.Registry.URL)
	if err != nil {
		return nil, err
	}
	storeOpts := store.Options{Names: s.names, ClientOpts: kafkax.ClientOpts(cfg.Kafka, log), Registry: reg, Log: log.Named("store")}
	if deps.Aliases == nil {
		if s.aliasTable, err = store.Aliases(ctx, storeOpts); err != nil {
			return nil, fmt.Errorf("loading entity aliases: %w", err)
		}
		s.aliases = store.AliasLookup{Table: s.aliasTable}
	}
	if s.live, s.sources, s.catalog, err = store.OpenMissing(ctx, storeOpts, s.sources, s.catalog); err != nil {
		s.Close()
		return nil, err
	}
	s.events = avroserde.NewEventCodec(reg, s.names.Name(topics.EventsRaw))
	s.dedups = newDedupCodec(reg, s.names.Name(topics.IngestDedup))
	if err := avroserde.RegisterAll(ctx, s.events, s.dedups); err != nil {
		s.Close()
		return nil, err
	}

	if err := s.loadDedup(ctx); err != nil {
		s.Close()
		return nil, err
	}

	txnIDs := make([]string, cfg.Writers)
	for i := range txnIDs {
		txnIDs[i] = topics.Ingest.TransactionalID(cfg.Kafka.TopicPrefix, cfg.InstanceID) + "-" + strconv.Itoa(i)
	}
	newCl := func(txnID string) (*kgo.Client, error) {
		return kgo.NewClient(kafkax.ClientOpts(cfg.Kafka, log,
			kgo.TransactionalID(txnID),
			kgo.TransactionTimeout(cfg.ProduceTimeout+30*time.Second),
			kgo.RecordDeliveryTimeout(cfg.ProduceTimeout),
			kgo.ProducerLinger(0),
			kgo.MaxBufferedRecords(cfg.MaxTxnRecords*2),
			kafkax.ClientMetrics(deps.Metrics, txnID),
		)...)
	}
	s.writer = newTxnWriter(newCl, txnIDs, cfg.MaxTxnRecords, cfg.ProduceTimeout, log, s.m)
	s.ready.Set(true)
	return s, nil
}

// Ready reports whether the service accepts events.
func (s *Service) Ready() bool { return s.ready.Ready() }

// Readiness is what /readyz answers: nil from the end of New until Close
// starts, ErrNotReady otherwise.
func (s *Service) Readiness() error { return s.ready.Err() }

// Close stops accepting, answers what is queued, and stops the tail.
func (s *Service) Close() {
	s.ready.Set(false)
	if s.writer != nil {
		s.writer.Close()
	}
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
	if s.tail != nil {
		s.tail.Close()
	}
	if s.live != nil {
		s.live.Close()
	}
	if s.aliasTable != nil {
		s.aliasTable.Close()
	}
}

// Run is the standalone ingest process: the service plus its HTTP listener
// with /healthz, /readyz and /metrics, until ctx ends.
func Run(ctx context.Context, cfg Config, log *zap.Logger) error {
	newService := func(d service.Deps) (*Service, error) {
		return New(ctx, cfg, log, Deps{Metrics: d.Metrics, Tracing: d.Tracing})
	}
	return service.Serve(ctx, "ingest", newService, func(ctx context.Context, svc *Service, mux *http.ServeMux) error {
		svc.Mount(mux)
		log.Info("ingest listening", zap.String(observe.KeyAddr, cfg.Addr))
		return httpx.ListenAndServe(ctx, cfg.Addr, httpx.DrainUnread(mux, cfg.BodyDrain))
	})
}

// LogLevel is the configured log level.
func (c *Config) LogLevel() string { return c.Log.Level }
