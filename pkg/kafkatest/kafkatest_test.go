package kafkatest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// TestStageProducesWhatFollowAndReadCommittedSee: a Stage's producer
// writes to a topic it created; a Tail started before and ReadCommitted
// after both see every record, with its headers.
func TestStageProducesWhatFollowAndReadCommittedSee(t *testing.T) {
	st := kafkatest.NewStage(t, kafkatest.StageOptions{Partitions: 2, DedupWindow: time.Hour})
	tail := st.Follow(topics.EventsRaw)
	ids := []string{"a", "b", "c"}
	kafkatest.ProduceEach(st, ids, func(id string) *kgo.Record {
		return &kgo.Record{Topic: st.Topic(topics.EventsRaw), Key: []byte(id), Value: []byte("v-" + id),
			Headers: []kgo.RecordHeader{{Key: topics.HeaderEventID, Value: []byte(id)}}}
	})
	kafkatest.WaitFor(t, 30*time.Second, "the tail to see every record", func() bool { return tail.Len() == len(ids) })
	got := map[string]bool{}
	for _, r := range st.ReadCommitted(t, st.Topic(topics.EventsRaw)) {
		got[stream.Header(r, topics.HeaderEventID)] = true
	}
	if len(got) != len(ids) {
		t.Fatalf("read back %v, want %v", got, ids)
	}
	if st.Kafka.TopicPrefix != st.Prefix || st.Kafka.Partitions != 2 || st.Kafka.ReplicationFactor != 1 {
		t.Fatalf("Kafka settings %+v", st.Kafka)
	}
}

func TestCounterValueFindsTheLabelledSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "things_total"}, []string{"kind"})
	reg.MustRegister(c)
	c.WithLabelValues("a").Add(3)
	c.WithLabelValues("b").Add(5)
	if got := kafkatest.CounterValue(t, reg, "things_total", "kind", "b"); got != 5 {
		t.Fatalf("kind=b: %g, want 5", got)
	}
	if got := kafkatest.CounterValue(t, reg, "things_total", "kind", "z"); got != 0 {
		t.Fatalf("kind=z: %g, want 0", got)
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and
// stops the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

func TestWaitForFailsNamingWhatItWaitedFor(t *testing.T) {
	kafkatest.WaitFor(t, time.Second, "something true", func() bool { return true })

	rec := &fatalRecorder{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != rec {
				panic(r)
			}
		}()
		kafkatest.WaitFor(rec, 50*time.Millisecond, "the impossible", func() bool { return false })
	}()
	if !strings.Contains(rec.msg, "waiting for the impossible") {
		t.Fatalf("WaitFor failed with %q", rec.msg)
	}
}
