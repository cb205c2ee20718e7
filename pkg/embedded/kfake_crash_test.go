package embedded

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// The tests in this file kill a process running the cluster with SIGKILL,
// the way a crash stops `surge dev`: the test binary re-runs itself as that
// process (TestMain), which opens the cluster on a data dir, commits one
// transaction, leaves a second one open, says "ready" and waits to be
// killed.

const (
	childDirEnv  = "SURGE_CRASH_CHILD_DIR"
	childModeEnv = "SURGE_CRASH_CHILD_MODE" // "kfake" or "embedded"
	crashTopic   = "crash"
	producerTxID = "stage"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		if err := crashChild(dir, os.Getenv(childModeEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(3)
		}
		select {} // until SIGKILL
	}
	os.Exit(m.Run())
}

// crashChild runs in the child process.
func crashChild(dir, mode string) error {
	ctx := context.Background()
	var brokers []string
	switch mode {
	case "kfake":
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SeedTopics(3, crashTopic))
		if err != nil {
			return err
		}
		brokers = c.ListenAddrs()
	case "embedded":
		var err error
		if brokers, err = startChildCluster(ctx, dir, 3, crashTopic); err != nil {
			return err
		}
	case "split":
		return splitChild(ctx, dir)
	case "pairs":
		return pairsChild(ctx, dir)
	case "shift":
		return shiftChild(dir)
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}

	// A plain idempotent producer writes around the transactions: its
	// batches must not be mistaken for open transactions.
	plain, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(crashTopic))
	if err != nil {
		return err
	}
	txn, err := newTxnProducer(brokers, producerTxID)
	if err != nil {
		return err
	}
	other, err := newTxnProducer(brokers, "other-stage")
	if err != nil {
		return err
	}
	steps := []func() error{
		func() error { return produce(ctx, plain, 2, "plain-0") },
		func() error { return inTxn(ctx, txn, true, 0, "a0", "a1", "a2") },
		func() error { return inTxn(ctx, other, true, 1, "o0") },
		// Left open across two partitions: what the crash interrupts.
		func() error { return inTxn(ctx, txn, false, 0, "b0", "b1") },
		func() error { return produce(ctx, txn, 1, "b2") },
		func() error { return produce(ctx, plain, 0, "plain-1") },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	return nil
}

// splitChild leaves a transaction whose commit a crash cut half-way: the
// commit marker is on partition 0 (written the way EndTxn writes it) and
// not on partition 1.
func splitChild(ctx context.Context, dir string) error {
	brokers, err := startChildCluster(ctx, dir, 2, crashTopic)
	if err != nil {
		return err
	}
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	txn, err := newTxnProducer(brokers, producerTxID)
	if err != nil {
		return err
	}
	if err := inTxn(ctx, txn, true, 1, "before"); err != nil {
		return err
	}
	if err := inTxn(ctx, txn, false, 0, "s0"); err != nil {
		return err
	}
	if err := produce(ctx, txn, 1, "s1a", "s1b"); err != nil {
		return err
	}
	pid, epoch, err := txn.ProducerID(ctx)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = pid, epoch, true
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = crashTopic, []int32{0}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	if _, err := req.RequestWith(ctx, adm); err != nil {
		return err
	}
	fmt.Println("ready")
	return nil
}

// startChildCluster starts the embedded cluster on dir, in a crash child,
// and creates topics with partitions each; a topic an earlier child
// created is kept.
func startChildCluster(ctx context.Context, dir string, partitions int32, topics ...string) ([]string, error) {
	c, err := Start(ctx, Config{Dir: dir, Addr: "127.0.0.1:0"}, zap.NewNop())
	if err != nil {
		return nil, err
	}
	brokers := []string{c.Addr()}
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	for _, topic := range topics {
		if err := createTopic(ctx, adm, topic, partitions); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return nil, err
		}
	}
	return brokers, nil
}

func newTxnProducer(brokers []string, id string) (*kgo.Client, error) {
	return kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(id),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(crashTopic))
}

func produce(ctx context.Context, cl *kgo.Client, partition int32, vals ...string) error {
	for _, v := range vals {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: partition, Value: []byte(v)}).FirstErr(); err != nil {
			return fmt.Errorf("producing %s: %w", v, err)
		}
	}
	return nil
}

