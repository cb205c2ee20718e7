package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/surgehq/surge/pkg/observe"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

const (
	// maxWriteAttempts bounds how often a write that lost a race to
	// another instance is planned again (within writeTimeout).
	maxWriteAttempts = 40
	// writeTimeout bounds one write (all its attempts) even when the
	// caller's context does not.
	writeTimeout = 30 * time.Second
	// topicSettleTimeout bounds the wait for a new topic to be usable.
	topicSettleTimeout = 10 * time.Second
	// closeTimeout bounds Close.
	closeTimeout = 5 * time.Second
	// fetchErrorBackoff paces the tail loop while fetches fail.
	fetchErrorBackoff = 250 * time.Millisecond
)

// ErrClosed is returned by calls that wait on a closed Registry.
var ErrClosed = errors.New("schema registry closed")

// Registry is a Confluent-compatible schema registry whose state lives in a
// compacted Kafka topic. Its methods are safe for concurrent use.
type Registry struct {
	cfg  Config
	log  *zap.Logger
	prod *kgo.Client // writes, and kadm requests
	cons *kgo.Client // tails the topic
	adm  *kadm.Client

	mu      sync.RWMutex
	st      *state
	next    int64         // offset of the next record to apply; all below are applied
	changed chan struct{} // closed and replaced whenever next moves

	readyAt int64 // end offset at start; ready once next reaches it
	ready   atomic.Bool
	readyCh chan struct{}

	writeMu sync.Mutex // serialises writes inside this instance

	stop      context.CancelFunc
	done      chan struct{} // closed when the tail loop returns
	closeOnce sync.Once
}

// New creates the topic if it is missing (one partition, compacted), notes
// its end offset and starts tailing it from the beginning with its own
// franz-go clients built from kopts (seed brokers, TLS, SASL, logger...;
// not consumer-group or transactional options). ctx bounds only this
// start-up; the tail runs until Close. Use WaitReady before serving.
func New(ctx context.Context, cfg Config, log *zap.Logger, kopts ...kgo.Opt) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating registry config: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String(observe.KeyTopic, cfg.Topic))

	prodOpts := append(append([]kgo.Opt{}, kopts...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	prod, err := kgo.NewClient(prodOpts...)
	if err != nil {
		return nil, fmt.Errorf("creating registry producer: %w", err)
	}
	adm := kadm.NewClient(prod)
	end, err := prepareTopic(ctx, adm, cfg)
	if err != nil {
		prod.Close()
		return nil, err
	}
	consOpts := append(append([]kgo.Opt{}, kopts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // markers advance the position, so a log ending in one is still "read to the end"
	)
	cons, err := kgo.NewClient(consOpts...)
	if err != nil {
		prod.Close()
		return nil, fmt.Errorf("creating registry consumer: %w", err)
	}

	tailCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r := &Registry{
		cfg: cfg, log: log, prod: prod, cons: cons, adm: adm,
		st: newState(), changed: make(chan struct{}),
		readyAt: end, readyCh: make(chan struct{}),
		stop: stop, done: make(chan struct{}),
	}
	r.mu.Lock()
	r.markReadyLocked()
	r.mu.Unlock()
	go r.tail(tailCtx)
	return r, nil
}

// prepareTopic creates the topic when missing, checks it has one partition
// and returns its end offset (last stable offset, as read_committed sees).
func prepareTopic(ctx context.Context, adm *kadm.Client, cfg Config) (int64, error) {
	configs := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	resp, err := adm.CreateTopic(ctx, 1, cfg.ReplicationFactor, configs, cfg.Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("creating topic %s (replication factor %d): %w", cfg.Topic, cfg.ReplicationFactor, err)
	}
	// Right after creation a real cluster may not know the topic on
	// every broker yet: retry briefly on retriable answers.
	deadline := time.Now().Add(topicSettleTimeout)
	for {
		end, err := describeTopic(ctx, adm, cfg.Topic)
		if err == nil || !kerr.IsRetriable(err) || time.Now().After(deadline) {
			return end, err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for topic %s: %w", cfg.Topic, errors.Join(err, ctx.Err()))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// describeTopic checks the topic has one partition and returns its end offset.
func describeTopic(ctx context.Context, adm *kadm.Client, topic string) (int64, error) {
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("describing topic %s: %w", topic, err)
	}
	d := details[topic]
	if d.Err != nil {
		return 0, fmt.Errorf("describing topic %s: %w", topic, d.Err)
	}
	switch n := len(d.Partitions); n {
	case 1:
	case 0:
		return 0, fmt.Errorf("describing topic %s: %w", topic, kerr.UnknownTopicOrPartition)
	default:
		return 0, fmt.Errorf("checking topic %s: it has %d partitions, the registry needs exactly 1 for a total order", topic, n)
	}
	return endOffset(ctx, adm, topic)
}

func endOffset(ctx context.Context, adm *kadm.Client, topic string) (int64, error) {
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("listing end offset of %s: %w", topic, err)
	}
	o, ok := ends.Lookup(topic, 0)
	if !ok {
		return 0, fmt.Errorf("listing end offset of %s: partition 0 missing from the answer", topic)
	}
	return o.Offset, nil
}

// tail applies every record of the topic in log order until ctx ends. It
// never panics: a record that makes apply panic is logged and skipped, the
// same way on every instance.
func (r *Registry) tail(ctx context.Context) {
	defer close(r.done)
	for {
		fetches := r.cons.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return
		}
		failed := false
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			failed = true
			r.log.Warn("fetching schemas topic", zap.Int32(observe.KeyPartition, p), zap.Error(err))
		})
		var recs []*kgo.Record
		fetches.EachRecord(func(rec *kgo.Record) { recs = append(recs, rec) })
		if len(recs) > 0 {
			r.applyRecords(recs)
		}
		if failed {
			select {
			case <-ctx.Done():
				return
			case <-time.After(fetchErrorBackoff):
			}
		}
	}
}

