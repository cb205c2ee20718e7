// Package dispatcher is Surge's last stage: it delivers commerce.deliveries
// to HTTP endpoints as Standard Webhooks, in order per (subscription,
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
package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/backlog"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/ktable"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/store"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
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
		if n < 1 {
			errs = append(errs, fmt.Errorf("%s (--%s) must be at least 1, got %d", config.EnvName(name), name, n))
		}
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

	client   *kgo.Client // the session's; partition callbacks use the one they are given
	admin    *kgo.Client // open from New to Close: writes commerce.stalls and commerce.backlog
	watchdog *stream.Watchdog
	reporter *backlog.Reporter
	loader   *loader // the session's
	budget   *budget
	stopped  atomic.Bool     // reading the main topic paused for MaxWaiting
	stageM   *stream.Metrics // the runtime's: dead letters, misrouted records, stalls
	routes   *stream.Routes  // the main topic's partition count, for key checks
	sender   *webhook.Sender
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

type schedEntry struct {
	raw string
	s   webhook.Schedule
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
		log = log.With(zap.String("instance_id", cfg.InstanceID))
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
	s.sender = webhook.NewSender(webhook.Config{DefaultTimeout: cfg.DefaultTimeout, AllowLoopback: cfg.AllowLoopback, Now: deps.Now})

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
	if err := avroserde.RegisterAll(ctx, s.deliveries, s.retryCodec, s.dlqCodec, s.attemptCodec, stalls, backlogs); err != nil {
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
		Report:   (&stream.StallReporter{Client: admCl, Codec: stalls, Log: log}).Report,
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

// Run consumes until ctx ends. It returns nil after a clean shutdown and
// an error only when it cannot run at all; a failed session (a write to
// the retry or dead-letter topic that Kafka refused for good) restarts from
// the committed offsets.
func (s *Service) Run(ctx context.Context) error {
	wctx, stopWatchdog := context.WithCancel(ctx)
	watching := make(chan struct{})
	go func() { defer close(watching); s.watchdog.Run(wctx) }()
	reporting := make(chan struct{})
	go func() { defer close(reporting); s.reporter.Run(wctx) }() // tombstones its reports when stopped
	defer func() { stopWatchdog(); <-watching; <-reporting }()

	stream.RunSessions(ctx, s.log, "dispatcher session failed; restarting from the committed offsets", 500*time.Millisecond, s.session)
	return nil
}

func (s *Service) session(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cl, err := kgo.NewClient(kafkax.ClientOpts(s.cfg.Kafka, s.log,
		kgo.ConsumerGroup(s.cfg.Kafka.TopicPrefix+topics.Dispatcher.Group),
		kgo.ConsumeTopics(s.mainTopic, s.retryTopic),
		// Range assignment gives one member partition p of both topics.
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(s.assigned),
		kgo.OnPartitionsRevoked(s.revoked),
		kgo.OnPartitionsLost(s.lost),
		kgo.ProducerLinger(0),
		// Fetches are handed to the lanes at once; small ones keep the
		// records in flight between Kafka and the lanes few (memory).
		kgo.FetchMaxBytes(4<<20),
		kgo.FetchMaxPartitionBytes(1<<20),
	)...)
	if err != nil {
		return fmt.Errorf("creating the consumer: %w", err)
	}
	ld := s.newLoader()
	s.mu.Lock()
	s.client = cl
	s.loader = ld
	s.mu.Unlock()
	go ld.run(ctx)
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cl.Flush(closeCtx) // copies to the retry topic finish their offsets
		s.commit(closeCtx)
		s.dropAll()
		cl.LeaveGroup()
		cl.Close()
	}()

	go func() {
		t := time.NewTicker(s.cfg.CommitInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.commit(ctx)
			}
		}
	}()
	go func() {
		lastTick, lastRefresh := time.Now(), time.Now()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				s.feedStarved()
				s.spillWaiting()
				if now.Sub(lastTick) >= time.Second {
					lastTick = now
					s.budget.tick()
				}
				if now.Sub(lastRefresh) >= min(time.Minute, s.cfg.RefreshAfter/10) {
					lastRefresh = now
					s.refreshOld()
				}
				s.resumeReading()
			}
		}
	}()

	s.ready.Set(true)
	defer s.ready.Set(false)
	for {
		fetches := cl.PollFetches(ctx)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		select {
		case err := <-s.failed:
			return err
		default:
		}
		fetches.EachError(func(t string, p int32, err error) {
			s.log.Warn("fetch error", zap.String("fetch_topic", t), zap.Int32("partition", p), zap.Error(err))
		})
		fetches.EachRecord(s.accept)
	}
}

// fail ends the session: something Kafka refused for good.
func (s *Service) fail(err error) {
	select {
	case s.failed <- err:
	default:
	}
}

