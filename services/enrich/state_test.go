package enrich

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/stream"
)

func TestStoreCommitsOnlyCommittedBatches(t *testing.T) {
	st := newPartitionSnapshots(context.Background(), func(context.Context, int32) (map[string]*Snapshot, error) {
		return map[string]*Snapshot{"order:1": {Version: 1}}, nil
	}, 0, zap.NewNop())
	st.assigned([]int32{0})
	ps, err := st.partition(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	ps.put("order:1", &Snapshot{Version: 2})
	ps.put("order:2", &Snapshot{Version: 1})
	if got := ps.get("order:1").Version; got != 2 {
		t.Fatalf("pending snapshot not visible in the batch: version %d", got)
	}
	st.end(false)
	if got := ps.get("order:1").Version; got != 1 || ps.get("order:2") != nil {
		t.Fatalf("an aborted batch left its changes: order:1 v%d, order:2 %v", got, ps.get("order:2"))
	}
	ps.put("order:1", &Snapshot{Version: 2})
	st.end(true)
	if got := ps.get("order:1").Version; got != 2 {
		t.Fatalf("a committed batch lost its change: version %d", got)
	}
	if st.snapshots() != 1 {
		t.Errorf("gauge %d, want 1", st.snapshots())
	}
	st.assigned([]int32{0}) // handed back after a rebalance: rebuilt from Kafka
	ps, err = st.partition(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := ps.get("order:1").Version; got != 1 {
		t.Errorf("reassigned partition kept stale state: version %d", got)
	}
	st.drop([]int32{0})
	if st.snapshots() != 0 {
		t.Errorf("gauge %d after drop, want 0", st.snapshots())
	}
}

func TestStoreDefersWhileRebuildingAndRetriesFailures(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	restore := func(ctx context.Context, p int32) (map[string]*Snapshot, error) {
		if calls.Add(1) == 1 {
			return nil, errors.New("entities topic unreachable")
		}
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return map[string]*Snapshot{}, nil
	}
	st := newPartitionSnapshots(context.Background(), restore, 20*time.Millisecond, zap.NewNop())
	st.assigned([]int32{3})
	time.Sleep(10 * time.Millisecond)
	_, err := st.partition(context.Background(), 3)
	if !errors.Is(err, stream.ErrDefer) || calls.Load() != 1 {
		t.Fatalf("after a failed rebuild: %v (%d rebuilds), want a deferral", err, calls.Load())
	}
	time.Sleep(restoreRetry)
	if _, err := st.partition(context.Background(), 3); !errors.Is(err, stream.ErrDefer) {
		t.Fatalf("while rebuilding: %v, want a deferral", err)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d rebuilds, want the failed one retried", calls.Load())
	}
	close(release)
	time.Sleep(10 * time.Millisecond)
	if _, err := st.partition(context.Background(), 3); err != nil {
		t.Fatalf("after the rebuild: %v", err)
	}
}