func (r *Registry) applyRecords(recs []*kgo.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	moved := false
	for _, rec := range recs {
		if rec.Offset < r.next {
			continue // re-delivered after a reset; already applied
		}
		if !rec.Attrs.IsControl() {
			if why := r.applyOne(rec); why != "" {
				r.log.Debug("ignoring schemas record", zap.Int64(observe.KeyOffset, rec.Offset),
					zap.ByteString(observe.KeyRecordKey, rec.Key), zap.String(observe.KeyReason, why))
			}
		}
		r.next = rec.Offset + 1
		moved = true
	}
	if moved {
		close(r.changed)
		r.changed = make(chan struct{})
		r.markReadyLocked()
	}
}

func (r *Registry) applyOne(rec *kgo.Record) (why string) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("applying schemas record panicked; skipping it", zap.Int64(observe.KeyOffset, rec.Offset),
				zap.ByteString(observe.KeyRecordKey, rec.Key), zap.Any("panic", p))
			why = "panicked"
		}
	}()
	return r.st.apply(rec.Key, rec.Value)
}

func (r *Registry) markReadyLocked() {
	if r.ready.Load() || r.next < r.readyAt {
		return
	}
	r.ready.Store(true)
	close(r.readyCh)
	r.log.Info("schema registry loaded", zap.Int64(observe.KeyOffset, r.next),
		zap.Int("schemas", len(r.st.byID)), zap.Int("subjects", len(r.st.subjects)))
}

// Ready reports whether the topic has been read up to the end offset it had
// when New was called.
func (r *Registry) Ready() bool { return r.ready.Load() }

// WaitReady blocks until Ready, ctx ends or the registry is closed.
func (r *Registry) WaitReady(ctx context.Context) error {
	select {
	case <-r.readyCh:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the schema registry to load %s: %w", r.cfg.Topic, ctx.Err())
	case <-r.done:
		return ErrClosed
	}
}

// Close stops the tail and closes the Kafka clients, waiting at most a few
// seconds. Calls in flight fail with ErrClosed. Close is idempotent.
func (r *Registry) Close() {
	r.closeOnce.Do(func() {
		r.stop()
		closed := make(chan struct{})
		go func() {
			r.cons.Close()
			<-r.done
			r.prod.Close()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(closeTimeout):
			r.log.Warn("schema registry did not close in time", zap.Duration("timeout", closeTimeout))
		}
	})
}

// waitApplied blocks until the record at offset has been applied.
func (r *Registry) waitApplied(ctx context.Context, offset int64) error {
	for {
		r.mu.RLock()
		next, changed := r.next, r.changed
		r.mu.RUnlock()
		if next > offset {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for offset %d of %s to be applied: %w", offset, r.cfg.Topic, ctx.Err())
		case <-r.done:
			return ErrClosed
		}
	}
}

// catchUp waits until everything written to the topic so far has been
// applied, so a write is planned on current state.
func (r *Registry) catchUp(ctx context.Context) error {
	end, err := endOffset(ctx, r.adm, r.cfg.Topic)
	if err != nil {
		return err
	}
	if end == 0 {
		return nil
	}
	return r.waitApplied(ctx, end-1)
}

// produce writes one record (value nil: a tombstone) with acks=all and
// returns its offset.
func (r *Registry) produce(ctx context.Context, key, value []byte) (int64, error) {
	rec, err := r.prod.ProduceSync(ctx, &kgo.Record{Topic: r.cfg.Topic, Partition: 0, Key: key, Value: value}).First()
	if err != nil {
		return 0, fmt.Errorf("producing to %s: %w", r.cfg.Topic, err)
	}
	return rec.Offset, nil
}

// produceAndApply writes records in order and waits until this instance
// has applied the last one.
func (r *Registry) produceAndApply(ctx context.Context, recs ...[2][]byte) error {
	last := int64(-1)
	for _, kv := range recs {
		off, err := r.produce(ctx, kv[0], kv[1])
		if err != nil {
			return err
		}
		last = off
	}
	if last < 0 {
		return nil
	}
	return r.waitApplied(ctx, last)
}

// read runs fn on the current state under the read lock.
func (r *Registry) read(fn func(st *state)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn(r.st)
}

// beginWrite bounds a write and serialises it with the other writes of this
// instance. The returned func releases both.
func (r *Registry) beginWrite(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	r.writeMu.Lock()
	return ctx, func() {
		r.writeMu.Unlock()
		cancel()
	}
}
