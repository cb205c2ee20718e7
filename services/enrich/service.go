// Package enrich is Surge's enrich stage. It reads commerce.events.raw and
// writes commerce.events.enriched exactly once, through pkg/stream's
// transactional consume-transform-produce loop: every enriched event
// carries the whole entity (its snapshot merged with the event), the
// top-level fields the event changed and a per-entity version that grows by
// one per event.
//
// State is partition-local and kept in Kafka: each entity's snapshot is
// written to the compacted commerce.entities topic in the same transaction
// as its enriched event, on the same partition number as the raw event, and
// an instance rebuilds a partition's snapshots from it when the partition
// is assigned. Thin events (type and id only) are filled by the source's
// HTTP loader. Stock and order events keep a per-SKU inventory ledger and
// emit inventory.changed and inventory.oversold. Records that cannot be
// enriched go to commerce.events.dlq with error headers.
//
// README.md in this directory documents the rules for users; core.go holds
// the pure function at the centre, Apply.
package enrich

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/opsevent"
	"github.com/surgehq/surge/pkg/service"
	"github.com/surgehq/surge/pkg/store"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/tracing"
)

// StageName names the stage in logs, metrics and the surge.dlq.stage
// header.
const StageName = topics.StageEnrich

// Config is the enrich service's configuration.
type Config struct {
	Kafka    config.Kafka
	Registry config.Registry
	Log      config.Log
	Stall    config.Stall
	// InstanceID names this instance; the transactional id derives from
	// it, so two live instances must differ and a restarted one should
	// keep its id (its unfinished transaction is then aborted at once).
	InstanceID  string
	MetricsAddr string // listener of /healthz, /readyz, /metrics (Run only)
	// MaxPollRecords is the most raw records one transaction handles.
	MaxPollRecords int
	// LoaderAttempts is the most HTTP tries of one load, all within the
	// loader's timeout budget.
	LoaderAttempts int
	// LoaderWait is how long a record waits for its load (or for its
	// partition's state to be rebuilt) before it is deferred to a later
	// batch so other partitions can commit.
	LoaderWait time.Duration
	// LoaderConcurrency bounds loader HTTP calls in flight.
	LoaderConcurrency int
	// RestoreWait is how long rebuilding a partition's snapshots waits for
	// another producer's open transaction on commerce.entities (a previous
	// owner that has not finished) before the batch is retried.
	RestoreWait time.Duration
	// SourcesFile, when set, is a JSON list of sources (as PUT
	// /v1/sources/{id} takes them) with their loaders, used instead of
	// the sources stored in Kafka; Deps.Sources overrides it.
	SourcesFile string
}

// Flags registers the settings on fs with their defaults.
func (c *Config) Flags(fs *pflag.FlagSet) {
	c.Kafka.Flags(fs)
	c.Registry.Flags(fs)
	c.Log.Flags(fs)
	c.Stall.Flags(fs)
	host, _ := os.Hostname()
	fs.StringVar(&c.InstanceID, "instance-id", host, "stable name of this instance; the transactional id derives from it, so two live instances must differ")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "127.0.0.1:8086", "listener of /healthz, /readyz and /metrics")
	fs.IntVar(&c.MaxPollRecords, "max-poll-records", 10000, "most raw records handled in one transaction (a poll takes what one fetch of at most 2 MiB brought)")
	fs.IntVar(&c.LoaderAttempts, "loader-attempts", 3, "most HTTP tries of one loader call, all within the loader's timeout_ms")
	fs.DurationVar(&c.LoaderWait, "loader-wait", 250*time.Millisecond, "how long a thin event waits for its loader (or a record for its partition's state to be rebuilt) before its partition is deferred to a later transaction (0: wait for the whole load)")
	fs.IntVar(&c.LoaderConcurrency, "loader-concurrency", 64, "loader HTTP calls in flight at most")
	fs.DurationVar(&c.RestoreWait, "restore-wait", 5*time.Second, "how long rebuilding a partition's state waits for an unfinished transaction of a previous owner before retrying the batch")
	fs.StringVar(&c.SourcesFile, "sources-file", "", "JSON file with a list of sources and their loaders, instead of the sources the admin API stores in Kafka")
}

