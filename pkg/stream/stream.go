// Package stream is Surge's one consume-transform-produce runtime. Enrich,
// fanout and every later stage run their core through it instead of owning a
// Kafka loop: New makes a stage from its row of the pipeline table
// (pkg/topics), which names its input, group, transactional id and
// dead-letter topic. The dispatcher shares its session-restart loop
// (RunSessions), its watchdog and its dead-letter headers but not the
// transaction per batch: its outputs are HTTP requests, and its lanes
// commit a partition's offsets only past deliveries that finished
// (services/dispatcher).
//
// A Stage reads its input topic in a consumer group and, for each polled
// batch, runs inside one Kafka transaction: it hands every record to the
// stage's Handler, produces the outputs, sends records that fail
// permanently to the stage's dead-letter topic (same partition as the
// source, original key, value and headers kept, error headers added), and
// commits the input offsets in the same transaction. Consumers of the
// outputs read with read_committed, so each input record's effects appear
// exactly once, even when a process is killed mid-batch.
//
// Records of one partition are handled in order by one goroutine; different
// partitions of a batch are handled concurrently, so a Handler must be safe
// for concurrent use across partitions. A transient error (anything not
// wrapped with Permanent) aborts the batch; the stage backs off and reads
// the same records again. A Handler that returns ErrDefer postpones its
// record (and the rest of that partition's batch) to a later batch while
// the other partitions commit.
//
// A stage writes its Handler with Typed (typed.go) to see values, not
// bytes: the typed layer decodes each input's value, dead-letters one that
// does not decode (DecodeFailure), and puts on each output the headers it
// takes from its input — the input's event and correlation ids on an
// output that continues the input's event (Carry), its own event id, the
// input's correlation id and the input event as its cause on a new event
// made from it (Derive).
//
// Stages that keep partition-local state (enrich's entity snapshots) set
// State, a PartitionState (state.go): Assigned and Revoked report which
// input partitions this instance owns, and BatchEnded says whether the
// batch's transaction committed, so state changed by an aborted batch is
// undone.
//
// A stage whose input is keyed (CheckKeys) checks that every record sits
// on the partition Kafka's murmur2 gives its key before handing it to the
// Handler, and dead-letters a misrouted one (routing.go).
//
// A stall is never silent: a Watchdog (watchdog.go) runs with every Stage
// and reports an input partition that has records to process but does not
// move for longer than StallAfter — a handler that keeps deferring, a
// transaction that keeps failing — with a warning, a metric, Stalled (for
// /readyz) and a record in commerce.stalls (StallReporter) for `surge
// topics`. Stages that do not run through Stage (the dispatcher) use a
// Watchdog of their own.
package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/tracing"
)

// FetchSizing are the consumer options of a stage whose polls should hold
// every owned partition. A poll takes buffered records partition after
// partition: with franz-go's default 1 MiB per partition and 50 MiB per
// fetch, a poll of a few thousand records holds one or two partitions and
// the handlers run one at a time. Small fetches drained whole by each poll
// keep every owned partition in every transaction (measured on kfake with
// 6 partitions: 1-2 partitions per batch before, all 6 after).
func FetchSizing() []kgo.Opt {
	return []kgo.Opt{kgo.FetchMaxBytes(2 << 20), kgo.FetchMaxPartitionBytes(256 << 10)}
}

// Handler turns one input record into the records to produce. It returns
// no records and a nil error to filter the input out. It must not keep
// the input after returning. An error wrapped with Permanent dead-letters
// the input; any other error aborts the batch and it is retried.
// Handlers run concurrently for different partitions. Typed makes one
// from a handler of decoded values.
type Handler func(ctx context.Context, in *kgo.Record) ([]*kgo.Record, error)

