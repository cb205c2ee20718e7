// Package dispatcher is Surge's last stage: it delivers commerce.deliveries
// to HTTP endpoints as Standard Webhooks (or to SQS queues and EventBridge
// buses, pkg/awsdest), in order per (subscription,
// entity key), with retries, a circuit breaker, rate limits, a dead-letter
// topic and an attempt log — and a failing key never holds up the others.
//
// Many keys are in flight at once, at most one delivery per key. A short
// wait before a retry is held in memory; a long one parks the key: its
// deliveries move to commerce.deliveries.retry (same partition number,
// attempt state in the record) and every later delivery of that key read
// from the main topic follows them there, so the main partition's
// committed offset keeps moving. Only a contiguous prefix of finished
// offsets is committed, on both topics. The parked keys are rebuilt from
// the retry topic after a restart or a rebalance: a partition's main
// records are not looked at before its retry partition was read to its
// end. docs/ordering.md tells the whole design.
//
// Delivery to endpoints is at least once: a crash or a rebalance can repeat
// a delivery, always with the same webhook-id.
//
// The dispatcher does not run through pkg/stream's Stage, and that is on
// purpose: a Stage handles a polled batch in one Kafka transaction and
// commits the batch whole, while the dispatcher's outputs are HTTP
// requests that finish out of order and may wait for hours. Its lanes
// (one per partition number, over both input topics) commit only the
// contiguous prefix of finished offsets, outside any transaction, and a
// key's deliveries move between the main and the retry topic. What it
// shares with the runtime: the session-restart loop (stream.RunSessions),
// the stall Watchdog, the key check (stream.Routes) and the dead-letter
// headers (stream.DeadLetterHeaders).
//
// Files: service.go (configuration, New, Close), session.go (the consumer
// session and reading), partitions.go (assignment, revocation, commits),
// intake.go (taking input records into lanes), queue.go (a key's queue and
// when its head may go), work.go (working a key: attempts, waits,
// parking), readback.go (the loader's records handed back, refreshes),
// send.go (one attempt to HTTP or AWS), deadletter.go, endpoints.go (guards and schedules), report.go (backlog,
// stall samples); lane.go, budget.go, loader.go, offsets.go, position.go
// and metrics.go hold what their names say.
package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/awsdest"
	"github.com/surgehq/surge/pkg/backlog"
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
	"github.com/surgehq/surge/pkg/webhook"
)

// StageName names the stage in logs, metrics and the surge.dlq.stage
// header.
const StageName = topics.StageDispatcher

// Config is the dispatcher's configuration.
type Config struct {
	Kafka    config.Kafka
	Registry config.Registry
	Log      config.Log
	Stall    config.Stall
	// InstanceID names this instance in logs and as its Kafka client id.
	InstanceID string
	// MetricsAddr serves /healthz, /readyz and /metrics (Run only).
	MetricsAddr string
	// MemoryWait is the longest wait before a retry that is held in
	// memory; longer ones park the key in the retry topic.
	MemoryWait time.Duration
	// ParkRefresh is how old a parked delivery's retry record may get
	// before it is written again at the end of the retry topic, so that
	// topic's committed offset keeps moving while an endpoint is down for
	// hours.
	ParkRefresh time.Duration
	// HoldRecheck is how often a held delivery (paused or disabled
	// subscription) checks whether it may go.
	HoldRecheck time.Duration
	// BreakerRecheck is how long a key waits when its endpoint's breaker
	// is open and the breaker says nothing more precise.
	BreakerRecheck time.Duration
	// MaxInFlight bounds HTTP requests in flight over all endpoints.
	MaxInFlight int
	// DefaultMaxInFlight bounds one endpoint whose max_in_flight is 0.
	DefaultMaxInFlight int
	// DefaultTimeout bounds one request whose subscription sets none.
	DefaultTimeout time.Duration
	// BreakerFailures opens an endpoint's breaker after that many
	// retryable failures in a row; BreakerCoolDown is how long it stays
	// open before one probe.
	BreakerFailures int
	BreakerCoolDown time.Duration
	// AllowLoopback lets deliveries reach loopback addresses (surge dev).
	AllowLoopback bool
	// CommitInterval is how often finished offsets are committed.
	CommitInterval time.Duration
	// Memory bounds (budget.go): deliveries whose record is in memory per
	// key, per subscription and in all; past them deliveries wait in the
	// retry topic with only their place in memory. MaxWaiting bounds every
	// delivery waiting in this instance, in memory or not: past it the
	// dispatcher stops reading new deliveries until nine tenths are left.
	MaxLoadedPerKey          int
	MaxLoadedPerSubscription int
	MaxLoaded                int
	MaxWaiting               int
	// SpillAfter is how long a main-topic delivery may wait in memory
	// behind its key's head before it moves to the retry topic, so a slow
	// key holds its main partition's committed offset only while its head
	// is in flight or waits in memory (MemoryWait).
	SpillAfter time.Duration
	// RefreshAfter is how old the retry record of a delivery waiting
	// behind its key's head may get before it is written again at the end
	// of the retry topic: far below the topic's retention (Kafka's default
	// is 7 days).
	RefreshAfter time.Duration
	// BacklogEvery is how often the backlog per subscription is reported
	// to commerce.backlog (pkg/backlog); 0 means backlog.DefaultEvery.
	BacklogEvery time.Duration
}