// inTxn begins a transaction, produces vals to partition and, if commit,
// commits it.
func inTxn(ctx context.Context, cl *kgo.Client, commit bool, partition int32, vals ...string) error {
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	if err := produce(ctx, cl, partition, vals...); err != nil {
		return err
	}
	if !commit {
		return nil
	}
	return cl.EndTransaction(ctx, kgo.TryCommit)
}

// startAfterCrash starts the embedded cluster on dir, as the next
// process after a crash would, within a minute; it is closed when the
// test ends.
func startAfterCrash(t *testing.T, dir string) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, Config{Dir: dir, Addr: "127.0.0.1:0"}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// crash runs the child on dir in mode and SIGKILLs it once it is ready.
func crash(t *testing.T, dir, mode string) { crashAfter(t, dir, mode, nil, 0) }

// crashAfter runs the child on dir in mode with env added and SIGKILLs it
// after it has been ready for after.
func crashAfter(t *testing.T, dir, mode string, env []string, after time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childDirEnv+"="+dir, childModeEnv+"="+mode), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- strings.TrimSpace(line)
	}()
	select {
	case line := <-ready:
		if line != "ready" {
			_ = cmd.Process.Kill()
			t.Fatalf("crash child said %q", line)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("crash child did not get ready in 60s")
	}
	time.Sleep(after)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// readToEnd reads partition p of the crash topic with read_committed from
// its start, the way Surge's state rebuilds and catch-ups do: until a
// record (data or marker) at the last stable offset - 1 arrives. It
// returns the data values read and whether the end was reached within
// wait.
func readToEnd(t *testing.T, brokers []string, p int32, wait time.Duration) ([]string, bool) {
	t.Helper()
	return readTopicToEnd(t, brokers, crashTopic, p, wait)
}

// readTopicToEnd is readToEnd for partition p of topic.
func readTopicToEnd(t *testing.T, brokers []string, topic string, p int32, wait time.Duration) ([]string, bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	end := lastStable(t, cl, topic, p)
	if end == 0 {
		return nil, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var vals []string
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return vals, false
		}
		reached := false
		fetches.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				vals = append(vals, string(r.Value))
			}
			if r.Offset >= end-1 {
				reached = true
			}
		})
		if reached {
			return vals, true
		}
	}
}

func lastStable(t *testing.T, cl *kgo.Client, topic string, p int32) int64 {
	t.Helper()
	ends, err := listStable(context.Background(), cl, topic)
	if err != nil {
		t.Fatal(err)
	}
	return ends[p]
}

// TestKfakeLeavesACrashedTransactionWithoutMarker is the executable record
// of the dependency's behaviour that Recover works around (written up in
// docs/kfake-crash-recovery.md). If it fails, kfake has changed: check
// whether Recover is still needed (it stays harmless: it finds nothing).
func TestKfakeLeavesACrashedTransactionWithoutMarker(t *testing.T) {
	dir := t.TempDir()
	crash(t, dir, "kfake")

	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()

	// 1. The open transaction is counted as aborted (the last stable
	// offset is the end of the log), but no marker ends it: a reader
	// waiting for the last stable offset never gets there.
	// Partition 1 ends with the open transaction's batch.
	pi := c.PartitionInfo(crashTopic, 1)
	if pi.LastStableOffset != pi.HighWatermark {
		t.Fatalf("kfake: LSO %d, HWM %d: the open transaction is no longer counted as aborted", pi.LastStableOffset, pi.HighWatermark)
	}
	vals, reached := readToEnd(t, brokers, 1, 3*time.Second)
	if reached {
		t.Fatalf("kfake now ends a crashed transaction with a marker (read %v to the end): Recover may no longer be needed", vals)
	}
	if want := []string{"o0"}; !slices.Equal(vals, want) {
		t.Fatalf("read_committed before the end: %v, want %v", vals, want)
	}

	// 2. The same transactional id commits a new transaction after the
	// restart: it gets the same producer id, and read_committed readers,
	// still filtering that producer's batches from the aborted
	// transaction's first offset until an abort marker that never comes,
	// drop the committed records too.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	txn, err := newTxnProducer(brokers, producerTxID)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	if err := inTxn(ctx, txn, true, 0, "c0", "c1", "c2"); err != nil {
		t.Fatal(err)
	}
	vals, reached = readToEnd(t, brokers, 0, 5*time.Second)
	if !reached { // partition 0 ends with the new commit marker
		t.Fatal("the new transaction's commit marker was not read")
	}
	if slices.Contains(vals, "c0") {
		t.Fatalf("kfake: read_committed now keeps the committed transaction after a crash (%v): Recover may no longer be needed", vals)
	}
	t.Logf("kfake after a crash: read_committed reads %v; committed c0..c2 are lost", vals)
}