// Stage is one consume-transform-produce step.
type Stage struct {
	Name            string  // "enrich", "fanout": logs, metrics, DLQ stage header
	Input           string  // full input topic name
	Group           string  // consumer group id
	TransactionalID string  // unique per running instance
	DLQ             string  // full dead-letter topic name; partitioned like Input
	Handle          Handler // the transform
	// CheckKeys says Input is keyed the Surge way: every record's key
	// must be on the partition Kafka's murmur2 gives it (routing.go).
	// The runtime checks each record before Handle sees it and
	// dead-letters a misrouted one (ClassMisrouted, the error naming the
	// partition it belongs to), counted in surge_stage_misrouted_total.
	CheckKeys bool
	// MaxPollRecords bounds the records of one transaction; default 2000.
	// A poll takes buffered records partition after partition, so for the
	// partitions of a batch to be handled in parallel a poll should drain
	// a whole fetch: keep it above what one fetch brings, and bound fetches
	// with kgo.FetchMaxBytes / kgo.FetchMaxPartitionBytes in ClientOpts
	// (franz-go's defaults, 50 MiB and 1 MiB per partition, give batches
	// of one or two partitions).
	MaxPollRecords int
	RetryBackoff   time.Duration // wait after an aborted batch; default 500ms, doubling to 10s
	// TransactionTimeout bounds one batch's transaction; the coordinator
	// aborts a transaction left open by a killed instance after this
	// long, and read_committed readers of its outputs wait until then.
	// Default 15s.
	TransactionTimeout time.Duration
	// ClientOpts are the base client options (kafkax.ClientOpts); the
	// stage adds group, transaction and read_committed settings.
	ClientOpts []kgo.Opt
	Log        *zap.Logger
	Metrics    *Metrics
	Now        func() time.Time // clock for DLQ headers; default time.Now

	// DeferBackoff is the pause before polling again after a batch in
	// which every partition deferred its first record, so a handler
	// waiting for slow I/O is not asked again in a hot loop; default
	// 100ms.
	DeferBackoff time.Duration

	// Tracer, when set (tracing is on: tracing.Provider.Tracer), starts
	// a "process" span for each input record, a child of the trace
	// context its headers carry, and the typed layer writes that span's
	// context on the record's outputs. Nil starts no span: the outputs
	// carry the input's trace context unchanged.
	Tracer trace.Tracer

	// State, when set, is told which input partitions this instance
	// owns and how each batch ended (PartitionState).
	State PartitionState

	// StallAfter is how long an input partition may have records to
	// process without moving before the stage reports it stalled (see
	// Watchdog); default 30s.
	StallAfter time.Duration
	// Instance names this instance in stall reports.
	Instance string
	// ReportStall, when set, is told when a partition stalls (true) and
	// when it moves again (false); StallReporter.Report writes
	// commerce.stalls.
	ReportStall func(s Stall, stalled bool)

	progress *progressTable
	watchdog atomic.Pointer[Watchdog]
	owned    atomic.Int32 // partitions of Input assigned to this instance now
	routes   *Routes      // with CheckKeys
}

// Stalled is nil while no input partition of the stage is stalled, and a
// *StalledError naming each stalled partition with its reason otherwise.
// It is safe for concurrent use, also before Run.
func (s *Stage) Stalled() error {
	if w := s.watchdog.Load(); w != nil {
		return w.Err()
	}
	return nil
}

// New returns the stage of the pipeline table's row for instance, with
// topic prefix prefix: its name, input, group, transactional id and
// dead-letter topic come from the row, the rest from cfg (whose name
// fields must be empty), validated and defaulted before it runs.
func New(row topics.Stage, prefix, instance string, cfg *Stage) (*Stage, error) {
	if cfg.Name != "" || cfg.Input != "" || cfg.Group != "" || cfg.TransactionalID != "" || cfg.DLQ != "" {
		return nil, errors.New("stream.New: the stage's names come from the pipeline table, not the config")
	}
	if len(row.Reads) != 1 {
		return nil, fmt.Errorf("stream.New: stage %s reads %d topics; a Stage reads one", row.Name, len(row.Reads))
	}
	names := topics.Namer{Prefix: prefix}
	s := cfg
	s.Name, s.Input, s.Group = row.Name, names.Name(row.Reads[0]), prefix+row.Group
	s.TransactionalID, s.DLQ = row.TransactionalID(prefix, instance), names.Name(row.DLQ)
	s.Instance = instance
	if err := s.prepare(); err != nil {
		return nil, fmt.Errorf("stage %s: %w", row.Name, err)
	}
	return s, nil
}

