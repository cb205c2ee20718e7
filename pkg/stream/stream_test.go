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

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

const (
	inTopic  = "in"
	outTopic = "out"
	dlqTopic = "in.dlq"
	parts    = 3
)

func newCluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(parts, inTopic, outTopic, dlqTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

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
			Topic:   inTopic,
			Key:     []byte("k" + strconv.Itoa(i%keys)),
			Value:   []byte(value(i)),
			Headers: []kgo.RecordHeader{{Key: topics.HeaderEventID, Value: []byte("ev" + strconv.Itoa(i))}},
		})
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// readCommitted reads topic to its end offsets with read_committed.
func readCommitted(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Read until a poll stays empty for half a second.
	var out []*kgo.Record
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		f := cl.PollFetches(ctx)
		cancel()
		if f.NumRecords() == 0 {
			return out
		}
		out = append(out, f.Records()...)
	}
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
		Group:           "g",
		TransactionalID: "test-txn",
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
