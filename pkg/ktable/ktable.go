// Package ktable keeps a compacted Kafka topic in memory: the latest value
// of every key, a tombstone (nil value) deleting the key. It is how Surge
// stores subscriptions, sources and event types with no database: the admin
// API writes through a Table, and every service that needs the data tails
// the same topic into its own Table and sees a change within a fetch.
//
// A Table reads every partition of its topic from the start with a plain
// (group-less) consumer and applies records in offset order per partition.
// Reads (Get, List) never block on Kafka. Three calls tie reads to the
// log:
//
//   - Put and Delete return once the write is acknowledged by all in-sync
//     replicas and applied to this Table, so a caller reads its own write.
//   - Sync reads up to the end offsets as of the call, so every write
//     acknowledged before Sync was called is visible when it returns.
//   - FreshAsOf(t) is Sync for callers that only need the writes
//     acknowledged before t: one sync serves every caller whose t is older
//     than that sync's start, so a hot path pays one round trip per batch,
//     not per record.
//
// Writes are plain idempotent produces, not transactions, so the topic
// holds no transaction markers and the end offset is always one past the
// last record.
package ktable

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/observe"
)

// Config describes one table.
type Config[V any] struct {
	// Topic is the full name of the compacted topic; it must exist.
	Topic string
	// ClientOpts are the base client options (kafkax.ClientOpts); the
	// table adds its consumer settings.
	ClientOpts []kgo.Opt
	// Decode turns a record value into V. A value that does not decode is
	// logged and skipped: the key keeps its previous value.
	Decode func(ctx context.Context, key string, value []byte) (V, error)
	// Encode turns V into a record value; nil makes the table read-only.
	Encode func(v V) ([]byte, error)
	// OnChange, when set, is called after each applied record, in log
	// order per partition, from the table's consuming goroutine (so it
	// must not call Put, Delete or Sync). deleted is true for a tombstone.
	OnChange func(key string, v V, deleted bool)
	Log      *zap.Logger
	Now      func() time.Time // default time.Now
}

// Table is a compacted topic held in memory. It is safe for concurrent use.
type Table[V any] struct {
	cfg    Config[V]
	client *kgo.Client
	adm    *kadm.Client
	log    *zap.Logger

	mu       sync.RWMutex
	items    map[string]V
	next     map[int32]int64 // per partition, the offset after the last one applied
	progress chan struct{}   // closed and replaced whenever next moves
	version  atomic.Uint64   // grows with every applied change

	syncMu   sync.Mutex
	syncedAt time.Time // start of the latest completed sync
	inflight *syncCall

	writeMu sync.Mutex // one write at a time keeps read-modify-write callers simple

	stop     context.CancelFunc
	done     chan struct{}
	runErr   error
	closeOne sync.Once
}

type syncCall struct {
	start time.Time
	done  chan struct{}
	err   error
}

// ErrReadOnly is returned by Put and Delete on a table without Encode.
var ErrReadOnly = errors.New("ktable: table has no encoder")

// Open starts tailing cfg.Topic and returns once the table holds everything
// written before the call (or ctx ends).
func Open[V any](ctx context.Context, cfg Config[V]) (*Table[V], error) {
	if cfg.Topic == "" || cfg.Decode == nil {
		return nil, errors.New("ktable: Topic and Decode are required")
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	opts := append([]kgo.Opt{}, cfg.ClientOpts...)
	opts = append(opts,
		kgo.ConsumeTopics(cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(time.Second),
		kgo.ProducerLinger(0),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("ktable %s: creating client: %w", cfg.Topic, err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	t := &Table[V]{
		cfg:      cfg,
		client:   cl,
		adm:      kadm.NewClient(cl),
		log:      cfg.Log.With(zap.String("table", cfg.Topic)),
		items:    map[string]V{},
		next:     map[int32]int64{},
		progress: make(chan struct{}),
		stop:     stop,
		done:     make(chan struct{}),
	}
	go t.run(runCtx)
	if err := t.Sync(ctx); err != nil {
		t.Close()
		return nil, fmt.Errorf("ktable %s: loading: %w", cfg.Topic, err)
	}
	return t, nil
}

// Close stops tailing. Reads keep answering with the last state.
func (t *Table[V]) Close() {
	t.closeOne.Do(func() {
		t.stop()
		t.client.Close()
		<-t.done
	})
}

// Get returns the value of key.
func (t *Table[V]) Get(key string) (V, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	v, ok := t.items[key]
	return v, ok
}

// List returns every value, sorted by key.
func (t *Table[V]) List() []V {
	t.mu.RLock()
	keys := make([]string, 0, len(t.items))
	for k := range t.items {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]V, len(keys))
	for i, k := range keys {
		out[i] = t.items[k]
	}
	t.mu.RUnlock()
	return out
}

// Len returns the number of keys.
func (t *Table[V]) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.items)
}

// Version grows by one with every applied record, so a reader can cache a
// view derived from the table and rebuild it only when Version changed.
func (t *Table[V]) Version() uint64 { return t.version.Load() }

// Put writes v under key and returns once it is acknowledged and applied
// here.
func (t *Table[V]) Put(ctx context.Context, key string, v V) error {
	if t.cfg.Encode == nil {
		return ErrReadOnly
	}
	b, err := t.cfg.Encode(v)
	if err != nil {
		return fmt.Errorf("ktable %s: encoding %q: %w", t.cfg.Topic, key, err)
	}
	return t.write(ctx, key, b)
}

// Delete writes a tombstone for key and returns once it is acknowledged
// and applied here.
func (t *Table[V]) Delete(ctx context.Context, key string) error {
	if t.cfg.Encode == nil {
		return ErrReadOnly
	}
	return t.write(ctx, key, nil)
}

func (t *Table[V]) write(ctx context.Context, key string, value []byte) error {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	r := &kgo.Record{Topic: t.cfg.Topic, Key: []byte(key), Value: value}
	if err := t.client.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("ktable %s: writing %q: %w", t.cfg.Topic, key, err)
	}
	return t.waitFor(ctx, map[int32]int64{r.Partition: r.Offset + 1})
}