// prepare validates s and fills in the defaults; it may run more than
// once.
func (s *Stage) prepare() error {
	if err := s.validate(); err != nil {
		return err
	}
	if s.MaxPollRecords <= 0 {
		s.MaxPollRecords = 2000
	}
	if s.RetryBackoff <= 0 {
		s.RetryBackoff = 500 * time.Millisecond
	}
	if s.Log == nil {
		s.Log = zap.NewNop()
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Metrics == nil {
		s.Metrics = NewMetrics(nil)
	}
	if s.DeferBackoff <= 0 {
		s.DeferBackoff = 100 * time.Millisecond
	}
	if s.TransactionTimeout <= 0 {
		s.TransactionTimeout = 15 * time.Second
	}
	return nil
}

func (s *Stage) validate() error {
	var errs []error
	for name, v := range map[string]string{"Name": s.Name, "Input": s.Input, "Group": s.Group, "TransactionalID": s.TransactionalID, "DLQ": s.DLQ} {
		if v == "" {
			errs = append(errs, fmt.Errorf("stage %s is empty", name))
		}
	}
	if s.Handle == nil {
		errs = append(errs, errors.New("stage Handle is nil"))
	}
	return errors.Join(errs...)
}

// Run consumes until ctx ends. It returns nil after a clean shutdown and an
// error only if the stage cannot run at all; failures of a batch are
// retried.
func (s *Stage) Run(ctx context.Context) error {
	if err := s.prepare(); err != nil {
		return err
	}
	log := s.Log.With(zap.String(observe.KeyStage, s.Name), zap.String(observe.KeyTopic, s.Input))

	s.progress = newProgressTable(s.Input)
	s.routes = &Routes{Topic: s.Input}
	w := &Watchdog{
		Stage: s.Name, Group: s.Group, Instance: s.Instance, After: s.StallAfter,
		Sample: s.progress.sample, Log: s.Log, Metrics: s.Metrics, Report: s.ReportStall,
	}
	s.watchdog.Store(w)
	wctx, stopWatchdog := context.WithCancel(ctx)
	watching := make(chan struct{})
	go func() { defer close(watching); w.Run(wctx) }()
	defer func() { stopWatchdog(); <-watching }()

	RunSessions(ctx, log, "stage session failed; restarting", s.RetryBackoff,
		func(ctx context.Context) error { return s.session(ctx, log) })
	return nil
}

// session runs one transactional client until ctx ends (nil) or the
// client reaches a state it cannot continue from (error).
func (s *Stage) session(ctx context.Context, log *zap.Logger) error {
	opts := append([]kgo.Opt{}, s.ClientOpts...)
	opts = append(opts,
		kgo.ConsumerGroup(s.Group),
		kgo.ConsumeTopics(s.Input),
		kgo.TransactionalID(s.TransactionalID),
		kgo.TransactionTimeout(s.TransactionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ProducerLinger(0),
	)
	opts = append(opts, s.partitionHooks()...)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("creating transactional session: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Abort anything half done and leave the group so partitions
		// move to another instance at once. What the watchdog knows of
		// the partitions is kept until the next session's assignment.
		s.progress.sessionClosing(true)
		defer s.progress.sessionClosing(false)
		_, _ = sess.End(closeCtx, kgo.TryAbort)
		sess.Close()
	}()

	backoff := s.RetryBackoff
	for {
		fetches := sess.PollRecords(ctx, s.MaxPollRecords)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			log.Warn("fetch error", zap.String("fetch_topic", t), zap.Int32(observe.KeyPartition, p), zap.Error(err))
		})
		if fetches.NumRecords() == 0 {
			continue
		}
		polled := map[int32][2]int64{} // partition → first and last offset of the batch
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if n := len(p.Records); n > 0 {
				polled[p.Partition] = [2]int64{p.Records[0].Offset, p.Records[n-1].Offset}
				s.progress.polled(p.Partition, p.Records[0].Offset)
			}
		})
		if err := sess.Begin(); err != nil {
			s.progress.failedAll(fmt.Sprintf("beginning a transaction: %v", err))
			return fmt.Errorf("beginning transaction: %w", err)
		}
		start := time.Now()
		var txn trace.Span // the transaction's span, when tracing
		if s.Tracer != nil {
			_, txn = tracing.StartCommit(ctx, s.Tracer, s.Name, s.Group, s.Input, fetches.NumRecords())
		}
		res := s.processBatch(ctx, sess, fetches, log, txn)
		commit := kgo.TryCommit
		if res.err != nil {
			commit = kgo.TryAbort
		} else if len(res.deferred) > 0 {
			// Commit only up to the deferred records, and fetch them
			// again: SetOffsets moves both the offsets the transaction
			// commits and the fetch position.
			sess.Client().SetOffsets(map[string]map[int32]kgo.EpochOffset{s.Input: res.deferred})
		}
		batchErr := res.err
		committed, err := sess.End(ctx, commit)
		if txn != nil {
			endCommit(txn, committed, errors.Join(batchErr, err))
		}
		if !committed && commit == kgo.TryCommit && len(res.deferred) > 0 {
			// The abort rewound to what SetOffsets called committed;
			// rewind the deferred partitions to the start of this batch.
			sess.Client().SetOffsets(map[string]map[int32]kgo.EpochOffset{s.Input: res.firsts})
		}
		if s.State != nil {
			s.State.BatchEnded(committed && err == nil)
		}
		s.recordProgress(polled, res, committed, err)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("ending transaction: %w", err)
		}
		if committed {
			s.Metrics.observeCommit(s.Name, res.handled, time.Since(start))
			backoff = s.RetryBackoff
			if res.handled == 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(s.DeferBackoff):
				}
			}
			continue
		}
		s.Metrics.Aborts.WithLabelValues(s.Name).Inc()
		if batchErr != nil {
			log.Warn("batch aborted; retrying", zap.Error(batchErr), zap.Duration("backoff", backoff))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
		} else {
			log.Info("batch aborted by a rebalance; continuing from committed offsets")
		}
	}
}