// Flags registers the settings on fs with their defaults.
func (c *Config) Flags(fs *pflag.FlagSet) {
	c.Kafka.Flags(fs)
	c.Registry.Flags(fs)
	c.Log.Flags(fs)
	c.Stall.Flags(fs)
	host, _ := os.Hostname()
	fs.StringVar(&c.InstanceID, "instance-id", host, "name of this instance in logs and as its Kafka client id")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "127.0.0.1:8088", "listener of /healthz, /readyz and /metrics")
	fs.DurationVar(&c.MemoryWait, "memory-wait", 10*time.Second, "longest retry wait held in memory; longer waits park the key in the retry topic")
	fs.DurationVar(&c.ParkRefresh, "park-refresh", 10*time.Minute, "rewrite a parked delivery at the end of the retry topic once its record is this old")
	fs.DurationVar(&c.HoldRecheck, "hold-recheck", time.Second, "how often a paused or disabled subscription's held deliveries check whether they may go")
	fs.DurationVar(&c.BreakerRecheck, "breaker-recheck", time.Second, "wait of a key whose endpoint's circuit breaker is open")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", 1024, "HTTP requests in flight over all endpoints")
	fs.IntVar(&c.DefaultMaxInFlight, "default-max-in-flight", 64, "requests in flight to one endpoint whose subscription sets no max_in_flight")
	fs.DurationVar(&c.DefaultTimeout, "default-timeout", 10*time.Second, "timeout of one request whose subscription sets no timeout_ms")
	fs.IntVar(&c.BreakerFailures, "breaker-failures", 5, "retryable failures in a row that open an endpoint's circuit breaker")
	fs.DurationVar(&c.BreakerCoolDown, "breaker-cool-down", 30*time.Second, "how long an open breaker waits before one probe")
	fs.BoolVar(&c.AllowLoopback, "allow-loopback", false, "let deliveries reach loopback addresses (single-machine setups)")
	fs.DurationVar(&c.CommitInterval, "commit-interval", 500*time.Millisecond, "how often finished offsets are committed")
	d := DefaultBounds()
	fs.IntVar(&c.MaxLoadedPerKey, "max-loaded-per-key", d.MaxLoadedPerKey, "deliveries of one (subscription, entity) held in memory; more wait in the retry topic")
	fs.IntVar(&c.MaxLoadedPerSubscription, "max-loaded-per-subscription", d.MaxLoadedPerSubscription, "deliveries of one subscription held in memory; more wait in the retry topic")
	fs.IntVar(&c.MaxLoaded, "max-loaded", d.MaxLoaded, "deliveries held in memory in all; more wait in the retry topic")
	fs.IntVar(&c.MaxWaiting, "max-waiting", d.MaxWaiting, "deliveries waiting in this instance, in memory or in the retry topic; past it no new deliveries are read")
	fs.DurationVar(&c.RefreshAfter, "refresh-after", DefaultRefreshAfter, "write a waiting delivery's retry record again once it is this old (keep it far below the retry topic's retention)")
	fs.DurationVar(&c.SpillAfter, "spill-after", DefaultSpillAfter, "a main-topic delivery waiting in memory longer than this behind its key's head moves to the retry topic, so the committed offset moves on")
	fs.DurationVar(&c.BacklogEvery, "backlog-every", backlog.DefaultEvery, "how often each subscription's backlog here is reported to commerce.backlog (surge subs get, surge topics), when it changed")
}

