package dlq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/ksuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

var errNoSubscriptions = errors.New("dlq: no subscriptions table: replays of deliveries need Config.Subscriptions")

func itoa(n int) string { return strconv.Itoa(n) }

// Status is a replay's state and progress.
type Status struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// Selection is what the replay was created with (Topic in full).
	Selection Selection `json:"selection"`
	// Total is the number of records selected; Replayed how many of
	// them have been written. While a replay runs, Replayed counts
	// records written in its open transaction too.
	Total    int64 `json:"total"`
	Replayed int64 `json:"replayed"`
	// Partitions are the offsets covered and the next one to read.
	Partitions []PartitionPosition `json:"partitions"`
	CreatedAt  time.Time           `json:"created_at"`
	UpdatedAt  time.Time           `json:"updated_at"`
	// Running is true while this process runs it.
	Running bool `json:"running"`
	// RatePerSecond is the measured rate of this run; ETASeconds the time
	// left at that rate (both only while it runs here).
	RatePerSecond float64  `json:"rate_per_s,omitempty"`
	ETASeconds    *float64 `json:"eta_s,omitempty"`
}

// PartitionPosition is one partition of a replay: offsets [from, end) and
// the next offset to read.
type PartitionPosition struct {
	Partition int32 `json:"partition"`
	From      int64 `json:"from"`
	End       int64 `json:"end"`
	Next      int64 `json:"next"`
}

func (st *state) status() Status {
	out := Status{ID: st.ID, State: st.State, Error: st.Error, Selection: st.selection(), Total: st.Total, Replayed: st.Replayed,
		CreatedAt: st.CreatedAt, UpdatedAt: st.UpdatedAt}
	for _, p := range st.Partitions {
		out.Partitions = append(out.Partitions, PartitionPosition{Partition: p.Partition, From: p.From, End: p.End, Next: p.Next})
	}
	return out
}

// Replay is one run of a replay, made by Create or Resume and run by Run.
// Its producer is transactional with the id surge-replay-<id>.
type Replay struct {
	s      *Service
	c      *selector
	cl     *kgo.Client
	target string // commerce.deliveries for deliveries; events carry theirs

	txn *kafkax.Txn // the open transaction, nil if none; only Run's goroutine uses it

	mu        sync.Mutex
	st        state           // as last committed
	next      map[int32]int64 // position of this run, ahead of st while a transaction is open; nil before Run
	base      int64           // st.Replayed when this run started
	produced  int64           // records written by this run, committed or not
	startedAt time.Time
	running   bool
}

// ID is the replay's id.
func (r *Replay) ID() string { return r.st.ID }

// SetRate changes the replay's rate (records per second, 0 for no limit)
// before Run, e.g. to resume a replay faster or slower than it started;
// the new rate is kept with the replay.
func (r *Replay) SetRate(perSecond float64) error {
	if perSecond < 0 || math.IsNaN(perSecond) || math.IsInf(perSecond, 0) {
		return invalid("rate", "must be a positive number of records per second, or 0 for no limit")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.Rate = perSecond
	return nil
}

// Status returns the replay's state and progress.
func (r *Replay) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	st.Partitions = slices.Clone(st.Partitions)
	for i := range st.Partitions {
		if n, ok := r.next[st.Partitions[i].Partition]; ok {
			st.Partitions[i].Next = n
		}
	}
	out := st.status()
	if r.next != nil {
		out.Replayed = r.base + r.produced
	}
	out.Running = r.running
	if r.running {
		if el := time.Since(r.startedAt).Seconds(); el > 0.2 {
			out.RatePerSecond = float64(r.produced) / el
			if out.RatePerSecond > 0 {
				eta := float64(max(out.Total-out.Replayed, 0)) / out.RatePerSecond
				out.ETASeconds = &eta
			}
		}
	}
	return out
}

