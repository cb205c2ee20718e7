package dispatcher_test

import (
	"context"
	"hash/crc32"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/services/dispatcher"
)

// TestMisroutedDeliveryIsDeadLettered: a delivery a producer with a manual
// partitioner put on another partition than its key
// ("<subscription id>/<entity key>") hashes to is never sent: it goes to
// commerce.deliveries.dlq as it was, class misrouted, on the partition it
// came from, counted, while the key's other deliveries arrive in order.
func TestMisroutedDeliveryIsDeadLettered(t *testing.T) {
	const parts = 3
	h := newHarness(t, parts)
	h.subscribe("sub_a", nil)
	var entity string
	for i := 1; ; i++ {
		entity = "order:SPLIT-" + strconv.Itoa(i)
		k := []byte(event.DeliveryKey("sub_a", entity))
		if int32(kgo.SaramaHasher(crc32.ChecksumIEEE)(k, parts)) != kafkax.KeyPartition(k, parts) {
			break
		}
	}
	key := []byte(event.DeliveryKey("sub_a", entity))
	right := kafkax.KeyPartition(key, parts)
	wrong := int32(kgo.SaramaHasher(crc32.ChecksumIEEE)(key, parts))

	h.produce(delivery("sub_a", entity, 1, 1), delivery("sub_a", entity, 2, 2))
	manual, err := kgo.NewClient(kafkax.ClientOpts(config.Kafka{Brokers: h.Brokers}, nil, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer manual.Close()
	v, err := h.codec.Encode(delivery("sub_a", entity, 3, 3))
	if err != nil {
		t.Fatal(err)
	}
	mis := &kgo.Record{Topic: h.Topic(topics.Deliveries), Key: key, Value: v, Partition: wrong}
	if err := manual.ProduceSync(context.Background(), mis).FirstErr(); err != nil {
		t.Fatal(err)
	}
	h.produce(delivery("sub_a", entity, 3, 4))

	reg := prometheus.NewRegistry()
	svc, err := dispatcher.New(context.Background(), h.cfg, h.logger(), dispatcher.Deps{Subscriptions: h.subs, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.Start(t, svc)

	dlqTopic := h.Topic(topics.DeliveriesDLQ)
	kafkatest.WaitFor(t, 30*time.Second, "3 deliveries and 1 dead letter", func() bool {
		return len(h.recv.delivered()) >= 3 && len(h.ReadCommitted(t, dlqTopic)) >= 1
	})
	var seqs []int
	for _, g := range h.recv.all() {
		seqs = append(seqs, g.seq)
	}
	if len(seqs) != 3 || seqs[0] != 1 || seqs[1] != 2 || seqs[2] != 4 {
		t.Fatalf("the endpoint got deliveries %v, want 1, 2, 4 (the misrouted 3 never sent)", seqs)
	}
	if bad := h.recv.badSignatures(); len(bad) > 0 {
		t.Fatalf("bad signatures: %v", bad)
	}
	dl := h.ReadCommitted(t, dlqTopic)
	if len(dl) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dl))
	}
	r := dl[0]
	if stream.Header(r, topics.HeaderDLQErrorClass) != stream.ClassMisrouted || r.Partition != wrong || string(r.Value) != string(v) || string(r.Key) != string(key) {
		t.Fatalf("dead letter class %q on partition %d (want %s on %d, the original bytes)", stream.Header(r, topics.HeaderDLQErrorClass), r.Partition, stream.ClassMisrouted, wrong)
	}
	if msg := stream.Header(r, topics.HeaderDLQError); !strings.Contains(msg, "belongs on partition "+strconv.Itoa(int(right))) || !strings.Contains(msg, "murmur2") {
		t.Errorf("the error does not name partition %d and the partitioner: %s", right, msg)
	}
	m := stream.NewMetrics(reg)
	if n := testutil.ToFloat64(m.Misrouted.WithLabelValues(dispatcher.StageName, h.Topic(topics.Deliveries))); n != 1 {
		t.Errorf("%s = %v, want 1", stream.MetricMisrouted, n)
	}
	if n := testutil.ToFloat64(m.DeadLettered.WithLabelValues(dispatcher.StageName, stream.ClassMisrouted)); n != 1 {
		t.Errorf("dead-lettered{class=misrouted} = %v, want 1", n)
	}
}
