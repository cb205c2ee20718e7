// Package fanout is Surge's fanout stage. It reads commerce.events.enriched
// and writes commerce.deliveries exactly once, through pkg/stream's
// transactional consume-transform-produce loop: one Delivery per enabled
// subscription (paused ones included: the dispatcher holds them) whose
// event-type patterns and CEL filter match the event.
//
// Subscriptions come from the compacted commerce.subscriptions topic,
// tailed into memory (pkg/ktable). Before handling a batch the stage makes
// sure every subscription change acknowledged before the batch's events
// were enriched is applied, so a change made through the admin API applies
// to every event enriched after the call returned. A subscription created
// at time T only gets events enriched at or after T: events already in the
// pipeline (a backlog, a replay of the enriched topic) are not sent to a
// subscription that did not exist when they were enriched.
//
// A delivery is keyed "<subscription id>/<entity key>": one subscription's
// deliveries for one entity share a partition and keep their order, while
// the subscriptions of an entity spread over partitions. Its id, the
// webhook-id, derives from (event id, subscription id) alone.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/ktable"
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
const StageName = topics.StageFanout

// Config is the fanout service's configuration.
type Config struct {
	Kafka    config.Kafka
	Registry config.Registry
	Log      config.Log
	Stall    config.Stall
	// InstanceID names this instance; the transactional id derives from
	// it, so two live instances must differ.
	InstanceID     string
	MetricsAddr    string // listener of /healthz, /readyz, /metrics (Run only)
	MaxPollRecords int    // most enriched events one transaction handles
}

// Flags registers the settings on fs with their defaults.
func (c *Config) Flags(fs *pflag.FlagSet) {
	c.Kafka.Flags(fs)
	c.Registry.Flags(fs)
	c.Log.Flags(fs)
	c.Stall.Flags(fs)
	host, _ := os.Hostname()
	fs.StringVar(&c.InstanceID, "instance-id", host, "stable name of this instance; the transactional id derives from it, so two live instances must differ")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "127.0.0.1:8087", "listener of /healthz, /readyz and /metrics")
	fs.IntVar(&c.MaxPollRecords, "max-poll-records", 10000, "most enriched events handled in one transaction")
}

// Validate checks the configuration without doing any I/O.
func (c *Config) Validate() error {
	errs := []error{c.Kafka.Validate(), c.Registry.Validate(), c.Log.Validate(), c.Stall.Validate()}
	if c.MetricsAddr != "" {
		errs = append(errs, config.ValidateAddr("metrics-addr", c.MetricsAddr))
	}
	errs = append(errs, config.ValidateSet("instance-id", c.InstanceID), config.ValidateAtLeast("max-poll-records", c.MaxPollRecords, 1))
	return errors.Join(errs...)
}

// LogLevel is the configured log level.
func (c *Config) LogLevel() string { return c.Log.Level }

// Deps are what tests and `surge dev` may inject.
type Deps struct {
	Metrics prometheus.Registerer
	Now     func() time.Time
	// Subscriptions, when set, is a subscriptions table shared with other
	// components of the process; by default fanout opens its own.
	Subscriptions *ktable.Table[event.Subscription]
	// Tracing is the service's tracing (pkg/tracing); nil is off.
	Tracing *tracing.Provider
}

// Service is a running fanout stage.
type Service struct {
	cfg        Config
	log        *zap.Logger
	now        func() time.Time
	names      topics.Namer
	admin      *kgo.Client
	enriched   *avroserde.Codec[event.EnrichedEvent]
	deliveries *avroserde.Codec[event.Delivery]
	subs       *ktable.Table[event.Subscription]
	ownSubs    bool
	router     *router
	m          *metrics
	errLog     logLimiter
	stage      *stream.Stage
	ready      observe.Readiness
	closeOnce  sync.Once
}

// New connects to Kafka and the registry, creates missing topics, loads
// the subscriptions and registers the schemas. It does not consume yet:
// Run does.
func New(ctx context.Context, cfg Config, log *zap.Logger, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Service{
		cfg:    cfg,
		log:    log,
		now:    deps.Now,
		names:  topics.Namer{Prefix: cfg.Kafka.TopicPrefix},
		errLog: logLimiter{period: time.Minute},
	}
	admin, err := kafkax.Open(ctx, cfg.Kafka, log, topics.DefaultDedupWindow)
	if err != nil {
		return nil, err
	}
	s.admin = admin
	reg, err := avroserde.Connect(cfg.Registry.URL)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.enriched = avroserde.NewEnrichedEventCodec(reg, s.names.Name(topics.EventsEnriched))
	s.deliveries = avroserde.NewDeliveryCodec(reg, s.names.Name(topics.Deliveries))
	stalls := stream.NewStallCodec(reg, s.names.Name(topics.Stalls))
	ops := &opsevent.Emitter{Client: s.admin, Codec: avroserde.NewEventCodec(reg, s.names.Name(topics.EventsRaw)), Log: log, Now: deps.Now}
	if err := avroserde.RegisterAll(ctx, s.enriched, s.deliveries, stalls, ops.Codec); err != nil {
		s.Close()
		return nil, err
	}
	s.subs = deps.Subscriptions
	if s.subs == nil {
		s.subs, err = store.Subscriptions(ctx, store.Options{
			Names:      s.names,
			ClientOpts: kafkax.ClientOpts(cfg.Kafka, log),
			Registry:   reg,
			Log:        log.Named("subscriptions"),
		}, nil)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("loading subscriptions: %w", err)
		}
		s.ownSubs = true
	}
	s.router = newRouter(log, s.subs.List, s.subs.Version)
	s.m = newMetrics(deps.Metrics, func() float64 { return float64(s.subs.Len()) })

	stage, err := stream.New(topics.Fanout, cfg.Kafka.TopicPrefix, cfg.InstanceID, &stream.Stage{
		Handle:             stream.Typed("enriched event", s.enriched.Decode, s.handle),
		CheckKeys:          true, // keyed by entity: a misrouted record would fork it
		MaxPollRecords:     cfg.MaxPollRecords,
		TransactionTimeout: cfg.Kafka.TransactionTimeout,
		ClientOpts:         kafkax.ClientOpts(cfg.Kafka, log, stream.FetchSizing()...),
		Log:                log,
		Metrics:            stream.NewMetrics(deps.Metrics),
		Tracer:             deps.Tracing.Tracer(),
		Now:                deps.Now,
		State:              stream.BatchEndFunc(func(committed bool) { s.router.flush(committed, s.m) }),
		StallAfter:         cfg.Stall.After,
		ReportStall:        (&stream.StallReporter{Client: s.admin, Codec: stalls, Log: log, Ops: ops}).Report,
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.stage = stage
	return s, nil
}

// Run consumes until ctx ends and returns nil after a clean shutdown. It
// returns an error only if the stage cannot run at all. Run may be called
// once.
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
		if s.ownSubs && s.subs != nil {
			s.subs.Close()
		}
		s.admin.Close()
	})
}

// Run is the standalone fanout process: the service plus /healthz, /readyz
// and /metrics on cfg.MetricsAddr, until ctx ends.
func Run(ctx context.Context, cfg Config, log *zap.Logger) error {
	return service.RunStage(ctx, log, service.Standalone{Name: StageName, MetricsAddr: cfg.MetricsAddr, InstanceID: cfg.InstanceID},
		func(d service.Deps) (*Service, error) {
			return New(ctx, cfg, log, Deps{Metrics: d.Metrics, Tracing: d.Tracing})
		})
}
