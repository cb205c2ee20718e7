package enrich_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/registry/registrytest"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/services/enrich"
)

// harness is enrich against an in-process Kafka (kfake) and Surge's own
// schema registry, with a producer for raw events and tailing readers.
type harness struct {
	t           testing.TB
	cluster     *kafkatest.Cluster
	prefix      string // topic prefix of this test (real broker only)
	brokers     []string
	registryURL string
	cfg         enrich.Config
	producer    *kgo.Client
	events      *avroserde.Codec[event.Event]
	enriched    *avroserde.Codec[event.EnrichedEvent]
}

func newHarness(t testing.TB, partitions int32) *harness {
	t.Helper()
	cluster := kafkatest.New(t)
	h := &harness{t: t, cluster: cluster, prefix: cluster.Prefix, brokers: cluster.Brokers}
	var err error

	h.registryURL = registrytest.Start(t, h.brokers, cluster.Topic("_schemas"))

	h.cfg = enrich.Config{
		Kafka:             config.Kafka{Brokers: h.brokers, TopicPrefix: cluster.Prefix, Partitions: partitions, ReplicationFactor: 1},
		Registry:          config.Registry{URL: h.registryURL},
		Log:               config.Log{Level: "info"},
		Stall:             config.Stall{After: config.DefaultStallAfter},
		InstanceID:        "test-1",
		MaxPollRecords:    10000,
		LoaderAttempts:    3,
		LoaderWait:        100 * time.Millisecond,
		LoaderConcurrency: 16,
		RestoreWait:       5 * time.Second,
	}

	h.producer, err = kgo.NewClient(kafkax.ClientOpts(config.Kafka{Brokers: h.brokers}, nil, kgo.ProducerLinger(0))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.producer.Close)
	if err := kafkax.EnsureTopics(context.Background(), kadm.NewClient(h.producer), h.cfg.Kafka, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	srCl, err := sr.NewClient(sr.URLs(h.registryURL))
	if err != nil {
		t.Fatal(err)
	}
	areg := avroserde.NewRegistry(srCl)
	h.events = avroserde.NewEventCodec(areg, h.topic(topics.EventsRaw))
	h.enriched = avroserde.NewEnrichedEventCodec(areg, h.topic(topics.EventsEnriched))
	if err := h.events.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.enriched.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h
}

// instance is one running enrich service.
type instance struct {
	stop func() // stops it; also run at the test's end
}

// start runs an enrich instance until stop (or the test's end).
func (h *harness) start(id string, deps enrich.Deps) *instance {
	h.t.Helper()
	cfg := h.cfg
	cfg.InstanceID = id
	log := zap.NewNop()
	if tt, ok := h.t.(*testing.T); ok {
		log = zaptest.NewLogger(tt, zaptest.Level(zap.WarnLevel))
	}
	svc, err := enrich.New(context.Background(), cfg, log, deps)
	if err != nil {
		h.t.Fatal(err)
	}
	return &instance{stop: kafkatest.Start(h.t, svc)}
}

// runUntilCancelled runs an instance whose context the caller controls.
func (h *harness) runWith(ctx context.Context, id string, deps enrich.Deps) error {
	h.t.Helper()
	cfg := h.cfg
	cfg.InstanceID = id
	svc, err := enrich.New(context.Background(), cfg, zap.NewNop(), deps)
	if err != nil {
		h.t.Fatal(err)
	}
	defer svc.Close()
	return svc.Run(ctx)
}

// rawEvent builds a canonical raw event as ingest writes it.
func rawEvent(id, typ, entity, data string) event.Event {
	kind, eid, _ := strings.Cut(entity, ":")
	now := time.Now().UTC().Truncate(time.Millisecond)
	e := event.Event{
		ID: id, Type: typ, Source: "default", Time: now, ReceivedAt: now,
		Entity:        event.EntityRef{Type: kind, ID: eid},
		CorrelationID: "corr-" + id, Format: event.FormatCanonical,
	}
	if data != "" {
		e.Data = json.RawMessage(data)
	}
	return e
}

// record encodes e as ingest would, headers included.
func (h *harness) record(e event.Event) *kgo.Record {
	h.t.Helper()
	v, err := h.events.Encode(e)
	if err != nil {
		h.t.Fatal(err)
	}
	return &kgo.Record{
		Topic: h.topic(topics.EventsRaw),
		Key:   []byte(e.Entity.Key()),
		Value: v,
		Headers: []kgo.RecordHeader{
			{Key: topics.HeaderEventID, Value: []byte(e.ID)},
			{Key: topics.HeaderCorrelationID, Value: []byte(e.CorrelationID)},
			{Key: topics.HeaderEventType, Value: []byte(e.Type)},
			{Key: topics.HeaderSource, Value: []byte(e.Source)},
		},
	}
}

func (h *harness) produce(rs ...*kgo.Record) {
	h.t.Helper()
	for len(rs) > 0 {
		n := min(len(rs), 5000)
		if err := h.producer.ProduceSync(context.Background(), rs[:n]...).FirstErr(); err != nil {
			h.t.Fatal(err)
		}
		rs = rs[n:]
	}
}

func (h *harness) produceEvents(es ...event.Event) {
	h.t.Helper()
	rs := make([]*kgo.Record, len(es))
	for i, e := range es {
		rs[i] = h.record(e)
	}
	h.produce(rs...)
}

// tail reads a topic with read_committed from its start for as long as the
// test runs.

// topic is the full name of a base topic name in this test.
func (h *harness) topic(base string) string { return h.prefix + base }

// tail follows the topic with base name base (read_committed, from
// its start).
func (h *harness) tail(base string) *kafkatest.Tail {
	return h.cluster.Tail(h.t, h.topic(base))
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// enrichedRec is a decoded record of commerce.events.enriched.
type enrichedRec struct {
	rec *kgo.Record
	ev  event.EnrichedEvent
}

func (h *harness) decode(rs []*kgo.Record) []enrichedRec {
	h.t.Helper()
	out := make([]enrichedRec, 0, len(rs))
	for _, r := range rs {
		e, err := h.enriched.Decode(context.Background(), r.Value)
		if err != nil {
			h.t.Fatalf("decoding enriched record %s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		out = append(out, enrichedRec{rec: r, ev: e})
	}
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func ofKey(es []enrichedRec, key string) []enrichedRec {
	var out []enrichedRec
	for _, e := range es {
		if string(e.rec.Key) == key {
			out = append(out, e)
		}
	}
	return out
}

func ofType(es []enrichedRec, typ string) []enrichedRec {
	var out []enrichedRec
	for _, e := range es {
		if e.ev.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func jsonOf(t testing.TB, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("data %q: %v", raw, err)
	}
	return m
}

func idf(prefix string, i int) string { return fmt.Sprintf("%s-%06d", prefix, i) }

// counterValue is the value of the counter name{label=value} in reg; 0
// when it is not there.
func counterValue(t testing.TB, reg prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