// ownedLanes is a copy of the lanes this instance owns now.
func (s *Service) ownedLanes() []*lane {
	s.mu.Lock()
	defer s.mu.Unlock()
	lanes := make([]*lane, 0, len(s.lanes))
	for _, l := range s.lanes {
		lanes = append(lanes, l)
	}
	return lanes
}

func (s *Service) lane(p int32) *lane {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lanes[p]
}

// assigned creates the lanes of new partitions. A lane's main partition
// stays paused until its retry partition was read to the end offset it has
// now, so no main record is handled before the key's parked deliveries
// are known.
func (s *Service) assigned(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	s.routes.Forget() // the main topic may have grown: read its partition count again
	parts := map[int32]bool{}
	for _, t := range []string{s.mainTopic, s.retryTopic} {
		for _, p := range m[t] {
			parts[p] = true
		}
	}
	var fresh []*lane
	s.mu.Lock()
	for p := range parts {
		if _, ok := s.lanes[p]; !ok {
			l := newLane(p)
			l.client = cl // set before the lane is published
			s.lanes[p] = l
			fresh = append(fresh, l)
		}
	}
	s.mu.Unlock()
	if len(fresh) == 0 {
		return
	}
	ps := make([]int32, len(fresh))
	for i, l := range fresh {
		ps[i] = l.p
	}
	cl.PauseFetchPartitions(map[string][]int32{s.mainTopic: ps})
	pos := s.positions(ctx, kadm.NewClient(cl))
	ends, committed := pos.retryEnds, pos.retryCommitted
	for _, l := range fresh {
		l.mu.Lock()
		l.mainResume, l.retryResume = pos.resumes[s.mainTopic][l.p], pos.resumes[s.retryTopic][l.p]
		l.mainStart = pos.mainStart(l.p)
		l.loadEnd = ends[l.p]
		l.loadFrom = committed[l.p]
		if c, ok := committed[l.p]; ok && c >= l.loadEnd {
			s.markLoaded(l)
		} else if l.loadEnd == 0 {
			s.markLoaded(l)
		}
		l.mu.Unlock()
	}
}

// assignedPositions is what a lane needs to know about its partitions
// when it is given them.
type assignedPositions struct {
	retryEnds, retryCommitted   map[int32]int64
	mainCommitted, mainLogStart map[int32]int64
	resumes                     map[string]map[int32]*resume // by topic
}

// mainStart is where reading main partition p begins: its committed
// offset, or its log start when that is later or nothing is committed.
// If neither is known, no retry delivery waits for the main partition.
func (a assignedPositions) mainStart(p int32) int64 {
	c, okC := a.mainCommitted[p]
	s, okS := a.mainLogStart[p]
	switch {
	case okC && okS:
		return max(c, s)
	case okS:
		return s
	case okC:
		return c
	}
	return math.MaxInt64
}

// positions lists the retry topic's end offsets, this group's committed
// offsets on both topics with where the previous owner of each partition
// left off (its commit metadata, see position.go), and the main topic's
// log start offsets.
func (s *Service) positions(ctx context.Context, adm *kadm.Client) assignedPositions {
	a := assignedPositions{
		retryEnds: map[int32]int64{}, retryCommitted: map[int32]int64{},
		mainCommitted: map[int32]int64{}, mainLogStart: map[int32]int64{},
		resumes: map[string]map[int32]*resume{s.mainTopic: {}, s.retryTopic: {}},
	}
	listCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if listed, err := kafkax.EndOffsets(listCtx, adm, s.retryTopic, false); err == nil {
		a.retryEnds = listed
	} else {
		s.log.Warn("listing the retry topic's end offsets; its partitions load as they come", zap.Error(err))
	}
	if starts, err := adm.ListStartOffsets(listCtx, s.mainTopic); err == nil {
		starts.Each(func(o kadm.ListedOffset) {
			if o.Err == nil {
				a.mainLogStart[o.Partition] = o.Offset
			}
		})
	} else {
		s.log.Warn("listing the main topic's start offsets", zap.Error(err))
	}
	offs, err := adm.FetchOffsets(ctx, s.cfg.Kafka.TopicPrefix+topics.Dispatcher.Group)
	if err == nil {
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Err != nil || a.resumes[o.Topic] == nil || o.At < 0 {
				return
			}
			if o.Topic == s.retryTopic {
				a.retryCommitted[o.Partition] = o.At
			} else {
				a.mainCommitted[o.Partition] = o.At
			}
			r, err := decodePosition(o.At, o.Metadata)
			if err != nil {
				s.log.Warn("the committed position has unreadable metadata; resuming from the offset alone",
					zap.String("topic", o.Topic), zap.Int32("partition", o.Partition), zap.Error(err))
			}
			a.resumes[o.Topic][o.Partition] = r
		})
	}
	return a
}