// Bounds are the memory bounds of Config.
type Bounds struct {
	MaxLoadedPerKey, MaxLoadedPerSubscription, MaxLoaded, MaxWaiting int
}

// DefaultBounds are the flags' defaults (docs/benchmarks.md has what a
// loaded and a waiting delivery cost).
func DefaultBounds() Bounds {
	return Bounds{MaxLoadedPerKey: 32, MaxLoadedPerSubscription: 2000, MaxLoaded: 8000, MaxWaiting: 1_000_000}
}

// DefaultSpillAfter and DefaultRefreshAfter are the flags' defaults.
const (
	DefaultSpillAfter   = 2 * time.Second
	DefaultRefreshAfter = 24 * time.Hour
)

// WithBounds sets the bounds left zero to their defaults.
func (c *Config) WithBounds() {
	if c.SpillAfter == 0 {
		c.SpillAfter = DefaultSpillAfter
	}
	if c.RefreshAfter == 0 {
		c.RefreshAfter = DefaultRefreshAfter
	}
	if c.BacklogEvery == 0 {
		c.BacklogEvery = backlog.DefaultEvery
	}
	d := DefaultBounds()
	for _, f := range []struct {
		v   *int
		def int
	}{{&c.MaxLoadedPerKey, d.MaxLoadedPerKey}, {&c.MaxLoadedPerSubscription, d.MaxLoadedPerSubscription}, {&c.MaxLoaded, d.MaxLoaded}, {&c.MaxWaiting, d.MaxWaiting}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
}

// Validate checks the configuration without doing any I/O.
func (c *Config) Validate() error {
	errs := []error{c.Kafka.Validate(), c.Registry.Validate(), c.Log.Validate(), c.Stall.Validate()}
	if c.MetricsAddr != "" {
		errs = append(errs, config.ValidateAddr("metrics-addr", c.MetricsAddr))
	}
	for name, d := range map[string]time.Duration{"memory-wait": c.MemoryWait, "park-refresh": c.ParkRefresh, "hold-recheck": c.HoldRecheck,
		"breaker-recheck": c.BreakerRecheck, "default-timeout": c.DefaultTimeout, "breaker-cool-down": c.BreakerCoolDown, "commit-interval": c.CommitInterval, "spill-after": c.SpillAfter, "refresh-after": c.RefreshAfter, "backlog-every": c.BacklogEvery} {
		errs = append(errs, config.ValidatePositive(name, d))
	}
	for name, n := range map[string]int{"max-in-flight": c.MaxInFlight, "default-max-in-flight": c.DefaultMaxInFlight, "breaker-failures": c.BreakerFailures,
		"max-loaded-per-key": c.MaxLoadedPerKey, "max-loaded-per-subscription": c.MaxLoadedPerSubscription, "max-loaded": c.MaxLoaded, "max-waiting": c.MaxWaiting} {
		errs = append(errs, config.ValidateAtLeast(name, n, 1))
	}
	return errors.Join(errs...)
}

// LogLevel is the configured log level.
func (c *Config) LogLevel() string { return c.Log.Level }

// Deps are what tests and `surge dev` may inject.
type Deps struct {
	Metrics prometheus.Registerer
	Now     func() time.Time
	// Subscriptions, when set, is a writable subscriptions table shared
	// with other components (a 410 Gone disables a subscription through
	// it); by default the dispatcher opens its own.
	Subscriptions *ktable.Table[event.Subscription]
	// Tracing is the service's tracing (pkg/tracing); nil is off.
	Tracing *tracing.Provider
}

// Service is a running dispatcher.
type Service struct {
	cfg  Config
	log  *zap.Logger
	now  func() time.Time
	subs *ktable.Table[event.Subscription]
	own  bool // subs opened here

	mainTopic, retryTopic, dlqTopic, attemptsTopic string
	deliveries                                     *avroserde.Codec[event.Delivery]
	retryCodec, dlqCodec                           *avroserde.Codec[event.Delivery]
	attemptCodec                                   *avroserde.Codec[event.DeliveryAttempt]
	ops                                            *opsevent.Emitter // operator events, written with admin

	client   *kgo.Client // the session's; partition callbacks use the one they are given
	admin    *kgo.Client // open from New to Close: writes commerce.stalls, commerce.backlog and operator events
	watchdog *stream.Watchdog
	reporter *backlog.Reporter
	loader   *loader // the session's
	budget   *budget
	stopped  atomic.Bool     // reading the main topic paused for MaxWaiting
	stageM   *stream.Metrics // the runtime's: dead letters, misrouted records, stalls
	routes   *stream.Routes  // the main topic's partition count, for key checks
	sender   *webhook.Sender
	tracer   trace.Tracer // nil: tracing off
	aws      *awsdest.Sender
	inFlight chan struct{}
	m        *metrics

	mu     sync.Mutex
	lanes  map[int32]*lane
	guards map[string]*webhook.Guard
	sched  map[string]schedEntry
	rnd    *rand.Rand

	failed chan error
	ready  observe.Readiness
}

// New connects to Kafka and the registry, creates missing topics, loads
// the subscriptions and registers the schemas. Run consumes.
func New(ctx context.Context, cfg Config, log *zap.Logger, deps Deps) (*Service, error) {
	cfg.WithBounds()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.InstanceID != "" {
		log = log.With(zap.String(observe.KeyInstanceID, cfg.InstanceID))
		if cfg.Kafka.ClientID == "" {
			cfg.Kafka.ClientID = "surge-dispatcher-" + cfg.InstanceID
		}
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	names := topics.Namer{Prefix: cfg.Kafka.TopicPrefix}
	s := &Service{
		cfg: cfg, log: log, now: deps.Now,
		mainTopic:     names.Name(topics.Deliveries),
		retryTopic:    names.Name(topics.DeliveriesRetry),
		dlqTopic:      names.Name(topics.Dispatcher.DLQ),
		attemptsTopic: names.Name(topics.DeliveryAttempts),
		inFlight:      make(chan struct{}, cfg.MaxInFlight),
		lanes:         map[int32]*lane{},
		guards:        map[string]*webhook.Guard{},
		sched:         map[string]schedEntry{},
		rnd:           rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5eed)),
		failed:        make(chan error, 1),
		budget:        newBudget(cfg.MaxLoadedPerKey, cfg.MaxLoadedPerSubscription, cfg.MaxLoaded, cfg.MaxWaiting),
	}
	s.tracer = deps.Tracing.Tracer()
	s.sender = webhook.NewSender(webhook.Config{DefaultTimeout: cfg.DefaultTimeout, AllowLoopback: cfg.AllowLoopback, Now: deps.Now})
	s.aws = awsdest.NewSender(awsdest.Config{DefaultTimeout: cfg.DefaultTimeout, AllowLoopback: cfg.AllowLoopback})

	admCl, err := kafkax.Open(ctx, cfg.Kafka, log, topics.DefaultDedupWindow)
	if err != nil {
		return nil, err
	}
	s.admin = admCl
	ok := false
	defer func() {
		if !ok {
			admCl.Close()
		}
	}()
	if err := checkPartitions(ctx, kadm.NewClient(admCl), s.mainTopic, s.retryTopic); err != nil {
		return nil, err
	}
	reg, err := avroserde.Connect(cfg.Registry.URL)
	if err != nil {
		return nil, err
	}
	s.deliveries = avroserde.NewDeliveryCodec(reg, s.mainTopic)
	s.retryCodec = avroserde.NewDeliveryCodec(reg, s.retryTopic)
	s.dlqCodec = avroserde.NewDeliveryCodec(reg, s.dlqTopic)
	s.attemptCodec = avroserde.NewDeliveryAttemptCodec(reg, s.attemptsTopic)
	stalls := stream.NewStallCodec(reg, names.Name(topics.Stalls))
	backlogs := backlog.NewCodec(reg, names.Name(topics.Backlog))
	s.ops = &opsevent.Emitter{Client: admCl, Codec: avroserde.NewEventCodec(reg, names.Name(topics.EventsRaw)), Log: log, Now: s.now}
	if err := avroserde.RegisterAll(ctx, s.deliveries, s.retryCodec, s.dlqCodec, s.attemptCodec, stalls, backlogs, s.ops.Codec); err != nil {
		return nil, err
	}
	s.subs = deps.Subscriptions
	if s.subs == nil {
		s.subs, err = store.Subscriptions(ctx, store.Options{Names: names, ClientOpts: kafkax.ClientOpts(cfg.Kafka, log), Registry: reg, Log: log.Named("subscriptions"), Writable: true}, nil)
		if err != nil {
			return nil, fmt.Errorf("loading subscriptions: %w", err)
		}
		s.own = true
	}
	s.m = newMetrics(deps.Metrics, s.parkedKeys, func() float64 { return float64(len(s.inFlight)) }, s.backlog)
	s.stageM = stream.NewMetrics(deps.Metrics)
	s.routes = &stream.Routes{Topic: s.mainTopic}
	s.watchdog = &stream.Watchdog{
		Stage:    StageName,
		Group:    cfg.Kafka.TopicPrefix + topics.Dispatcher.Group,
		Instance: cfg.InstanceID,
		After:    cfg.Stall.After,
		Sample:   s.progress,
		Log:      log,
		Metrics:  s.stageM,
		Report:   (&stream.StallReporter{Client: admCl, Codec: stalls, Log: log, Ops: s.ops}).Report,
	}
	s.reporter = &backlog.Reporter{
		Client:   admCl,
		Topic:    backlogs.Topic(),
		Encode:   backlogs.Encode,
		Instance: cfg.InstanceID,
		Every:    cfg.BacklogEvery,
		Sample:   s.backlogReports,
		Log:      log,
		Now:      deps.Now,
	}
	ok = true
	return s, nil
}