// Create plans sel (refusing a replay to a deleted subscription) and
// returns a new replay ready to Run. Nothing is written until Run.
func (s *Service) Create(ctx context.Context, sel Selection, tick func(Progress)) (*Replay, *Plan, error) {
	c, err := s.compile(ctx, sel)
	if err != nil {
		return nil, nil, err
	}
	if err := s.ensureReplaysTopic(ctx); err != nil {
		return nil, nil, err
	}
	pl, err := s.plan(ctx, c, nil, tick)
	if err != nil {
		return nil, pl, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	st := state{
		ID: "rpl_" + ksuid.New().String(), Topic: c.topic, State: StateRunning,
		FromOffset: sel.FromOffset, ToOffset: sel.ToOffset, Since: sel.Since, Until: sel.Until,
		Subscription: sel.Subscription, Filter: sel.Filter, ToSubscription: sel.ToSubscription, Rate: sel.Rate,
		Total: pl.Selected, CreatedAt: now, UpdatedAt: now,
	}
	for _, p := range c.partitions() {
		sp := c.spans[p]
		st.Partitions = append(st.Partitions, partState{Partition: p, From: sp.from, End: sp.end, Next: sp.from})
	}
	r, err := s.newReplay(ctx, c, st)
	if err != nil {
		return nil, pl, err
	}
	return r, pl, nil
}

// Resume takes over replay id where it stopped: it fences any earlier run
// of it (whose open transaction is aborted), then reads its committed
// position, and plans the rest (refusing it if a subscription was deleted
// meanwhile). ErrNotFound for an unknown id, ErrConflict for a replay that
// is done or running in this process.
func (s *Service) Resume(ctx context.Context, id string, tick func(Progress)) (*Replay, *Plan, error) {
	s.mu.Lock()
	_, here := s.running[id]
	s.mu.Unlock()
	if here {
		return nil, nil, fmt.Errorf("replay %s is running in this process: %w", id, ErrConflict)
	}
	// Peek first so an unknown or finished id fails without fencing.
	st, err := s.loadState(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if st.State == StateDone {
		return nil, nil, fmt.Errorf("replay %s is done: %d of %d records replayed, nothing to resume: %w", id, st.Replayed, st.Total, ErrConflict)
	}
	r, err := s.newReplay(ctx, nil, st)
	if err != nil {
		return nil, nil, err
	}
	// Fenced: no earlier run can commit any more; read where it got.
	if st, err = s.loadState(ctx, id); err != nil {
		r.cl.Close()
		return nil, nil, err
	}
	sel := st.selection()
	sel.FromOffset, sel.ToOffset = nil, nil
	c, err := s.compile(ctx, sel)
	if err != nil {
		r.cl.Close()
		return nil, nil, fmt.Errorf("replay %s: %w", id, err)
	}
	for _, p := range st.Partitions { // the rest of what it covers, not today's end
		c.spans[p.Partition] = span{from: p.Next, end: p.End}
	}
	pl, err := s.plan(ctx, c, nil, tick)
	if err != nil {
		r.cl.Close()
		return nil, pl, err
	}
	st.Total = st.Replayed + pl.Selected
	st.Error = ""
	r.c, r.st = c, st
	return r, pl, nil
}

// newReplay makes the replay's transactional producer and loads its
// producer id, which fences every earlier producer of the same replay.
func (s *Service) newReplay(ctx context.Context, c *selector, st state) (*Replay, error) {
	if err := s.register(ctx, s.replays.Topic(), s.replays.Register); err != nil {
		return nil, fmt.Errorf("registering the replay schema: %w", err)
	}
	if kindOf(s, st.Topic) == KindDeliveries {
		if err := s.register(ctx, s.deliveries.Topic(), s.deliveries.Register); err != nil {
			return nil, fmt.Errorf("registering the delivery schema: %w", err)
		}
	}
	cl, err := s.replayProducer(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	return &Replay{s: s, c: c, cl: cl, st: st, target: s.cfg.Names.Name(topics.Deliveries)}, nil
}

// replayProducer makes a replay's transactional producer and loads its
// producer id, which fences every earlier producer of the same replay.
func (s *Service) replayProducer(ctx context.Context, id string) (*kgo.Client, error) {
	opts := append(slices.Clone(s.cfg.ClientOpts),
		kgo.TransactionalID(topics.TransactionalIDReplayPrefix+id),
		kgo.TransactionTimeout(60*time.Second),
		kgo.ProducerLinger(5*time.Millisecond),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the replay's producer: %w", err)
	}
	if _, _, err := cl.ProducerID(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("starting the replay's transactional producer: %w", err)
	}
	return cl, nil
}

// producerStateLost reports whether err is the broker refusing the
// producer's sequence state. Nothing of the transaction was written; a new
// producer (a new epoch) starts clean.
func producerStateLost(err error) bool {
	return errors.Is(err, kerr.OutOfOrderSequenceNumber) || errors.Is(err, kerr.UnknownProducerID) ||
		errors.Is(err, kerr.InvalidProducerIDMapping)
}

func kindOf(s *Service, topic string) Kind {
	_, k, _ := s.Topic(topic)
	return k
}

// errStopped ends a run's scan when its context ends.
var errStopped = errors.New("replay stopped")

// Run replays until every selected record is written (state done), ctx
// ends (state stopped: the open transaction is committed first, so
// nothing written is replayed again on resume), or an error (state
// failed, from the last committed position). progress, when set, is
// called from Run's goroutine at most every 200ms and after every commit.
// Run closes the replay's producer; a Replay runs once.
func (r *Replay) Run(ctx context.Context, progress func(Status)) (Status, error) {
	s := r.s
	defer func() { r.cl.Close() }() // r.cl may be replaced below
	r.mu.Lock()
	r.running, r.startedAt = true, time.Now()
	r.next = map[int32]int64{}
	for _, p := range r.st.Partitions {
		r.next[p.Partition] = p.Next
	}
	r.base, r.produced = r.st.Replayed, 0
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()

	log := s.log.With(zap.String(observe.KeyReplayID, r.st.ID), zap.String(observe.KeyTopic, r.st.Topic))
	// The first commit makes the replay visible (and resumable) at once.
	// A resumed replay's new producer has been refused its first write
	// with a sequence error (seen on kfake after a stop); that transaction
	// was aborted, so one fresh producer is worth a try before failing.
	err := r.commit(StateRunning, "")
	if err != nil && producerStateLost(err) {
		log.Warn("the replay's producer was refused; starting a new one", zap.Error(err))
		cl, nerr := s.replayProducer(ctx, r.st.ID)
		if nerr != nil {
			return r.Status(), nerr
		}
		r.cl.Close()
		r.cl = cl
		err = r.commit(StateRunning, "")
	}
	if err != nil {
		return r.Status(), r.failed(log, err)
	}
	log.Info("replay started", zap.Int64("total", r.st.Total), zap.Int64("replayed", r.st.Replayed))
	if progress != nil {
		progress(r.Status())
	}

	var limiter *rate.Limiter
	if r.st.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(r.st.Rate), max(1, int(r.st.Rate/20)))
	}
	var (
		txnStart   time.Time
		txnRecords int
		dirty      bool // the position moved since the last commit
		lastCommit = time.Now()
		lastTick   time.Time
	)
	tick := func(force bool) {
		if progress != nil && (force || time.Since(lastTick) >= 200*time.Millisecond) {
			lastTick = time.Now()
			progress(r.Status())
		}
	}
	maybeCommit := func() error {
		due := (r.txn != nil && (time.Since(txnStart) >= s.cfg.CommitInterval || txnRecords >= s.cfg.MaxTxnRecords)) ||
			(r.txn == nil && dirty && time.Since(lastCommit) >= s.cfg.CommitInterval)
		if !due {
			return nil
		}
		if perr := r.recordsFailed(); perr != nil {
			return fmt.Errorf("writing replayed records: %w", perr)
		}
		if err := r.commit(StateRunning, ""); err != nil {
			return err
		}
		txnRecords, dirty, lastCommit = 0, false, time.Now()
		tick(true)
		return nil
	}

	err = s.scan(ctx, r.c.topic, r.remaining(), func(rec *kgo.Record) error {
		if rec.Attrs.IsControl() {
			r.advance(rec)
			dirty = true
			return maybeCommit()
		}
		l, err := s.decode(ctx, r.c.kind, rec)
		if err != nil {
			return err
		}
		if ok, _ := s.match(r.c, l); !ok {
			r.advance(rec)
			dirty = true
			return maybeCommit()
		}
		out, err := r.replayed(l)
		if err != nil {
			return err
		}
		if limiter != nil {
			if err := limiter.Wait(ctx); err != nil {
				return errStopped
			}
		}
		if ctx.Err() != nil {
			return errStopped
		}
		if r.txn == nil {
			if err := r.begin(); err != nil {
				return err
			}
			txnStart = time.Now()
		}
		r.txn.Produce(context.Background(), out)
		txnRecords++
		r.mu.Lock()
		r.produced++
		r.mu.Unlock()
		r.advance(rec)
		dirty = true
		tick(false)
		return maybeCommit()
	}, nil)

	switch {
	case err == nil || errors.Is(err, errStopped) || (ctx.Err() != nil && errors.Is(err, ctx.Err())):
		final := StateDone
		if err != nil || ctx.Err() != nil && !r.finished() {
			final = StateStopped
		}
		if perr := r.recordsFailed(); perr != nil {
			return r.Status(), r.failed(log, fmt.Errorf("writing replayed records: %w", perr))
		}
		if cerr := r.commit(final, ""); cerr != nil {
			return r.Status(), r.failed(log, cerr)
		}
		tick(true)
		st := r.Status()
		log.Info("replay "+final, zap.Int64("replayed", st.Replayed), zap.Int64("total", st.Total))
		return st, nil
	default:
		return r.Status(), r.failed(log, err)
	}
}

// remaining is what is left to read, per partition.
func (r *Replay) remaining() map[int32]span {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int32]span{}
	for _, p := range r.st.Partitions {
		if n := r.next[p.Partition]; n < p.End {
			out[p.Partition] = span{from: n, end: p.End}
		}
	}
	return out
}