// Sync returns once every record acknowledged before the call is applied.
func (t *Table[V]) Sync(ctx context.Context) error {
	return t.FreshAsOf(ctx, t.cfg.Now())
}

// FreshAsOf returns once every record acknowledged before at is applied.
// Concurrent callers share one round trip to the brokers. A time in the
// future counts as now.
func (t *Table[V]) FreshAsOf(ctx context.Context, at time.Time) error {
	if now := t.cfg.Now(); at.After(now) {
		at = now
	}
	for {
		t.syncMu.Lock()
		if !t.syncedAt.Before(at) {
			t.syncMu.Unlock()
			return nil
		}
		c := t.inflight
		if c == nil {
			c = &syncCall{start: t.cfg.Now(), done: make(chan struct{})}
			t.inflight = c
			go t.sync(c)
		}
		t.syncMu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
		}
		if c.err != nil {
			return c.err
		}
		// A sync that started before at does not cover it: loop and
		// start (or join) a newer one.
	}
}

// sync reads up to the end offsets listed now, bounded in time so a
// caller that gave up does not leave it running forever.
func (t *Table[V]) sync(c *syncCall) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kafkax.EndOffsets(ctx, t.adm, t.cfg.Topic, false)
	if err == nil {
		err = t.waitFor(ctx, ends)
	}
	t.syncMu.Lock()
	c.err = err
	if err == nil && c.start.After(t.syncedAt) {
		t.syncedAt = c.start
	}
	t.inflight = nil
	t.syncMu.Unlock()
	close(c.done)
}

// waitFor returns once, for every partition in ends, the table has applied
// everything before that offset.
func (t *Table[V]) waitFor(ctx context.Context, ends map[int32]int64) error {
	for {
		t.mu.RLock()
		reached := true
		for p, end := range ends {
			if end > 0 && t.next[p] < end {
				reached = false
				break
			}
		}
		progress := t.progress
		t.mu.RUnlock()
		if reached {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to catch up: %w", t.cfg.Topic, ctx.Err())
		case <-t.done:
			return fmt.Errorf("waiting for %s to catch up: table closed", t.cfg.Topic)
		case <-progress:
		}
	}
}

// run applies records until ctx ends.
func (t *Table[V]) run(ctx context.Context) {
	defer close(t.done)
	for {
		fetches := t.client.PollFetches(ctx)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.log.Warn("fetch error", zap.Int32(observe.KeyPartition, p), zap.Error(err))
		})
		fetches.EachRecord(t.apply)
		t.mu.Lock()
		close(t.progress)
		t.progress = make(chan struct{})
		t.mu.Unlock()
	}
}

func (t *Table[V]) apply(r *kgo.Record) {
	key := string(r.Key)
	var (
		v       V
		deleted = r.Value == nil
		skip    bool
	)
	if !deleted {
		var err error
		if v, err = t.cfg.Decode(context.Background(), key, r.Value); err != nil {
			t.log.Error("skipping a record that does not decode; the key keeps its previous value",
				zap.String(observe.KeyRecordKey, key), zap.Int32(observe.KeyPartition, r.Partition), zap.Int64(observe.KeyOffset, r.Offset), zap.Error(err))
			skip = true
		}
	}
	if !skip {
		t.mu.Lock()
		if deleted {
			delete(t.items, key)
		} else {
			t.items[key] = v
		}
		t.version.Add(1)
		t.mu.Unlock()
		if t.cfg.OnChange != nil {
			t.cfg.OnChange(key, v, deleted)
		}
	}
	// The position moves only after OnChange ran, so Sync, Put and
	// Delete return once what OnChange derives is current too.
	t.mu.Lock()
	t.next[r.Partition] = r.Offset + 1
	t.mu.Unlock()
}