// TestStartAfterACrashClosesOpenTransactions: the same crash through
// Start, which sees the unclean stop and closes the open transaction on
// both partitions it touched — and nothing else.
func TestStartAfterACrashClosesOpenTransactions(t *testing.T) {
	dir := t.TempDir()
	crash(t, dir, "embedded")

	c := startAfterCrash(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	brokers := []string{c.Addr()}

	var got []string
	for _, o := range c.Recovered.Aborted {
		got = append(got, fmt.Sprintf("%s/%d", o.Topic, o.Partition))
	}
	if want := []string{crashTopic + "/0", crashTopic + "/1"}; !slices.Equal(got, want) {
		t.Fatalf("aborted %v (%s), want %v", got, c.Recovered.summary(), want)
	}
	if pid := c.Recovered.Aborted[0].ProducerID; c.Recovered.Aborted[1].ProducerID != pid {
		t.Fatalf("the two open transactions have producers %d and %d, want one", pid, c.Recovered.Aborted[1].ProducerID)
	}
	if len(c.Recovered.Split) != 0 {
		t.Fatalf("split transactions: %v", c.Recovered.Split)
	}

	want := map[int32][]string{0: {"a0", "a1", "a2"}, 1: {"o0"}, 2: {"plain-0"}}
	for p, w := range want {
		vals, reached := readToEnd(t, brokers, p, 10*time.Second)
		if !reached {
			t.Fatalf("partition %d: the end was not reached (read %v)", p, vals)
		}
		if p == 0 {
			w = append(w, "plain-1")
		}
		if !slices.Equal(vals, w) {
			t.Fatalf("partition %d: read %v, want %v", p, vals, w)
		}
	}

	// The same transactional id's next transaction is read in full.
	txn, err := newTxnProducer(brokers, producerTxID)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	if err := inTxn(ctx, txn, true, 0, "c0", "c1", "c2"); err != nil {
		t.Fatal(err)
	}
	vals, reached := readToEnd(t, brokers, 0, 10*time.Second)
	if w := []string{"a0", "a1", "a2", "plain-1", "c0", "c1", "c2"}; !reached || !slices.Equal(vals, w) {
		t.Fatalf("after the next transaction: read %v (end reached: %v), want %v", vals, reached, w)
	}

	// Recover is idempotent: nothing is open any more.
	again, err := Recover(ctx, brokers, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Aborted) != 0 {
		t.Fatalf("a second recovery aborted %s", again.summary())
	}
}

// TestStartCompletesASplitCommit: a crash cut a commit after partition 0's
// marker and before partition 1's. kfake counts partition 1's records as
// aborted; Start writes them again in a transaction of its own, so both
// partitions read the transaction whole, once.
func TestStartCompletesASplitCommit(t *testing.T) {
	dir := t.TempDir()
	crash(t, dir, "split")
	c := startAfterCrash(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if len(c.Recovered.Split) != 1 || c.Recovered.Split[0].Partition != 1 || c.Recovered.Copied != 2 {
		t.Fatalf("split %v, copied %d; want partition 1's transaction, 2 records copied", c.Recovered.Split, c.Recovered.Copied)
	}
	brokers := []string{c.Addr()}
	for p, want := range map[int32][]string{0: {"s0"}, 1: {"before", "s1a", "s1b"}} {
		vals, reached := readToEnd(t, brokers, p, 10*time.Second)
		if !reached || !slices.Equal(vals, want) {
			t.Fatalf("partition %d: read %v (end reached %v), want %v", p, vals, reached, want)
		}
	}
	// The producer's next transaction is read in full.
	txn, err := newTxnProducer(brokers, producerTxID)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	if err := inTxn(ctx, txn, true, 1, "after"); err != nil {
		t.Fatal(err)
	}
	if vals, _ := readToEnd(t, brokers, 1, 10*time.Second); !slices.Equal(vals, []string{"before", "s1a", "s1b", "after"}) {
		t.Fatalf("partition 1 after the next transaction: %v", vals)
	}
}
