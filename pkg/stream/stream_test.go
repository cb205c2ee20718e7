package stream_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

const parts = 3

// The topic names, group and transactional id of the running test: plain
// on kfake, prefixed per test on a real broker (KAFKA_BROKERS) so tests
// never see each other's records or fence each other's producers. Tests in
// this package do not run in parallel.
var inTopic, outTopic, dlqTopic, prefix string

func newCluster(t *testing.T) []string {
	t.Helper()
	c := kafkatest.New(t)
	prefix = c.Prefix
	inTopic, outTopic, dlqTopic = c.Topic("in"), c.Topic("out"), c.Topic("in.dlq")
	c.CreateTopics(t, parts, inTopic, outTopic, dlqTopic)
	return c.Brokers
}

// produceInputs writes n inputs: value(i), keyed k<i%keys>, with the
// event id ev<i> and the correlation id corr<i>.
func produceInputs(t *testing.T, brokers []string, n, keys int, value func(i int) string) {
	t.Helper()
	cl, err := kgo.NewClient(kafkax.ClientOpts(config.Kafka{Brokers: brokers}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rs := make([]*kgo.Record, 0, n)
	for i := 0; i < n; i++ {
		rs = append(rs, &kgo.Record{
			Topic: inTopic,
			Key:   []byte("k" + strconv.Itoa(i%keys)),
			Value: []byte(value(i)),
			Headers: []kgo.RecordHeader{
				{Key: topics.HeaderEventID, Value: []byte("ev" + strconv.Itoa(i))},
				{Key: topics.HeaderCorrelationID, Value: []byte("corr" + strconv.Itoa(i))},
			},
		})
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// readCommitted reads topic's committed records up to its last stable
// offset.
func readCommitted(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	return (&kafkatest.Cluster{Brokers: brokers}).ReadCommitted(t, topic)
}

func upper(ctx context.Context, in *kgo.Record) ([]*kgo.Record, error) {
	v := string(in.Value)
	if strings.HasPrefix(v, "poison") {
		return nil, stream.Permanent(stream.ClassInvalid, fmt.Errorf("value %q is poison", v))
	}
	if strings.HasPrefix(v, "drop") {
		return nil, nil
	}
	return []*kgo.Record{{Topic: outTopic, Key: in.Key, Value: []byte(strings.ToUpper(v)), Headers: stream.CarryHeaders(in)}}, nil
}

func stage(brokers []string, h stream.Handler) *stream.Stage {
	return &stream.Stage{
		Name:            "test",
		Input:           inTopic,
		Group:           prefix + "g",
		TransactionalID: prefix + "test-txn",
		DLQ:             dlqTopic,
		Handle:          h,
		MaxPollRecords:  200,
		RetryBackoff:    20 * time.Millisecond,
		ClientOpts:      kafkax.ClientOpts(config.Kafka{Brokers: brokers}, nil),
	}
}

// runUntil runs st until cond holds on the committed output, then stops it.
func runUntil(t *testing.T, st *stream.Stage, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("stage did not reach the expected state in 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestStageTransformsDeadLettersAndFilters(t *testing.T) {
	brokers := newCluster(t)
	const n = 1000
	produceInputs(t, brokers, n, 20, func(i int) string {
		switch {
		case i%100 == 7:
			return "poison-" + strconv.Itoa(i)
		case i%100 == 8:
			return "drop-" + strconv.Itoa(i)
		}
		return "v-" + strconv.Itoa(i)
	})
	var outs, dlq []*kgo.Record
	runUntil(t, stage(brokers, upper), func() bool {
		outs = readCommitted(t, brokers, outTopic)
		return len(outs) >= n-20
	})
	outs = readCommitted(t, brokers, outTopic)
	dlq = readCommitted(t, brokers, dlqTopic)
	if len(outs) != n-20 {
		t.Fatalf("outputs = %d, want %d", len(outs), n-20)
	}
	if len(dlq) != 10 {
		t.Fatalf("dead-lettered = %d, want 10", len(dlq))
	}
	for _, r := range dlq {
		if !strings.HasPrefix(string(r.Value), "poison-") {
			t.Errorf("DLQ value %q, want the original poison value", r.Value)
		}
		if got := stream.Header(r, topics.HeaderDLQErrorClass); got != stream.ClassInvalid {
			t.Errorf("error class header = %q", got)
		}
		if got := stream.Header(r, topics.HeaderDLQTopic); got != inTopic {
			t.Errorf("source topic header = %q", got)
		}
		srcPart, _ := strconv.Atoi(stream.Header(r, topics.HeaderDLQPartition))
		if int32(srcPart) != r.Partition {
			t.Errorf("DLQ record on partition %d, source partition %d", r.Partition, srcPart)
		}
		if stream.Header(r, topics.HeaderEventID) == "" || stream.Header(r, topics.HeaderDLQError) == "" {
			t.Errorf("DLQ record lost its headers: %v", r.Headers)
		}
	}
	assertOrderedOnce(t, outs, n, func(i int) bool { return i%100 != 7 && i%100 != 8 })
}

// assertOrderedOnce checks every expected input appears exactly once in
// outs, and per key in input order.
func assertOrderedOnce(t *testing.T, outs []*kgo.Record, n int, expected func(int) bool) {
	t.Helper()
	seen := map[int]int{}
	last := map[string]int{}
	for _, r := range outs {
		i, err := strconv.Atoi(strings.TrimPrefix(string(r.Value), "V-"))
		if err != nil {
			t.Fatalf("unexpected output %q", r.Value)
		}
		seen[i]++
		if prev, ok := last[string(r.Key)]; ok && prev > i {
			t.Fatalf("key %s: %d after %d", r.Key, i, prev)
		}
		last[string(r.Key)] = i
	}
	for i := 0; i < n; i++ {
		want := 0
		if expected(i) {
			want = 1
		}
		if seen[i] != want {
			t.Fatalf("input %d seen %d times, want %d", i, seen[i], want)
		}
	}
}

func TestStageRetriesTransientErrors(t *testing.T) {
	brokers := newCluster(t)
	const n = 300
	produceInputs(t, brokers, n, 10, func(i int) string { return "v-" + strconv.Itoa(i) })
	var failures atomic.Int32
	flaky := func(ctx context.Context, in *kgo.Record) ([]*kgo.Record, error) {
		if string(in.Value) == "v-150" && failures.Add(1) <= 3 {
			return nil, errors.New("loader timed out")
		}
		return upper(ctx, in)
	}
	runUntil(t, stage(brokers, flaky), func() bool { return len(readCommitted(t, brokers, outTopic)) >= n })
	if failures.Load() < 4 {
		t.Fatalf("the failing record was tried %d times, want 4", failures.Load())
	}
	assertOrderedOnce(t, readCommitted(t, brokers, outTopic), n, func(int) bool { return true })
}

// TestStageExactlyOnceAcrossCrash stops the stage in the middle of a batch
// (its context is cancelled while records are being handled, so that batch
// never commits), restarts it with the same transactional id, and checks
// that read_committed readers see every input exactly once, in key order.
func TestStageExactlyOnceAcrossCrash(t *testing.T) {
	brokers := newCluster(t)
	const n = 5000
	produceInputs(t, brokers, n, 50, func(i int) string { return "v-" + strconv.Itoa(i) })

	var handled atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	crashing := func(hctx context.Context, in *kgo.Record) ([]*kgo.Record, error) {
		if handled.Add(1) == 2345 {
			once.Do(cancel) // the process "dies" mid-batch
		}
		return upper(hctx, in)
	}
	if err := stage(brokers, crashing).Run(ctx); err != nil {
		t.Fatal(err)
	}
	partial := len(readCommitted(t, brokers, outTopic))
	if partial == 0 || partial >= n {
		t.Fatalf("after the crash %d outputs are committed; want some but not all", partial)
	}
	runUntil(t, stage(brokers, upper), func() bool { return len(readCommitted(t, brokers, outTopic)) >= n })
	assertOrderedOnce(t, readCommitted(t, brokers, outTopic), n, func(int) bool { return true })
}

// TestStageDeferHoldsOnePartitionOnly defers one record (as a handler
// waiting for a slow loader does) and checks that the other partitions
// commit meanwhile, that the deferred partition commits nothing from that
// record on, and that once the record can be handled every input comes
// out exactly once and in key order.
func TestStageDeferHoldsOnePartitionOnly(t *testing.T) {
	brokers := newCluster(t)
	const n = 600
	produceInputs(t, brokers, n, 30, func(i int) string { return "v-" + strconv.Itoa(i) })
	slow := "v-100"
	var slowPart atomic.Int32
	slowPart.Store(-1)
	var release atomic.Bool
	var deferrals atomic.Int32
	h := func(ctx context.Context, in *kgo.Record) ([]*kgo.Record, error) {
		if string(in.Value) == slow && !release.Load() {
			slowPart.Store(in.Partition)
			deferrals.Add(1)
			return nil, fmt.Errorf("waiting for the loader: %w", stream.ErrDefer)
		}
		return upper(ctx, in)
	}
	var batchEnds atomic.Int32
	st := stage(brokers, h)
	st.DeferBackoff = 10 * time.Millisecond
	st.State = stream.BatchEndFunc(func(bool) { batchEnds.Add(1) })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()

	// While v-100 is deferred, every other partition drains completely.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("other partitions did not drain while one record was deferred")
		}
		time.Sleep(100 * time.Millisecond)
		p := slowPart.Load()
		if p < 0 {
			continue
		}
		outs := readCommitted(t, brokers, outTopic)
		var others, fromSlow int
		for _, r := range outs {
			if r.Partition == p {
				fromSlow++
			} else {
				others++
			}
		}
		total := countByPartition(t, brokers, inTopic)
		if others == n-total[p] {
			// The slow partition stopped right before v-100: inputs are
			// produced in order, so none of its outputs is from v-100 on.
			// (Outputs are keyed like their inputs, so they share the
			// partition number.)
			for _, r := range outs {
				i, _ := strconv.Atoi(strings.TrimPrefix(string(r.Value), "V-"))
				if r.Partition == p && i >= 100 {
					t.Fatalf("output %s of the deferred partition was committed past the deferred record", r.Value)
				}
			}
			if fromSlow == 0 {
				t.Log("the deferred record was the first of its partition")
			}
			break
		}
	}
	if deferrals.Load() < 2 {
		t.Fatalf("the record was deferred %d times; want it asked again in later batches", deferrals.Load())
	}
	release.Store(true)
	for len(readCommitted(t, brokers, outTopic)) < n {
		if time.Now().After(deadline) {
			t.Fatal("the deferred partition did not resume")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	assertOrderedOnce(t, readCommitted(t, brokers, outTopic), n, func(int) bool { return true })
	if batchEnds.Load() == 0 {
		t.Error("BatchEnded was never called")
	}
}

// countByPartition counts the committed records of topic per partition.
func countByPartition(t *testing.T, brokers []string, topic string) map[int32]int {
	t.Helper()
	out := map[int32]int{}
	for _, r := range readCommitted(t, brokers, topic) {
		out[r.Partition]++
	}
	return out
}

// owner is a stage instance's PartitionState in
// TestStagePartitionStateReportsOwnershipAndOutcome: the partitions it was
// told it owns and the outcomes of its batches.
type owner struct {
	mu      sync.Mutex
	owned   map[int32]bool
	commits int
	aborts  int
}

func (o *owner) Assigned(ps []int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range ps {
		o.owned[p] = true
	}
}

func (o *owner) Revoked(ps []int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range ps {
		delete(o.owned, p)
	}
}

func (o *owner) BatchEnded(committed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if committed {
		o.commits++
	} else {
		o.aborts++
	}
}

// TestStagePartitionStateReportsOwnershipAndOutcome runs two instances of a
// stage in one group: each one's Assigned/Revoked calls must add up to the
// partitions it owns, the two must own every partition between them, and
// BatchEnded must report an aborted batch as not committed.
func TestStagePartitionStateReportsOwnershipAndOutcome(t *testing.T) {
	brokers := newCluster(t)
	const n = 300
	produceInputs(t, brokers, n, 10, func(i int) string { return "v-" + strconv.Itoa(i) })

	newInstance := func(id string, o *owner, h stream.Handler) *stream.Stage {
		o.owned = map[int32]bool{}
		st := stage(brokers, h)
		st.TransactionalID = prefix + id
		st.State = o
		return st
	}
	var failures atomic.Int32
	flaky := func(ctx context.Context, in *kgo.Record) ([]*kgo.Record, error) {
		if string(in.Value) == "v-10" && failures.Add(1) == 1 {
			return nil, errors.New("registry unreachable")
		}
		return upper(ctx, in)
	}
	var a, b owner
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	doneA := make(chan error, 1)
	stA := newInstance("txn-a", &a, flaky)
	go func() { doneA <- stA.Run(ctx) }()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		kafkatest.WaitFor(t, 30*time.Second, what, cond)
	}
	owned := func(o *owner) map[int32]bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		m := map[int32]bool{}
		for p := range o.owned {
			m[p] = true
		}
		return m
	}
	waitFor("instance a to own every partition", func() bool { return len(owned(&a)) == parts })
	waitFor("all outputs", func() bool { return len(readCommitted(t, brokers, outTopic)) >= n })
	a.mu.Lock()
	if a.aborts == 0 || a.commits == 0 {
		t.Errorf("BatchEnded saw %d commits and %d aborts; want both", a.commits, a.aborts)
	}
	a.mu.Unlock()

	ctxB, cancelB := context.WithCancel(ctx)
	doneB := make(chan error, 1)
	stB := newInstance("txn-b", &b, upper)
	go func() { doneB <- stB.Run(ctxB) }()
	waitFor("the partitions to be shared", func() bool {
		oa, ob := owned(&a), owned(&b)
		if len(oa) == 0 || len(ob) == 0 || len(oa)+len(ob) != parts {
			return false
		}
		for p := range oa {
			if ob[p] {
				return false
			}
		}
		return true
	})
	cancelB()
	if err := <-doneB; err != nil {
		t.Fatal(err)
	}
	waitFor("instance a to take every partition back", func() bool { return len(owned(&a)) == parts })
	cancel()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	assertOrderedOnce(t, readCommitted(t, brokers, outTopic), n, func(int) bool { return true })
}

func TestDeadLetterCarriesAttemptsAndExtraHeaders(t *testing.T) {
	brokers := newCluster(t)
	produceInputs(t, brokers, 20, 5, func(i int) string { return "v-" + strconv.Itoa(i) })
	h := func(ctx context.Context, in *kgo.Record) ([]*kgo.Record, error) {
		if string(in.Value) == "v-3" {
			return nil, &stream.PermanentError{
				Class:    stream.ClassLoader,
				Err:      errors.New("loader answered 503 three times"),
				Attempts: 3,
				Headers:  []kgo.RecordHeader{{Key: topics.HeaderDLQHTTPStatus, Value: []byte("503")}},
			}
		}
		return upper(ctx, in)
	}
	runUntil(t, stage(brokers, h), func() bool { return len(readCommitted(t, brokers, outTopic)) >= 19 })
	dlq := readCommitted(t, brokers, dlqTopic)
	if len(dlq) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dlq))
	}
	for key, want := range map[string]string{
		topics.HeaderDLQAttempts:   "3",
		topics.HeaderDLQHTTPStatus: "503",
		topics.HeaderDLQErrorClass: stream.ClassLoader,
		topics.HeaderEventID:       "ev3",
	} {
		if got := stream.Header(dlq[0], key); got != want {
			t.Errorf("header %s = %q, want %q", key, got, want)
		}
	}
}

func TestNewMetricsSharesARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := stream.NewMetrics(reg)
	b := stream.NewMetrics(reg)
	a.In.WithLabelValues("enrich").Add(2)
	b.In.WithLabelValues("fanout").Add(3)
	if a.In != b.In {
		t.Fatal("the second NewMetrics did not reuse the registered counter")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == stream.MetricRecordsIn && len(mf.GetMetric()) != 2 {
			t.Errorf("%s has %d series, want 2", stream.MetricRecordsIn, len(mf.GetMetric()))
		}
	}
}