// Validate checks the configuration without doing any I/O.
func (c *Config) Validate() error {
	errs := []error{
		c.Kafka.Validate(),
		c.Registry.Validate(),
		c.Log.Validate(),
		c.Stall.Validate(),
		config.ValidatePositive("restore-wait", c.RestoreWait),
	}
	if c.MetricsAddr != "" {
		errs = append(errs, config.ValidateAddr("metrics-addr", c.MetricsAddr))
	}
	errs = append(errs,
		config.ValidateSet("instance-id", c.InstanceID),
		config.ValidateAtLeast("max-poll-records", c.MaxPollRecords, 1),
		config.ValidateBetween("loader-attempts", c.LoaderAttempts, 1, 10),
		config.ValidateNotNegative("loader-wait", c.LoaderWait),
		config.ValidateAtLeast("loader-concurrency", c.LoaderConcurrency, 1),
	)
	return errors.Join(errs...)
}

// LogLevel is the configured log level.
func (c *Config) LogLevel() string { return c.Log.Level }

// Deps are the collaborators a Service can be given; zero values get
// defaults: the sources of Config.SourcesFile, or else the sources and
// event types the admin API stores in Kafka, tailed so changes apply
// without a restart (the built-in catalog and the "default" unsigned
// source until an operator changes them); no metrics registry; the wall
// clock; an HTTP client without a global timeout (each loader call has its
// own).
type Deps struct {
	Sources    catalog.Sources
	Catalog    *catalog.Catalog
	Metrics    prometheus.Registerer
	Now        func() time.Time
	HTTPClient *http.Client
	// Tracing is the service's tracing (pkg/tracing); nil is off.
	Tracing *tracing.Provider
}

// Service is a ready-to-run enrich stage.
type Service struct {
	cfg     Config
	log     *zap.Logger
	sources catalog.Sources
	catalog *catalog.Catalog
	now     func() time.Time
	names   topics.Namer

	events    *avroserde.Codec[event.Event]
	enriched  *avroserde.Codec[event.EnrichedEvent]
	snapshots *avroserde.Codec[*Snapshot]

	live    *store.Live // sources and event types tailed, unless given
	admin   *kgo.Client // metadata and offset listing
	state   *partitionSnapshots
	loaders *loaders
	stage   *stream.Stage
	m       *metrics

	stopBackground context.CancelFunc // loads and state rebuilds
	ready          observe.Readiness
	closeOnce      sync.Once
}

