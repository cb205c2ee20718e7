package embedded

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// shiftChild commits one transaction on partition 0 of the crash topic
// and leaves a second one open there, on a plain kfake cluster.
func shiftChild(dir string) error {
	ctx := context.Background()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SeedTopics(1, crashTopic))
	if err != nil {
		return err
	}
	txn, err := newTxnProducer(c.ListenAddrs(), producerTxID)
	if err != nil {
		return err
	}
	if err := inTxn(ctx, txn, true, 0, "committed"); err != nil {
		return err
	}
	if err := inTxn(ctx, txn, false, 0, "open"); err != nil {
		return err
	}
	fmt.Println("ready")
	return nil
}

// crashBeforeTheLastIndexEntry leaves dir as a SIGKILL between kfake's
// two writes of the open transaction's batch would: the batch in the
// segment, its index entry not written.
func crashBeforeTheLastIndexEntry(t *testing.T, dir string) {
	t.Helper()
	crash(t, dir, "shift")
	idx := filepath.Join(dir, "partitions", crashTopic+"-0", "0.idx")
	st, err := os.Stat(idx)
	if err != nil {
		t.Fatal(err)
	}
	// committed, its commit marker, open: three entries.
	if st.Size() != 3*indexEntrySize {
		t.Fatalf("%s holds %d bytes, want three entries of %d", idx, st.Size(), indexEntrySize)
	}
	if err := os.Truncate(idx, 2*indexEntrySize); err != nil {
		t.Fatal(err)
	}
}

// TestKfakeServesAnOpenTransactionWhoseIndexEntryWasCut is the executable
// record of the second kfake gap: kfake takes a batch's transaction flag
// from the index, and a batch whose entry the crash cut is read as not
// transactional, so the open transaction it belongs to is neither aborted
// nor held back: read_committed readers get a record that was never
// committed. If it fails, kfake has changed (check repairIndexes).
func TestKfakeServesAnOpenTransactionWhoseIndexEntryWasCut(t *testing.T) {
	dir := t.TempDir()
	crashBeforeTheLastIndexEntry(t, dir)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	vals, reached := readToEnd(t, c.ListenAddrs(), 0, 10*time.Second)
	if !reached || !slices.Equal(vals, []string{"committed", "open"}) {
		t.Fatalf("read_committed read %v (end reached %v); kfake was recorded serving [committed open]", vals, reached)
	}
}

// TestStartRepairsAnIndexTheCrashCut: Start rewrites the index before
// kfake reads it, so the open transaction is aborted like any other.
func TestStartRepairsAnIndexTheCrashCut(t *testing.T) {
	dir := t.TempDir()
	crashBeforeTheLastIndexEntry(t, dir)
	c := startAfterCrash(t, dir)
	if len(c.Recovered.Reindexed) != 1 || !strings.HasPrefix(c.Recovered.Reindexed[0], crashTopic+"-0/0.idx: 2 entries for 3 batches") {
		t.Fatalf("rewritten indexes %q, want %s-0/0.idx with 2 entries for 3 batches", c.Recovered.Reindexed, crashTopic)
	}
	if len(c.Recovered.Aborted) != 1 || c.Recovered.Aborted[0].FirstOffset != 2 {
		t.Fatalf("aborted %s, want the open transaction at offset 2", c.Recovered.summary())
	}
	vals, reached := readToEnd(t, []string{c.Addr()}, 0, 10*time.Second)
	if !reached || !slices.Equal(vals, []string{"committed"}) {
		t.Fatalf("read_committed read %v (end reached %v), want [committed]", vals, reached)
	}
}

// TestIndexEntriesMatchKfakes: the entries repairIndexes computes from a
// segment are, byte for byte, those kfake wrote beside it — for plain,
// transactional, committed and aborted batches. It fails if kfake changes
// its index layout.
func TestIndexEntriesMatchKfakes(t *testing.T) {
	dir := t.TempDir()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SeedTopics(2, crashTopic))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	brokers := c.ListenAddrs()
	plain, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(crashTopic))
	if err != nil {
		t.Fatal(err)
	}
	txn, err := newTxnProducer(brokers, producerTxID)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return produce(ctx, plain, 0, "p0", "p1") },
		func() error { return inTxn(ctx, txn, false, 0, "c0", "c1") },
		func() error { return produce(ctx, txn, 1, "c2") },
		func() error { return txn.EndTransaction(ctx, kgo.TryCommit) },
		func() error { return inTxn(ctx, txn, false, 1, "a0") },
		func() error { return txn.EndTransaction(ctx, kgo.TryAbort) },
		func() error { return produce(ctx, plain, 1, "p2") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	plain.Close()
	txn.Close()
	c.Close()

	for p := range 2 {
		name := filepath.Join(dir, "partitions", crashTopic+"-"+string(rune('0'+p)), "0")
		have, err := os.ReadFile(name + ".idx")
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := readSegmentEntries(name+".dat", -1)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) < 4 {
			t.Fatalf("partition %d: %d batches read from the segment, want at least 4", p, len(want))
		}
		var flat []byte
		for _, e := range want {
			flat = append(flat, e[:]...)
		}
		if string(flat) != string(have) {
			t.Fatalf("partition %d: computed index\n%x\nkfake's\n%x", p, flat, have)
		}
		if at := firstDifference(want, have); at != -1 {
			t.Fatalf("partition %d: firstDifference %d for equal indexes", p, at)
		}
	}
}