// finished reports whether every partition was read to its end.
func (r *Replay) finished() bool { return len(r.remaining()) == 0 }

func (r *Replay) advance(rec *kgo.Record) {
	r.mu.Lock()
	r.next[rec.Partition] = rec.Offset + 1
	r.mu.Unlock()
}

// replayed builds the record l goes back as.
func (r *Replay) replayed(l *letter) (*kgo.Record, error) {
	id := r.st.ID
	if r.c.kind == KindEvents {
		target, _ := r.s.target(KindEvents, l.rec)
		out := &kgo.Record{Topic: target, Key: l.rec.Key, Value: l.rec.Value, Headers: replayHeaders(l.rec, id, "")}
		return replayPlaced(out, l.rec), nil
	}
	if l.delivery == nil { // undecodable: back byte for byte, as it was
		out := &kgo.Record{Topic: r.target, Key: l.rec.Key, Value: l.rec.Value, Headers: replayHeaders(l.rec, id, "")}
		return replayPlaced(out, l.rec), nil
	}
	d := resetAttempts(*l.delivery)
	to := r.c.sel.ToSubscription
	if to != "" && to != d.SubscriptionID {
		d.ID = DeliveryID(d.EventID, to)
		d.SubscriptionID = to
	} else {
		to = ""
	}
	v, err := r.s.deliveries.Encode(d)
	if err != nil {
		return nil, fmt.Errorf("encoding delivery %s: %w", d.ID, err)
	}
	out := &kgo.Record{Topic: r.target, Key: l.rec.Key, Value: v, Headers: replayHeaders(l.rec, id, to)}
	if to != "" {
		out.Key = []byte(event.DeliveryKey(to, d.EntityKey))
		return out, nil // a new key: the partition its hash gives
	}
	return replayPlaced(out, l.rec), nil
}