// New checks the configuration, connects to Kafka and the registry,
// creates missing topics, checks that commerce.entities is partitioned
// like commerce.events.raw, and registers the schemas. It does not consume
// yet: Run does.
func New(ctx context.Context, cfg Config, log *zap.Logger, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	if deps.Sources == nil && cfg.SourcesFile != "" {
		srcs, err := loadSourcesFile(cfg.SourcesFile)
		if err != nil {
			return nil, err
		}
		deps.Sources = srcs
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.HTTPClient == nil {
		deps.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	s := &Service{
		cfg:     cfg,
		log:     log,
		sources: deps.Sources,
		catalog: deps.Catalog,
		now:     deps.Now,
		names:   topics.Namer{Prefix: cfg.Kafka.TopicPrefix},
	}
	bgCtx, stop := context.WithCancel(context.Background())
	s.stopBackground = stop
	s.state = newPartitionSnapshots(bgCtx, s.restorePartition, cfg.LoaderWait, log.Named("state"))
	s.m = newMetrics(deps.Metrics, func() float64 { return float64(s.state.snapshots()) })

	admin, err := kafkax.Open(ctx, cfg.Kafka, log, topics.DefaultDedupWindow)
	if err != nil {
		stop()
		return nil, err
	}
	s.admin = admin
	if err := s.checkPartitions(ctx); err != nil {
		s.Close()
		return nil, err
	}

	reg, err := avroserde.Connect(cfg.Registry.URL)
	if err != nil {
		s.Close()
		return nil, err
	}
	// Tail the sources and event types the admin API writes, unless given.
	s.live, s.sources, s.catalog, err = store.OpenMissing(ctx, store.Options{Names: s.names, ClientOpts: kafkax.ClientOpts(cfg.Kafka, log), Registry: reg, Log: log.Named("store")}, s.sources, s.catalog)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.events = avroserde.NewEventCodec(reg, s.names.Name(topics.EventsRaw))
	s.enriched = avroserde.NewEnrichedEventCodec(reg, s.names.Name(topics.EventsEnriched))
	s.snapshots = newSnapshotCodec(reg, s.names.Name(topics.Entities))
	stalls := stream.NewStallCodec(reg, s.names.Name(topics.Stalls))
	if err := avroserde.RegisterAll(ctx, s.events, s.enriched, s.snapshots, stalls); err != nil {
		s.Close()
		return nil, err
	}

	s.loaders = newLoaders(bgCtx, deps.HTTPClient, cfg.LoaderAttempts, cfg.LoaderConcurrency, cfg.LoaderWait, log.Named("loader"), s.m)
	stage, err := stream.New(topics.Enrich, cfg.Kafka.TopicPrefix, cfg.InstanceID, &stream.Stage{
		Handle:             stream.Typed("raw event", s.events.Decode, s.handle),
		CheckKeys:          true, // keyed by entity: a misrouted record would fork it
		MaxPollRecords:     cfg.MaxPollRecords,
		TransactionTimeout: cfg.Kafka.TransactionTimeout,
		ClientOpts:         kafkax.ClientOpts(cfg.Kafka, log, stream.FetchSizing()...),
		Log:                log,
		Metrics:            stream.NewMetrics(deps.Metrics),
		Tracer:             deps.Tracing.Tracer(),
		Now:                deps.Now,
		State:              stageState{snapshots: s.state, metrics: s.m},
		StallAfter:         cfg.Stall.After,
		ReportStall: (&stream.StallReporter{Client: s.admin, Codec: stalls, Log: log,
			Ops: &opsevent.Emitter{Client: s.admin, Codec: s.events, Log: log, Now: s.now}}).Report,
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.stage = stage
	return s, nil
}

// checkPartitions checks the partition counts the state design relies
// on: raw partition p's snapshots live in entities partition p.
func (s *Service) checkPartitions(ctx context.Context) error {
	adm := kadm.NewClient(s.admin)
	raw, entities := s.names.Name(topics.EventsRaw), s.names.Name(topics.Entities)
	details, err := adm.ListTopics(ctx, raw, entities)
	if err != nil {
		return fmt.Errorf("describing topics %s and %s: %w", raw, entities, err)
	}
	nRaw, nEnt := len(details[raw].Partitions), len(details[entities].Partitions)
	if nRaw == 0 || nRaw != nEnt {
		return fmt.Errorf("checking topics: %s has %d partitions and %s has %d; enrich needs the same number in both", raw, nRaw, entities, nEnt)
	}
	return nil
}

// Run consumes until ctx ends and returns nil after a clean shutdown (its
// transaction aborted, the group left). It returns an error only if the
// stage cannot run at all. Run may be called once.
func (s *Service) Run(ctx context.Context) error { return s.ready.While(ctx, s.stage.Run) }

// Ready reports whether the service is consuming.
func (s *Service) Ready() bool { return s.ready.Ready() }

// Owned is how many input partitions the stage owns now (stream.Stage's
// Owned).
func (s *Service) Owned() int { return s.stage.Owned() }

// Readiness is what /readyz answers: nil while the service consumes and
// no input partition is stalled; otherwise why not (a *stream.StalledError
// names each stalled partition with its reason).
func (s *Service) Readiness() error { return s.ready.ErrOr(s.stage.Stalled) }

// Close releases what New opened. Call it after Run returned.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		s.stopBackground()
		if s.live != nil {
			s.live.Close()
		}
		s.admin.Close()
	})
}

// Run is the standalone enrich process: the service plus /healthz, /readyz
// and /metrics on cfg.MetricsAddr, until ctx ends.
func Run(ctx context.Context, cfg Config, log *zap.Logger) error {
	return service.RunStage(ctx, log, service.Standalone{Name: StageName, MetricsAddr: cfg.MetricsAddr, InstanceID: cfg.InstanceID},
		func(d service.Deps) (*Service, error) {
			return New(ctx, cfg, log, Deps{Metrics: d.Metrics, Tracing: d.Tracing})
		})
}

// loadSourcesFile reads a JSON list of sources; "" gives the default
// source without loaders.
func loadSourcesFile(path string) (catalog.Sources, error) {
	if path == "" {
		return catalog.StaticSources{catalog.DefaultSourceID: catalog.DefaultSource()}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading SURGE_SOURCES_FILE (--sources-file): %w", err)
	}
	var list []catalog.Source
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("parsing SURGE_SOURCES_FILE (--sources-file) %s: %w", path, err)
	}
	out := catalog.StaticSources{}
	for i, src := range list {
		if err := src.Validate(); err != nil {
			return nil, fmt.Errorf("validating source %d (%q) of %s: %w", i, src.ID, path, err)
		}
		out[src.ID] = src
	}
	return out, nil
}