// markLoaded resumes a lane's main partition and starts its keys. Called
// with l.mu held.
func (s *Service) markLoaded(l *lane) {
	l.loaded = true
	l.client.ResumeFetchPartitions(map[string][]int32{s.mainTopic: {l.p}})
	for k, ks := range l.keys {
		s.kick(l, k, ks)
	}
}

// revoked commits what the lanes finished and drops them: in-flight
// requests are cancelled and the next owner starts from the committed
// offsets.
func (s *Service) revoked(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	s.commit(ctx)
	s.drop(m)
}

func (s *Service) lost(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.drop(m) }

func (s *Service) drop(m map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range []string{s.mainTopic, s.retryTopic} {
		for _, p := range m[t] {
			if l, ok := s.lanes[p]; ok {
				l.cancel()
				l.mu.Lock()
				for _, ks := range l.keys {
					if ks.timer != nil {
						ks.timer.Stop()
					}
					n := ks.loaded
					if ks.loading {
						n++ // the room taken for the head being read back
						ks.loading = false
					}
					s.budget.release(ks.sub, n)
					s.budget.wait(ks.sub, -(len(ks.queue) + len(ks.transit)))
					// Workers still running see an empty key and stop.
					ks.queue, ks.loaded, ks.inRetry, ks.transit = nil, 0, 0, nil
				}
				l.unloaded = map[int64]*item{}
				l.mu.Unlock()
				delete(s.lanes, p)
			}
		}
	}
}

func (s *Service) dropAll() {
	s.mu.Lock()
	m := map[string][]int32{}
	for p := range s.lanes {
		m[s.mainTopic] = append(m[s.mainTopic], p)
	}
	s.mu.Unlock()
	s.drop(m)
}

// commit commits, per owned partition of both topics, the contiguous
// prefix of finished offsets.
func (s *Service) commit(ctx context.Context) {
	s.mu.Lock()
	cl := s.client
	offs := map[string]map[int32]kgo.EpochOffset{s.mainTopic: {}, s.retryTopic: {}}
	meta := map[string]map[int32]string{s.mainTopic: {}, s.retryTopic: {}}
	var notes []*kgo.Record
	for p, l := range s.lanes {
		l.mu.Lock()
		if r := s.noteFinished(l); r != nil {
			notes = append(notes, r)
		}
		for topic, t := range map[string]*offsets{s.mainTopic: l.main, s.retryTopic: l.retry} {
			if o, ok := t.commit(); ok {
				offs[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: o}
				meta[topic][p] = encodePosition(t)
			}
		}
		l.mu.Unlock()
	}
	s.mu.Unlock()
	if cl == nil {
		return
	}
	// The finished records first: what the positions below cannot say
	// (retry deliveries finished out of order) they do.
	if len(notes) > 0 {
		if err := cl.ProduceSync(ctx, notes...).FirstErr(); err != nil && ctx.Err() == nil {
			s.log.Warn("writing finished records to the retry topic; their deliveries may be repeated after a restart", zap.Error(err))
		}
	}
	// The commit's metadata says which records past each offset are
	// finished already, so the next owner repeats only unfinished ones.
	ctx = kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			t := &req.Topics[i]
			for j := range t.Partitions {
				if m := meta[t.Topic][t.Partitions[j].Partition]; m != "" {
					t.Partitions[j].Metadata = &m
				}
			}
		}
		return nil
	})
	cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
		if err != nil && ctx.Err() == nil {
			s.log.Warn("committing offsets", zap.Error(err))
		}
	})
}

// guard returns the subscription's endpoint guard, updated to its current
// limits.
func (s *Service) guard(sub event.Subscription) *webhook.Guard {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.guards[sub.ID]
	if !ok {
		g = webhook.NewGuard(sub, webhook.GuardConfig{
			FailureThreshold: uint32(s.cfg.BreakerFailures),
			CoolDown:         s.cfg.BreakerCoolDown,
			MaxInFlight:      s.cfg.DefaultMaxInFlight,
		})
		s.guards[sub.ID] = g
		return g
	}
	g.Update(sub)
	return g
}

// schedule is the subscription's retry schedule (parsed once per
// version), the default when it sets none or an unreadable one.
func (s *Service) schedule(sub event.Subscription) webhook.Schedule {
	raw := fmt.Sprint(sub.RetrySchedule)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.sched[sub.ID]; ok && e.raw == raw {
		return e.s
	}
	sch, err := webhook.ParseSchedule(sub.RetrySchedule)
	if err != nil {
		s.log.Warn("unreadable retry schedule; using the default", zap.String("subscription", sub.ID), zap.Error(err))
		sch = webhook.DefaultSchedule
	}
	s.sched[sub.ID] = schedEntry{raw: raw, s: sch}
	return sch
}