// replayPlaced puts a replayed record where it goes back to: the partition
// its dead letter came from (so replaying one partition keeps per-key
// order), except for a record dead-lettered as misrouted, which goes to
// the partition its key hashes to. Appended there now, it comes after
// everything its key received since: a stage handles it as the key's
// newest record.
func replayPlaced(out, dead *kgo.Record) *kgo.Record {
	if header(dead, topics.HeaderDLQErrorClass) == stream.ClassMisrouted {
		return out // the producer's murmur2 partitioner places it
	}
	return kafkax.WithPartition(out, pinnedPartition(dead))
}

// commit flushes what the open transaction holds, adds the replay's
// updated state to it and commits. On success the state is what Status
// reports as committed.
func (r *Replay) commit(stateName, errMsg string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.mu.Lock()
	st := r.st
	st.Partitions = slices.Clone(st.Partitions)
	for i := range st.Partitions {
		st.Partitions[i].Next = r.next[st.Partitions[i].Partition]
	}
	st.Replayed = r.base + r.produced
	st.State, st.Error = stateName, errMsg
	st.UpdatedAt = r.s.now().UTC().Truncate(time.Millisecond)
	r.mu.Unlock()

	v, err := r.s.replays.Encode(st)
	if err != nil {
		return fmt.Errorf("encoding the replay's state: %w", err)
	}
	if r.txn == nil {
		if err := r.begin(); err != nil {
			return err
		}
	}
	r.txn.Produce(ctx, &kgo.Record{Topic: r.s.replays.Topic(), Key: []byte(st.ID), Value: v})
	var aborted *kafkax.TxnAborted
	switch err := r.txn.Commit(ctx, abortTimeout); {
	case err == nil:
	case !errors.As(err, &aborted):
		r.abort()
		return err
	case aborted.Flush != nil:
		r.abort()
		return fmt.Errorf("flushing the replay's transaction: %w", aborted.Flush)
	case aborted.Records != nil:
		// The state, or a replayed record flushed with it: the
		// transaction holding the state is what was not written.
		r.abort()
		return fmt.Errorf("writing the replay's state: %w", aborted.Records)
	default:
		r.abort()
		return fmt.Errorf("committing the replay's transaction: %w", aborted.Commit)
	}
	r.txn = nil
	r.mu.Lock()
	r.st = st
	r.mu.Unlock()
	return nil
}