// checkPartitions makes sure the retry topic is partitioned like the main
// one: a key's parked deliveries must be on the partition number its new
// deliveries arrive on.
func checkPartitions(ctx context.Context, adm *kadm.Client, main, retry string) error {
	details, err := adm.ListTopics(ctx, main, retry)
	if err != nil {
		return fmt.Errorf("describing %s and %s: %w", main, retry, err)
	}
	a, b := len(details[main].Partitions), len(details[retry].Partitions)
	if a == 0 || a != b {
		return fmt.Errorf("checking topics: %s has %d partitions and %s has %d; the dispatcher needs the same number in both", main, a, retry, b)
	}
	return nil
}

// Ready reports whether the dispatcher is consuming.
func (s *Service) Ready() bool { return s.ready.Ready() }

// Owned is how many partitions (of the main and retry topics, one lane
// each) the dispatcher's group has assigned to this instance now.
func (s *Service) Owned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lanes)
}

// Readiness is what /readyz answers: nil while the dispatcher consumes
// and no input partition is stalled; otherwise why not (a
// *stream.StalledError names each stalled partition with its reason). A
// parked or held key is no stall: see lane.progress.
func (s *Service) Readiness() error { return s.ready.ErrOr(s.watchdog.Err) }

// Close releases what New opened. Call it after Run returned.
func (s *Service) Close() {
	if s.own {
		s.subs.Close()
	}
	s.sender.CloseIdleConnections()
	s.aws.CloseIdleConnections()
	s.admin.Close()
}

// Run is the standalone dispatcher process: the service plus /healthz,
// /readyz and /metrics on cfg.MetricsAddr, until ctx ends.
func Run(ctx context.Context, cfg Config, log *zap.Logger) error {
	return service.RunStage(ctx, log, service.Standalone{Name: StageName, MetricsAddr: cfg.MetricsAddr, InstanceID: cfg.InstanceID},
		func(d service.Deps) (*Service, error) {
			return New(ctx, cfg, log, Deps{Metrics: d.Metrics, Tracing: d.Tracing})
		})
}
