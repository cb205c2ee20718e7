package enrich

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/stream"
)

// restoreRetry is how long after a failed rebuild of a partition's state
// the next one starts.
const restoreRetry = time.Second

// partitionSnapshots holds the entity snapshots of the input partitions this instance
// owns, one map per partition, rebuilt from commerce.entities in the
// background when a partition is assigned.
//
// While a partition's state is being rebuilt its records are deferred
// (stream.ErrDefer), so a large partition does not hold the transaction of
// the others; a rebuild that fails is retried, and meanwhile only that
// partition waits.
//
// Changes made while handling a batch are pending until the batch's
// transaction ends: end(true) makes them the committed state, end(false)
// drops them, so the state always matches what Kafka committed.
//
// Concurrency: partition p's maps are used only by the goroutine handling
// p's records (pkg/stream runs one per partition) and by end, which runs
// while no handler does. assigned and drop may run at any time (they come
// from the consumer group's callbacks); they only replace or unlink the
// partition's state, so a handler still holding the old one finishes on a
// detached copy, whose batch does not commit anyway.
type partitionSnapshots struct {
	restore func(ctx context.Context, partition int32) (map[string]*Snapshot, error)
	wait    time.Duration // how long a record waits for a rebuild before it is deferred; 0: no limit
	ctx     context.Context
	log     *zap.Logger

	mu    sync.Mutex
	parts map[int32]*partState
	size  atomic.Int64 // committed snapshots held, for the gauge
}

// partState is the snapshots of one input partition, by entity key.
type partState struct {
	ready    chan struct{} // closed when the rebuild ended
	err      error         // the rebuild's error, once ready
	failedAt time.Time
	started  time.Time // when the rebuild started
	prevErr  error     // the previous rebuild's error, when this one is a retry
	cancel   context.CancelFunc

	committed map[string]*Snapshot
	pending   map[string]*Snapshot
}

func newPartitionSnapshots(ctx context.Context, restore func(context.Context, int32) (map[string]*Snapshot, error), wait time.Duration, log *zap.Logger) *partitionSnapshots {
	return &partitionSnapshots{restore: restore, wait: wait, ctx: ctx, log: log, parts: map[int32]*partState{}}
}

// rebuildLocked starts rebuilding p's state in the background; st.mu must
// be held.
func (st *partitionSnapshots) rebuildLocked(p int32) *partState {
	ctx, cancel := context.WithCancel(st.ctx)
	ps := &partState{ready: make(chan struct{}), cancel: cancel, started: time.Now()}
	if old := st.parts[p]; old != nil {
		old.cancel()
		if old.failed() {
			ps.prevErr = old.err
		}
	}
	st.parts[p] = ps
	go func() {
		defer close(ps.ready)
		snaps, err := st.restore(ctx, p)
		if err != nil {
			ps.err, ps.failedAt = err, time.Now()
			if ctx.Err() == nil {
				st.log.Error("rebuilding partition state failed; its records wait", zap.Int32(observe.KeyPartition, p), zap.Error(err))
			}
			return
		}
		ps.committed = snaps
	}()
	return ps
}

// partition returns p's state once it is rebuilt. While it is not, it
// returns an error wrapping stream.ErrDefer after waiting st.wait. Only
// p's handler goroutine may call it.
func (st *partitionSnapshots) partition(ctx context.Context, p int32) (*partState, error) {
	st.mu.Lock()
	ps := st.parts[p]
	if ps == nil {
		// Handed a partition no assignment callback announced (a first
		// assignment racing the callback): rebuild it now.
		ps = st.rebuildLocked(p)
	} else if ps.failed() && time.Since(ps.failedAt) >= restoreRetry {
		ps = st.rebuildLocked(p)
	}
	st.mu.Unlock()

	select { // the common case: rebuilt long ago, no timer needed
	case <-ps.ready:
		if ps.err == nil {
			return ps, nil
		}
	default:
	}
	var timeout <-chan time.Time
	if st.wait > 0 {
		t := time.NewTimer(st.wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ps.ready:
		if ps.err != nil {
			return nil, fmt.Errorf("rebuilding the state of partition %d: %w (%w)", p, stream.ErrDefer, ps.err)
		}
		return ps, nil
	case <-timeout:
		prev := ""
		if ps.prevErr != nil {
			prev = fmt.Sprintf(" (the previous attempt failed: %v)", ps.prevErr)
		}
		return nil, fmt.Errorf("rebuilding the state of partition %d: still running after %s%s: %w",
			p, time.Since(ps.started).Round(100*time.Millisecond), prev, stream.ErrDefer)
	case <-ctx.Done():
		return nil, fmt.Errorf("rebuilding the state of partition %d: %w", p, ctx.Err())
	}
}

// failed reports whether the rebuild ended in an error.
func (ps *partState) failed() bool {
	select {
	case <-ps.ready:
		return ps.err != nil
	default:
		return false
	}
}

// get returns the latest snapshot of key, pending or committed; nil when
// there is none.
func (ps *partState) get(key string) *Snapshot {
	if s, ok := ps.pending[key]; ok {
		return s
	}
	return ps.committed[key]
}

// put records key's new snapshot as pending.
func (ps *partState) put(key string, s *Snapshot) {
	if ps.pending == nil {
		ps.pending = map[string]*Snapshot{}
	}
	ps.pending[key] = s
}

// assigned starts rebuilding the state of partitions given to this
// instance, dropping whatever it held of them: another instance may have
// changed them meanwhile.
func (st *partitionSnapshots) assigned(partitions []int32) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, p := range partitions {
		st.rebuildLocked(p)
	}
	st.count()
}

// drop forgets the state of partitions taken from this instance.
func (st *partitionSnapshots) drop(partitions []int32) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, p := range partitions {
		if ps := st.parts[p]; ps != nil {
			ps.cancel()
			delete(st.parts, p)
		}
	}
	st.count()
}

// end ends a batch: its pending changes become committed, or are dropped.
func (st *partitionSnapshots) end(committed bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, ps := range st.parts {
		if committed && len(ps.pending) > 0 {
			if ps.committed == nil {
				ps.committed = make(map[string]*Snapshot, len(ps.pending))
			}
			for k, s := range ps.pending {
				ps.committed[k] = s
			}
		}
		clear(ps.pending)
	}
	st.count()
}

// count refreshes the gauge's count; st.mu must be held. Only ready
// partitions are counted, since a rebuild fills its map unlocked.
func (st *partitionSnapshots) count() {
	var n int
	for _, ps := range st.parts {
		select {
		case <-ps.ready:
			n += len(ps.committed)
		default:
		}
	}
	st.size.Store(int64(n))
}

// snapshots is the number of committed snapshots held.
func (st *partitionSnapshots) snapshots() int64 { return st.size.Load() }

// stageState is what enrich keeps across batches, as the stage's
// stream.PartitionState: the entity snapshots of the partitions it owns
// (partitionSnapshots) and the warning counts that reach /metrics only when their
// batch commits (metrics.endBatch).
type stageState struct {
	snapshots *partitionSnapshots
	metrics   *metrics
}

// Assigned starts rebuilding the partitions' snapshots (partitionSnapshots.assigned).
func (s stageState) Assigned(partitions []int32) { s.snapshots.assigned(partitions) }

// Revoked forgets the partitions' snapshots (partitionSnapshots.drop).
func (s stageState) Revoked(partitions []int32) { s.snapshots.drop(partitions) }

// BatchEnded makes the batch's snapshots and warning counts committed, or
// drops them.
func (s stageState) BatchEnded(committed bool) {
	s.snapshots.end(committed)
	s.metrics.endBatch(committed)
}
