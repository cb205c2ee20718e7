package fanout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/ktable"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/services/fanout"
)

// harness is fanout against kfake (or KAFKA_BROKERS) and Surge's registry,
// with a producer of enriched events, a writable subscriptions table (as
// the admin API holds it) and tailing readers.
type harness struct {
	*kafkatest.Stage
	t          testing.TB
	cfg        fanout.Config
	enriched   *avroserde.Codec[event.EnrichedEvent]
	deliveries *avroserde.Codec[event.Delivery]
	subs       *ktable.Table[event.Subscription]
}

func newHarness(t testing.TB, partitions int32) *harness {
	t.Helper()
	st := kafkatest.NewStage(t, kafkatest.StageOptions{Partitions: partitions, DedupWindow: 24 * time.Hour})
	h := &harness{Stage: st, t: t}
	h.cfg = fanout.Config{
		Kafka:          st.Kafka,
		Registry:       config.Registry{URL: st.RegistryURL},
		Log:            config.Log{Level: "info"},
		Stall:          config.Stall{After: config.DefaultStallAfter},
		InstanceID:     "test-1",
		MaxPollRecords: 10000,
	}
	h.enriched = avroserde.NewEnrichedEventCodec(st.Registry, h.Topic(topics.EventsEnriched))
	h.deliveries = avroserde.NewDeliveryCodec(st.Registry, h.Topic(topics.Deliveries))
	if err := h.enriched.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.subs = st.Subscriptions()
	return h
}

func (h *harness) logger() *zap.Logger { return kafkatest.Logger(h.t, zap.WarnLevel) }

// instance is one running fanout service.
type instance struct {
	stop func() // stops it; also run at the test's end
}

func (h *harness) start(id string, deps fanout.Deps) *instance {
	h.t.Helper()
	cfg := h.cfg
	cfg.InstanceID = id
	svc, err := fanout.New(context.Background(), cfg, h.logger(), deps)
	if err != nil {
		h.t.Fatal(err)
	}
	return &instance{stop: kafkatest.Start(h.t, svc)}
}

// subscribe stores a subscription as the admin API would.
func (h *harness) subscribe(s event.Subscription) event.Subscription {
	h.t.Helper()
	if s.CreatedAt.IsZero() {
		s.CreatedAt = time.Now().UTC().Truncate(time.Millisecond)
	}
	s.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
	if s.URL == "" {
		s.URL = "http://127.0.0.1:9/" + s.ID
	}
	if err := h.subs.Put(context.Background(), s.ID, s); err != nil {
		h.t.Fatal(err)
	}
	return s
}

// enrichedEvent builds an enriched event as enrich writes it, enriched now.
func enrichedEvent(id, typ, entity string, version int64, data string) event.EnrichedEvent {
	kind, eid, _ := strings.Cut(entity, ":")
	now := time.Now().UTC().Truncate(time.Millisecond)
	return event.EnrichedEvent{
		ID: id, Type: typ, Source: "default", Time: now, ReceivedAt: now, EnrichedAt: now,
		Entity:        event.EntityRef{Type: kind, ID: eid},
		EntityVersion: version,
		Data:          json.RawMessage(data),
		Changes:       []string{"total"},
		CorrelationID: "corr-" + id,
	}
}

func (h *harness) record(e event.EnrichedEvent) *kgo.Record {
	h.t.Helper()
	return kafkatest.EncodeRecord(h.t, h.enriched, h.Topic(topics.EventsEnriched), e.Entity.Key(), e, kafkatest.Headers(
		topics.HeaderEventID, e.ID,
		topics.HeaderCorrelationID, e.CorrelationID))
}

func (h *harness) produce(es ...event.EnrichedEvent) {
	h.t.Helper()
	kafkatest.ProduceEach(h.Stage, es, h.record)
}

// delivered is a decoded record of commerce.deliveries.
type delivered = kafkatest.Decoded[event.Delivery]

func (h *harness) decode(rs []*kgo.Record) []delivered {
	h.t.Helper()
	return kafkatest.DecodeAll(h.t, h.deliveries, rs)
}

func bySubscription(ds []delivered) map[string][]delivered {
	out := map[string][]delivered{}
	for _, d := range ds {
		out[d.Value.SubscriptionID] = append(out[d.Value.SubscriptionID], d)
	}
	return out
}

func idf(prefix string, i int) string { return fmt.Sprintf("%s-%06d", prefix, i) }
