package stream_test

import (
	"context"
	"errors"
	"hash/crc32"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// librdkafkaDefault is where librdkafka's default partitioner
// (consistent_random) puts a keyed record: CRC32 of the key.
func librdkafkaDefault(key []byte, n int) int32 {
	return int32(kgo.SaramaHasher(crc32.ChecksumIEEE)(key, n))
}

// misroutedKey is a key librdkafka's default partitioner puts elsewhere
// than murmur2 over n partitions.
func misroutedKey(t *testing.T, n int) string {
	t.Helper()
	for i := range 1000 {
		k := "order:SPLIT-" + strconv.Itoa(i)
		if librdkafkaDefault([]byte(k), n) != kafkax.KeyPartition([]byte(k), n) {
			return k
		}
	}
	t.Fatal("no key found that CRC32 and murmur2 place apart")
	return ""
}

func TestCheckRoute(t *testing.T) {
	key := misroutedKey(t, 6)
	right := kafkax.KeyPartition([]byte(key), 6)
	wrong := librdkafkaDefault([]byte(key), 6)
	if err := stream.CheckRoute(&kgo.Record{Topic: "t", Key: []byte(key), Partition: right}, 6); err != nil {
		t.Fatalf("a record on its key's partition: %v", err)
	}
	if err := stream.CheckRoute(&kgo.Record{Topic: "t", Partition: wrong}, 6); err != nil {
		t.Fatalf("a record without a key is not judged here: %v", err)
	}
	err := stream.CheckRoute(&kgo.Record{Topic: "t", Key: []byte(key), Partition: wrong}, 6)
	perm, ok := stream.AsPermanent(err)
	if !ok || perm.Class != stream.ClassMisrouted {
		t.Fatalf("a CRC32-placed record: %v, want a permanent %s error", err, stream.ClassMisrouted)
	}
	var mis *stream.MisroutedError
	if !errors.As(err, &mis) || mis.Want != right || mis.Partition != wrong || mis.Partitions != 6 {
		t.Fatalf("error %#v, want partition %d (not %d) of 6", mis, right, wrong)
	}
	for _, want := range []string{"belongs on partition " + strconv.Itoa(int(right)), "not on partition " + strconv.Itoa(int(wrong)), "murmur2", "partitioner=murmur2_random"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
}

// TestStageDeadLettersMisroutedRecords: records a producer with a manual
// partitioner put on the wrong partition never reach the handler; they go
// to the dead-letter topic with class misrouted, on the partition they
// came from, counted, while every rightly placed record is handled.
func TestStageDeadLettersMisroutedRecords(t *testing.T) {
	brokers := newCluster(t)
	produceInputs(t, brokers, 30, 10, func(i int) string { return "v-" + strconv.Itoa(i) })

	manual, err := kgo.NewClient(kafkax.ClientOpts(config.Kafka{Brokers: brokers}, nil, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer manual.Close()
	key := misroutedKey(t, parts)
	var misrouted []*kgo.Record
	for i := range 3 {
		misrouted = append(misrouted, &kgo.Record{Topic: inTopic, Key: []byte(key), Value: []byte("misrouted-" + strconv.Itoa(i)),
			Partition: librdkafkaDefault([]byte(key), parts), Headers: []kgo.RecordHeader{{Key: topics.HeaderEventID, Value: []byte("mis" + strconv.Itoa(i))}}})
	}
	if err := manual.ProduceSync(context.Background(), misrouted...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var seen []string
	h := func(ctx context.Context, in *kgo.Record) ([]*kgo.Record, error) {
		mu.Lock()
		seen = append(seen, string(in.Value))
		mu.Unlock()
		return upper(ctx, in)
	}
	reg := prometheus.NewRegistry()
	st := stage(brokers, h)
	st.CheckKeys = true
	st.Metrics = stream.NewMetrics(reg)
	runUntil(t, st, func() bool {
		return len(readCommitted(t, brokers, outTopic)) >= 30 && len(readCommitted(t, brokers, dlqTopic)) >= 3
	})
	mu.Lock()
	for _, v := range seen {
		if strings.HasPrefix(v, "misrouted") {
			t.Errorf("the handler saw %s", v)
		}
	}
	mu.Unlock()
	if outs := readCommitted(t, brokers, outTopic); len(outs) != 30 {
		t.Errorf("%d outputs, want 30", len(outs))
	}
	dlq := readCommitted(t, brokers, dlqTopic)
	if len(dlq) != 3 {
		t.Fatalf("%d dead letters, want 3", len(dlq))
	}
	right := kafkax.KeyPartition([]byte(key), parts)
	for _, r := range dlq {
		if stream.Header(r, topics.HeaderDLQErrorClass) != stream.ClassMisrouted {
			t.Errorf("class %q, want %q", stream.Header(r, topics.HeaderDLQErrorClass), stream.ClassMisrouted)
		}
		if msg := stream.Header(r, topics.HeaderDLQError); !strings.Contains(msg, "belongs on partition "+strconv.Itoa(int(right))) || !strings.Contains(msg, "murmur2_random") {
			t.Errorf("error %q does not name partition %d and the partitioner", msg, right)
		}
		if r.Partition != misrouted[0].Partition || string(r.Key) != key || !strings.HasPrefix(string(r.Value), "misrouted-") {
			t.Errorf("dead letter %s on partition %d, want the original on %d", r.Value, r.Partition, misrouted[0].Partition)
		}
	}
	if got := testutil.ToFloat64(st.Metrics.Misrouted.WithLabelValues("test", inTopic)); got != 3 {
		t.Errorf("%s = %v, want 3", stream.MetricMisrouted, got)
	}
	if got := testutil.ToFloat64(st.Metrics.DeadLettered.WithLabelValues("test", stream.ClassMisrouted)); got != 3 {
		t.Errorf("dead-lettered{class=misrouted} = %v, want 3", got)
	}
}

// TestRoutesForgetsACountThePartitionsOutgrew: a record of a partition the
// known count does not have is a transient error; the count is read again
// by the next Partitions.
func TestRoutesForgetsACountThePartitionsOutgrew(t *testing.T) {
	brokers := newCluster(t)
	cl, err := kgo.NewClient(kafkax.ClientOpts(config.Kafka{Brokers: brokers}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	r := &stream.Routes{Topic: inTopic}
	if err := r.Check(&kgo.Record{Topic: inTopic, Key: []byte("k"), Partition: 0}); !errors.Is(err, stream.ErrPartitionsChanged) {
		t.Fatalf("before the count is known: %v, want ErrPartitionsChanged", err)
	}
	n, err := r.Partitions(context.Background(), kadm.NewClient(cl))
	if err != nil || n != parts {
		t.Fatalf("Partitions = %d, %v; want %d", n, err, parts)
	}
	k := []byte("k")
	if err := r.Check(&kgo.Record{Topic: inTopic, Key: k, Partition: kafkax.KeyPartition(k, parts)}); err != nil {
		t.Fatal(err)
	}
	if err := r.Check(&kgo.Record{Topic: inTopic, Key: k, Partition: parts + 2}); !errors.Is(err, stream.ErrPartitionsChanged) {
		t.Fatalf("partition beyond the count: %v, want ErrPartitionsChanged", err)
	}
	// A rebalance only marks the count stale: records are still checked
	// until the next batch reads it again.
	r.Forget()
	if err := r.Check(&kgo.Record{Topic: inTopic, Key: k, Partition: kafkax.KeyPartition(k, parts)}); err != nil {
		t.Fatalf("after Forget: %v", err)
	}
	if n, err := r.Partitions(context.Background(), kadm.NewClient(cl)); err != nil || n != parts {
		t.Fatalf("Partitions read again = %d, %v", n, err)
	}
}
