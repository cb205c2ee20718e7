package enrich_test

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
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/services/enrich"
)

// harness is enrich against an in-process Kafka (kfake) and Surge's own
// schema registry, with a producer for raw events and tailing readers.
type harness struct {
	*kafkatest.Stage
	t        testing.TB
	cfg      enrich.Config
	events   *avroserde.Codec[event.Event]
	enriched *avroserde.Codec[event.EnrichedEvent]
}

func newHarness(t testing.TB, partitions int32) *harness {
	t.Helper()
	st := kafkatest.NewStage(t, kafkatest.StageOptions{Partitions: partitions, DedupWindow: 24 * time.Hour})
	h := &harness{Stage: st, t: t}
	h.cfg = enrich.Config{
		Kafka:             st.Kafka,
		Registry:          config.Registry{URL: st.RegistryURL},
		Log:               config.Log{Level: "info"},
		Stall:             config.Stall{After: config.DefaultStallAfter},
		InstanceID:        "test-1",
		MaxPollRecords:    10000,
		LoaderAttempts:    3,
		LoaderWait:        100 * time.Millisecond,
		LoaderConcurrency: 16,
		RestoreWait:       5 * time.Second,
	}
	h.events = avroserde.NewEventCodec(st.Registry, h.Topic(topics.EventsRaw))
	h.enriched = avroserde.NewEnrichedEventCodec(st.Registry, h.Topic(topics.EventsEnriched))
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
	svc, err := enrich.New(context.Background(), cfg, kafkatest.Logger(h.t, zap.WarnLevel), deps)
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
	return kafkatest.EncodeRecord(h.t, h.events, h.Topic(topics.EventsRaw), e.Entity.Key(), e, kafkatest.Headers(
		topics.HeaderEventID, e.ID,
		topics.HeaderCorrelationID, e.CorrelationID,
		topics.HeaderEventType, e.Type,
		topics.HeaderSource, e.Source))
}

func (h *harness) produceEvents(es ...event.Event) {
	h.t.Helper()
	kafkatest.ProduceEach(h.Stage, es, h.record)
}

// enrichedRec is a decoded record of commerce.events.enriched.
type enrichedRec = kafkatest.Decoded[event.EnrichedEvent]

func (h *harness) decode(rs []*kgo.Record) []enrichedRec {
	h.t.Helper()
	return kafkatest.DecodeAll(h.t, h.enriched, rs)
}

func ofKey(es []enrichedRec, key string) []enrichedRec {
	var out []enrichedRec
	for _, e := range es {
		if string(e.Record.Key) == key {
			out = append(out, e)
		}
	}
	return out
}

func ofType(es []enrichedRec, typ string) []enrichedRec {
	var out []enrichedRec
	for _, e := range es {
		if e.Value.Type == typ {
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
