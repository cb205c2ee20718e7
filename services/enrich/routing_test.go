package enrich_test

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
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/services/enrich"
)

// TestMisroutedEventDoesNotForkTheEntity is issue 19's order:SPLIT-1: an
// event for an entity that a producer with librdkafka's default
// partitioner (CRC32; here a manual partitioner doing the same) put on
// another partition than the entity's other events. Enrich dead-letters it
// as misrouted instead of enriching it as a second "version 1", keeps no
// state for the entity on the wrong partition, and the entity goes on:
// versions 1 and 2.
func TestMisroutedEventDoesNotForkTheEntity(t *testing.T) {
	const parts = 3
	h := newHarness(t, parts)
	out := h.Follow(topics.EventsEnriched)
	dlq := h.Follow(topics.EventsDLQ)
	entities := h.Follow(topics.Entities)
	reg := prometheus.NewRegistry()
	h.start("a", enrich.Deps{Metrics: reg})

	var id string
	for i := 1; ; i++ {
		id = "SPLIT-" + strconv.Itoa(i)
		k := []byte("order:" + id)
		if int32(kgo.SaramaHasher(crc32.ChecksumIEEE)(k, parts)) != kafkax.KeyPartition(k, parts) {
			break
		}
	}
	key := "order:" + id
	right := kafkax.KeyPartition([]byte(key), parts)
	wrong := int32(kgo.SaramaHasher(crc32.ChecksumIEEE)([]byte(key), parts))

	manual, err := kgo.NewClient(kafkax.ClientOpts(config.Kafka{Brokers: h.Brokers}, nil, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer manual.Close()
	h.produceEvents(rawEvent("ev-1", "order.placed", key, `{"status":"pending","total":10}`))
	mis := h.record(rawEvent("ev-misrouted", "order.updated", key, `{"status":"processing"}`))
	mis.Partition = wrong
	if err := manual.ProduceSync(context.Background(), mis).FirstErr(); err != nil {
		t.Fatal(err)
	}
	h.produceEvents(rawEvent("ev-2", "order.updated", key, `{"status":"shipped"}`))

	kafkatest.WaitFor(t, 30*time.Second, "2 enriched and 1 dead-lettered", func() bool { return out.Len() >= 2 && dlq.Len() >= 1 })
	got := ofKey(h.decode(out.Records()), key)
	if len(got) != 2 {
		t.Fatalf("%d enriched events of %s, want 2 (the misrouted one must not be enriched)", len(got), key)
	}
	for i, e := range got {
		if want := []string{"ev-1", "ev-2"}[i]; e.Value.ID != want || e.Value.EntityVersion != int64(i+1) || e.Record.Partition != right {
			t.Errorf("enriched #%d: %s version %d on partition %d, want %s version %d on %d", i, e.Value.ID, e.Value.EntityVersion, e.Record.Partition, want, i+1, right)
		}
	}
	if d := jsonOf(t, got[1].Value.Data); d["status"] != "shipped" || d["total"] != float64(10) {
		t.Errorf("version 2 data %v: not merged onto version 1", d)
	}
	dead := dlq.Records()
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	r := dead[0]
	if stream.Header(r, topics.HeaderEventID) != "ev-misrouted" || stream.Header(r, topics.HeaderDLQErrorClass) != stream.ClassMisrouted || r.Partition != wrong {
		t.Errorf("dead letter %s class %s on partition %d, want ev-misrouted, misrouted, %d", stream.Header(r, topics.HeaderEventID), stream.Header(r, topics.HeaderDLQErrorClass), r.Partition, wrong)
	}
	if msg := stream.Header(r, topics.HeaderDLQError); !strings.Contains(msg, "belongs on partition "+strconv.Itoa(int(right))) || !strings.Contains(msg, "partitioner=murmur2_random") {
		t.Errorf("the error does not name partition %d and the partitioner: %s", right, msg)
	}
	for _, s := range entities.Records() {
		if string(s.Key) == key && s.Partition != right {
			t.Errorf("a snapshot of %s on partition %d: the entity forked", key, s.Partition)
		}
	}
	m := stream.NewMetrics(reg)
	if n := testutil.ToFloat64(m.Misrouted.WithLabelValues(enrich.StageName, h.Topic(topics.EventsRaw))); n != 1 {
		t.Errorf("%s = %v, want 1", stream.MetricMisrouted, n)
	}
}