// recordProgress tells the progress table how a batch ended: partitions
// handled to their end moved, deferred ones wait at their deferred record,
// and a batch that did not commit leaves all of its partitions waiting at
// their first record, with the failure as the reason.
func (s *Stage) recordProgress(polled map[int32][2]int64, res batchResult, committed bool, endErr error) {
	switch {
	case endErr != nil:
		s.progress.failedAll(fmt.Sprintf("ending the transaction: %v", endErr))
	case committed:
		for p, r := range polled {
			if d, ok := res.deferred[p]; ok {
				s.progress.waiting(p, d.Offset, res.reasons[p])
			} else {
				s.progress.done(p, r[1]+1)
			}
		}
	default:
		reason := "batch aborted by a rebalance"
		if res.err != nil {
			reason = "transaction keeps failing: " + res.err.Error()
		}
		for p, r := range polled {
			s.progress.waiting(p, r[0], reason)
		}
	}
}

// Owned is how many partitions of its input the stage's group has
// assigned to this instance now: 0 before its first assignment, during an
// eager rebalance, and when the group has more members than partitions.
func (s *Stage) Owned() int { return int(s.owned.Load()) }

// partitionHooks turns State's Assigned and Revoked into client options, and
// keeps the progress table to the partitions this instance owns.
func (s *Stage) partitionHooks() []kgo.Opt {
	pick := func(m map[string][]int32) []int32 { return m[s.Input] }
	assigned := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		ps := pick(m)
		// A rebalance is how a consumer hears that its topic gained
		// partitions: read the count again before the next check.
		s.routes.Forget()
		s.owned.Add(int32(len(ps)))
		s.progress.assigned(ps)
		if s.State != nil && len(ps) > 0 {
			s.State.Assigned(ps)
		}
	}
	revoked := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		ps := pick(m)
		s.owned.Add(-int32(len(ps)))
		s.progress.revoked(ps)
		if s.State != nil && len(ps) > 0 {
			s.State.Revoked(ps)
		}
	}
	return []kgo.Opt{kgo.OnPartitionsAssigned(assigned), kgo.OnPartitionsRevoked(revoked), kgo.OnPartitionsLost(revoked)}
}

// batchResult is what handling one poll came to.
type batchResult struct {
	err      error                     // a transient failure: abort the batch
	handled  int                       // input records handled (not deferred)
	deferred map[int32]kgo.EpochOffset // per partition, the first deferred record
	firsts   map[int32]kgo.EpochOffset // per deferred partition, its first record in the batch
	reasons  map[int32]string          // per deferred partition, the deferral's error
}