func (r *Replay) begin() error {
	txn, err := kafkax.BeginTxn(r.cl)
	if err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	r.txn = txn
	return nil
}

// recordsFailed is every replayed record of the open transaction that
// failed so far, joined; nil if none (or no transaction is open).
func (r *Replay) recordsFailed() error {
	if r.txn == nil {
		return nil
	}
	_, all := r.txn.Failed()
	return all
}

// abortTimeout bounds aborting a replay's transaction.
const abortTimeout = 10 * time.Second

// abort ends the open transaction without committing (Commit may have
// aborted it already); the replay's position stays at its last commit.
func (r *Replay) abort() {
	if r.txn != nil {
		r.txn.Abort(abortTimeout)
		r.txn = nil
	}
	r.mu.Lock()
	r.produced = r.st.Replayed - r.base
	for _, p := range r.st.Partitions {
		r.next[p.Partition] = p.Next
	}
	r.mu.Unlock()
}

// failed records err as the replay's state (when this run still owns the
// replay) and returns it.
func (r *Replay) failed(log *zap.Logger, err error) error {
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		err = fmt.Errorf("replay %s was taken over by another run (resumed elsewhere): %w", r.st.ID, err)
		log.Warn("replay taken over", zap.Error(err))
		return err
	}
	r.abort()
	if cerr := r.commit(StateFailed, err.Error()); cerr != nil {
		log.Error("replay failed; its state could not be recorded", zap.Error(err), zap.NamedError("record_error", cerr))
	} else {
		log.Error("replay failed", zap.Error(err))
	}
	return fmt.Errorf("replay %s failed (resume it with its id): %w", r.st.ID, err)
}
