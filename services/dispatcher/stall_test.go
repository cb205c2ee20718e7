package dispatcher_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/services/dispatcher"
)

// refuseWrites makes the in-process cluster answer every produce request
// for topic with a retryable error while refuse is set: the producer
// keeps retrying and the write never completes.
func refuseWrites(t *testing.T, h *harness, topic string, refuse *atomic.Bool) {
	t.Helper()
	h.RequireFake(t, "refusing writes to the dead-letter topic")
	listed, err := kadm.NewClient(h.Producer).ListTopics(context.Background(), topic)
	if err != nil || !listed.Has(topic) {
		t.Fatalf("describing %s: %v", topic, err)
	}
	id := listed[topic].ID
	c := h.Fake
	c.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kr.(*kmsg.ProduceRequest)
		hit := false
		for _, rt := range req.Topics {
			hit = hit || rt.Topic == topic || rt.TopicID == id
		}
		if !hit || !refuse.Load() {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		resp.Version = req.GetVersion()
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.NotEnoughReplicas.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}

// TestStallIsNeverSilent is issue 13 for the dispatcher. Deliveries held
// for a paused subscription are parked by design and are no stall, however
// long they wait. A delivery whose dead letter Kafka never acknowledges
// holds its partition's committed offset with nothing legitimately
// waiting: one warning names the stage, topic, partition, offset and
// reason, /readyz answers 503 with it, the gauge counts it; once Kafka
// takes the write the partition moves, a resume is logged and /readyz is
// 200 again.
func TestStallIsNeverSilent(t *testing.T) {
	h := newHarness(t, 1)
	h.cfg.Stall.After = 600 * time.Millisecond
	var refuse atomic.Bool
	dlqTopic := h.Topic(topics.DeliveriesDLQ)
	mainTopic := h.Topic(topics.Deliveries)
	refuseWrites(t, h, dlqTopic, &refuse)

	core, logs := observer.New(zapcore.InfoLevel)
	reg := prometheus.NewRegistry()
	svc, err := dispatcher.New(context.Background(), h.cfg, zap.New(core), dispatcher.Deps{Subscriptions: h.subs, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	observe.Mount(mux, svc.Readiness, reg)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	readyz := func() (int, string) { return kafkatest.MustGet(t, srv.URL+"/readyz") }
	gauge := func() float64 {
		return testutil.ToFloat64(stream.NewMetrics(reg).Stalled.WithLabelValues(dispatcher.StageName, mainTopic))
	}
	const stalled, resumed = "stage partition stalled: records wait to be processed and nothing has moved", "stage partition resumed after a stall"

	h.subscribe("sub_held", func(s *event.Subscription) { s.Paused = true })
	h.subscribe("sub_bad", nil)
	h.recv.setRespond(func(r received, n int) (int, http.Header) {
		if r.sub == "sub_bad" {
			return http.StatusBadRequest, nil
		}
		return http.StatusOK, nil
	})
	const held = 20
	var ds []event.Delivery
	for i := range held {
		ds = append(ds, delivery("sub_held", "order:"+strconv.Itoa(i%4), int64(i/4+1), i))
	}
	h.produce(ds...)
	kafkatest.Start(t, svc)
	kafkatest.WaitFor(t, 30*time.Second, "the held deliveries to be parked", func() bool { return h.committed(topics.Deliveries) >= held })
	time.Sleep(4 * h.cfg.Stall.After)
	if n := logs.FilterMessage(stalled).Len(); n != 0 || svc.Readiness() != nil {
		t.Fatalf("held deliveries reported as a stall: %d warnings, %v", n, svc.Readiness())
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz with held deliveries: %d %q", code, body)
	}

	refuse.Store(true)
	h.produce(delivery("sub_bad", "order:X", 1, 100), delivery("sub_bad", "order:X", 2, 101))
	kafkatest.WaitFor(t, 30*time.Second, "the stall warning", func() bool { return logs.FilterMessage(stalled).Len() > 0 })
	warn := logs.FilterMessage(stalled).All()[0]
	f := warn.ContextMap()
	if warn.Level != zapcore.WarnLevel || f["stage"] != dispatcher.StageName || f["topic"] != mainTopic || f["partition"] != int32(0) ||
		f["offset"] != int64(held) || !strings.Contains(f["reason"].(string), "key sub_bad/order:X is writing a dead letter") {
		t.Errorf("stall warning %s %v", warn.Level, f)
	}
	code, body := readyz()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "dispatcher: "+mainTopic+" partition 0 has records to process at offset 20") ||
		!strings.Contains(body, "writing a dead letter") {
		t.Errorf("/readyz while stalled: %d %q", code, body)
	}
	if gauge() != 1 {
		t.Errorf("stalled partitions gauge %v, want 1", gauge())
	}
	if strings.Contains(body, topics.DeliveriesRetry) {
		t.Errorf("the retry partition, where held deliveries wait by design, is reported stalled: %q", body)
	}

	refuse.Store(false)
	kafkatest.WaitFor(t, 30*time.Second, "the main partition to move", func() bool { return h.committed(topics.Deliveries) >= held+2 })
	kafkatest.WaitFor(t, 10*time.Second, "the resume log", func() bool { return logs.FilterMessage(resumed).Len() == 1 })
	if code, body := readyz(); code != http.StatusOK || gauge() != 0 {
		t.Errorf("after the recovery: /readyz %d %q, gauge %v", code, body, gauge())
	}
	if n := logs.FilterMessage(stalled).Len(); n != 1 {
		t.Errorf("%d stall warnings for one stall", n)
	}
	if got := len(h.recv.all()); got < 2 {
		t.Errorf("%d attempts to sub_bad", got)
	}
}