// processBatch handles one poll: a goroutine per partition, records in
// order, outputs produced into the open transaction. With tracing, each
// record's process span is linked to txn, the transaction's span.
func (s *Stage) processBatch(ctx context.Context, sess *kgo.GroupTransactSession, fetches kgo.Fetches, log *zap.Logger, txn trace.Span) batchResult {
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		wg      sync.WaitGroup
		errMu   sync.Mutex
		errs    []error
		res     batchResult
		failOne = func(err error) {
			errMu.Lock()
			errs = append(errs, err)
			errMu.Unlock()
			cancel()
		}
		deferOne = func(first, at *kgo.Record, why error) {
			errMu.Lock()
			if res.deferred == nil {
				res.deferred = map[int32]kgo.EpochOffset{}
				res.firsts = map[int32]kgo.EpochOffset{}
				res.reasons = map[int32]string{}
			}
			res.deferred[at.Partition] = kgo.EpochOffset{Epoch: at.LeaderEpoch, Offset: at.Offset}
			res.firsts[at.Partition] = kgo.EpochOffset{Epoch: first.LeaderEpoch, Offset: first.Offset}
			res.reasons[at.Partition] = why.Error()
			errMu.Unlock()
		}
		handled atomic.Int64
	)
	// Outputs are produced with the stage's context, not bctx: cancelling
	// a record inside a transaction would poison the producer, and the
	// batch is aborted anyway when anything fails.
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			failOne(fmt.Errorf("producing to %s: %w", r.Topic, err))
		}
	}
	handle := s.Handle
	if s.CheckKeys {
		if _, err := s.routes.Partitions(bctx, kadm.NewClient(sess.Client())); err != nil {
			return batchResult{err: err} // transient: the batch aborts and is read again
		}
		handle = func(ctx context.Context, in *kgo.Record) ([]*kgo.Record, error) {
			if err := s.routes.Check(in); err != nil {
				return nil, err
			}
			return s.Handle(ctx, in)
		}
	}
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, in := range p.Records {
				if bctx.Err() != nil {
					return
				}
				hctx, span := bctx, trace.Span(nil)
				if s.Tracer != nil {
					hctx, span = tracing.StartProcess(bctx, s.Tracer, s.Name, s.Group, in)
					txn.AddLink(trace.Link{SpanContext: span.SpanContext()})
				}
				outs, err := handle(hctx, in)
				if span != nil {
					endProcess(span, err)
				}
				if err != nil && errors.Is(err, ErrDefer) {
					log.Debug("deferring record", zap.Int32(observe.KeyPartition, in.Partition), zap.Int64(observe.KeyOffset, in.Offset), zap.Error(err))
					s.Metrics.Deferred.WithLabelValues(s.Name).Inc()
					deferOne(p.Records[0], in, err)
					return
				}
				handled.Add(1)
				if err != nil {
					perm, ok := AsPermanent(err)
					if !ok {
						failOne(fmt.Errorf("handling %s/%d@%d: %w", in.Topic, in.Partition, in.Offset, err))
						return
					}
					log.Warn("dead-lettering record", zap.Int32(observe.KeyPartition, in.Partition), zap.Int64(observe.KeyOffset, in.Offset),
						zap.String(observe.KeyErrorClass, perm.Class), zap.Error(perm.Err))
					s.Metrics.DeadLettered.WithLabelValues(s.Name, perm.Class).Inc()
					if perm.Class == ClassMisrouted {
						s.Metrics.Misrouted.WithLabelValues(s.Name, s.Input).Inc()
					}
					outs = []*kgo.Record{s.deadLetter(in, perm)}
				} else if len(outs) == 0 {
					s.Metrics.Filtered.WithLabelValues(s.Name).Inc()
				}
				for _, out := range outs {
					sess.Produce(ctx, out, promise)
				}
				s.Metrics.Out.WithLabelValues(s.Name).Add(float64(len(outs)))
			}
		}()
	})
	wg.Wait()
	if err := sess.Client().Flush(ctx); err != nil {
		failOne(fmt.Errorf("flushing outputs: %w", err))
	}
	errMu.Lock()
	defer errMu.Unlock()
	res.err = errors.Join(errs...)
	res.handled = int(handled.Load())
	return res
}