// rand is the jitter source (not safe for concurrent use: s.mu guards
// it, and a copy is handed out per call).
func (s *Service) rand() *rand.Rand {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rand.New(rand.NewPCG(s.rnd.Uint64(), s.rnd.Uint64()))
}

// backlog is what waits here per subscription, for the metrics.
func (s *Service) backlog() []subBacklog {
	loaded, waiting := s.budget.backlog()
	oldest := map[string]time.Time{}
	lanes := s.ownedLanes()
	for _, l := range lanes {
		l.mu.Lock()
		for _, ks := range l.keys {
			if h := ks.head(); h != nil && !h.created.IsZero() {
				if o, ok := oldest[ks.sub]; !ok || h.created.Before(o) {
					oldest[ks.sub] = h.created
				}
			}
		}
		l.mu.Unlock()
	}
	now := s.now()
	rates := s.budget.rates()
	out := make([]subBacklog, 0, len(waiting))
	for sub, n := range waiting {
		b := subBacklog{sub: sub, loaded: loaded[sub], outside: n - loaded[sub], rate: rates[sub]}
		if o, ok := oldest[sub]; ok {
			b.oldest = o
			b.oldestSeconds = now.Sub(o).Seconds()
		}
		out = append(out, b)
	}
	return out
}

// backlogReports is the backlog for the reporter: read on its ticker,
// like the metrics at a scrape.
func (s *Service) backlogReports() []backlog.Report {
	subs := s.backlog()
	out := make([]backlog.Report, len(subs))
	for i, b := range subs {
		out[i] = backlog.Report{Subscription: b.sub, InMemory: int64(b.loaded), InRetryTopic: int64(b.outside), Oldest: b.oldest, PerSecond: b.rate}
	}
	return out
}

func (s *Service) parkedKeys() float64 {
	lanes := s.ownedLanes()
	n := 0
	for _, l := range lanes {
		n += l.parkedKeys()
	}
	return float64(n)
}

// progress is every owned partition of both input topics as the stall
// watchdog sees it (lane.progress).
func (s *Service) progress() []stream.Progress {
	lanes := s.ownedLanes()
	var out []stream.Progress
	for _, l := range lanes {
		l.mu.Lock()
		if p, ok := l.progress(fromMain, s.mainTopic); ok {
			out = append(out, p)
		}
		if p, ok := l.progress(fromRetry, s.retryTopic); ok {
			out = append(out, p)
		}
		l.mu.Unlock()
	}
	return out
}

// stopReading pauses the main topic: MaxWaiting deliveries wait here, or
// subscriptions that drain fast hold MaxLoaded.
// Called with l.mu held.
func (s *Service) stopReading(l *lane) {
	if s.stopped.Swap(true) {
		return
	}
	l.client.PauseFetchTopics(s.mainTopic)
	s.log.Debug("memory bounds reached: no new deliveries are read until some are done",
		zap.Int("max_waiting", s.cfg.MaxWaiting), zap.Int("max_loaded", s.cfg.MaxLoaded))
}

// resumeReading lets the main topic be read again once fewer than nine
// tenths of MaxWaiting deliveries wait.
func (s *Service) resumeReading() {
	if !s.stopped.Load() || !s.budget.roomToRead() {
		return
	}
	s.mu.Lock()
	cl := s.client
	s.mu.Unlock()
	if cl != nil && s.stopped.Swap(false) {
		cl.ResumeFetchTopics(s.mainTopic)
		s.log.Debug("reading new deliveries again")
	}
}

// Ready reports whether the dispatcher is consuming.
func (s *Service) Ready() bool { return s.ready.Ready() }

// Readiness is what /readyz answers: nil while the dispatcher consumes
// and no input partition is stalled; otherwise why not (a
// *stream.StalledError names each stalled partition with its reason). A
// parked or held key is no stall: see lane.progress.
func (s *Service) Readiness() error {
	if err := s.ready.Err(); err != nil {
		return err
	}
	return s.watchdog.Err()
}

// Close releases what New opened. Call it after Run returned.
func (s *Service) Close() {
	if s.own {
		s.subs.Close()
	}
	s.sender.CloseIdleConnections()
	s.admin.Close()
}

// Run is the standalone dispatcher process: the service plus /healthz,
// /readyz and /metrics on cfg.MetricsAddr, until ctx ends.
func Run(ctx context.Context, cfg Config, log *zap.Logger) error {
	reg := observe.NewRegistry()
	svc, err := New(ctx, cfg, log, Deps{Metrics: reg})
	if err != nil {
		return err
	}
	defer svc.Close()
	mux := http.NewServeMux()
	observe.Mount(mux, svc.Readiness, reg)
	log.Info("dispatcher running", zap.String("metrics_addr", cfg.MetricsAddr), zap.String("instance_id", cfg.InstanceID))
	return httpx.ServeWhile(ctx, cfg.MetricsAddr, mux, svc.Run)
}
