package dispatcher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/ktable"
	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/webhook/webhooktest"
	"github.com/surgehq/surge/services/dispatcher"
)

// harness is the dispatcher against kfake (or KAFKA_BROKERS), a writable
// subscriptions table, a producer of deliveries and a receiving endpoint
// that checks every signature with the official Standard Webhooks library.
type harness struct {
	*kafkatest.Stage
	t     testing.TB
	cfg   dispatcher.Config
	codec *avroserde.Codec[event.Delivery]
	dlq   *avroserde.Codec[event.Delivery]
	subs  *ktable.Table[event.Subscription]
	recv  *receiver
}

func newHarness(t testing.TB, partitions int32, opts ...kfake.Opt) *harness {
	t.Helper()
	st := kafkatest.NewStage(t, kafkatest.StageOptions{Partitions: partitions, DedupWindow: time.Hour, Fake: opts})
	h := &harness{Stage: st, t: t}
	h.cfg = dispatcher.Config{
		Kafka:              st.Kafka,
		Registry:           config.Registry{URL: st.RegistryURL},
		Log:                config.Log{Level: "info"},
		Stall:              config.Stall{After: config.DefaultStallAfter},
		MemoryWait:         2 * time.Second,
		ParkRefresh:        time.Minute,
		HoldRecheck:        50 * time.Millisecond,
		BreakerRecheck:     100 * time.Millisecond,
		MaxInFlight:        256,
		DefaultMaxInFlight: 64,
		DefaultTimeout:     5 * time.Second,
		BreakerFailures:    1000, // tests of ordering must not trip it; the breaker has its own tests
		BreakerCoolDown:    time.Second,
		AllowLoopback:      true,
		CommitInterval:     100 * time.Millisecond,
	}
	h.codec = avroserde.NewDeliveryCodec(st.Registry, h.Topic(topics.Deliveries))
	h.dlq = avroserde.NewDeliveryCodec(st.Registry, h.Topic(topics.DeliveriesDLQ))
	if err := h.codec.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.subs = st.Subscriptions()
	h.recv = newReceiver(t)
	return h
}

func (h *harness) logger() *zap.Logger { return kafkatest.Logger(h.t, zap.ErrorLevel) }

// instance is one running dispatcher service.
type instance struct {
	stop func() // stops it; also run at the test's end
}

func (h *harness) start() *instance { return h.startWith(dispatcher.Deps{}) }

// startWith starts a dispatcher with deps (its Subscriptions are the
// harness's).
func (h *harness) startWith(deps dispatcher.Deps) *instance {
	h.t.Helper()
	deps.Subscriptions = h.subs
	svc, err := dispatcher.New(context.Background(), h.cfg, h.logger(), deps)
	if err != nil {
		h.t.Fatal(err)
	}
	return &instance{stop: kafkatest.Start(h.t, svc)}
}

// subscribe stores a subscription to the receiver at path /<id> and
// returns its secret.
func (h *harness) subscribe(id string, mut func(*event.Subscription)) string {
	h.t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	sec, err := subscription.NewSecret(now)
	if err != nil {
		h.t.Fatal(err)
	}
	s := event.Subscription{ID: id, URL: h.recv.URL + "/" + id, EventTypes: []string{"*"}, Enabled: true,
		Secrets: []event.Secret{sec}, CreatedAt: now, UpdatedAt: now}
	if mut != nil {
		mut(&s)
	}
	if err := h.subs.Put(context.Background(), id, s); err != nil {
		h.t.Fatal(err)
	}
	h.recv.setSecret(id, sec.Value)
	return sec.Value
}

// delivery builds the seq-th delivery of entity key to sub, as fanout
// writes it.
func delivery(sub, entityKey string, version int64, seq int) event.Delivery {
	body := fmt.Sprintf(`{"id":"ev-%06d","type":"order.updated","entity":{"key":%q,"version":%d},"seq":%d}`, seq, entityKey, version, seq)
	return event.Delivery{
		ID: fmt.Sprintf("msg_%s_%06d", sub, seq), EventID: fmt.Sprintf("ev-%06d", seq), SubscriptionID: sub,
		EntityKey: entityKey, EventType: "order.updated", EntityVersion: version, Body: []byte(body),
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
	}
}

func (h *harness) produce(ds ...event.Delivery) {
	h.t.Helper()
	kafkatest.ProduceEach(h.Stage, ds, h.record)
}

// record encodes d as fanout would, its event-id header included.
func (h *harness) record(d event.Delivery) *kgo.Record {
	h.t.Helper()
	return kafkatest.EncodeRecord(h.t, h.codec, h.Topic(topics.Deliveries), event.DeliveryKey(d.SubscriptionID, d.EntityKey), d,
		kafkatest.Headers(topics.HeaderEventID, d.EventID))
}

// committed is the dispatcher group's committed offset sum on a topic.
func (h *harness) committed(base string) int64 {
	h.t.Helper()
	adm := kadm.NewClient(h.Producer)
	offs, err := adm.FetchOffsets(context.Background(), h.Prefix+topics.GroupDispatcher)
	if err != nil {
		return 0
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == h.Topic(base) {
			sum += o.At
		}
	})
	return sum
}

// received is one request the endpoint got, with the entity key,
// version and seq of the bodies delivery builds.
type received struct {
	sub     string
	id      string // webhook-id
	key     string
	version int64
	seq     int
	at      time.Time
	status  int
	sig     string // webhook-signature
	ts      string // webhook-timestamp
	body    []byte
	header  http.Header
}

func receivedOf(a webhooktest.Arrival) received {
	var b struct {
		Entity struct {
			Key     string `json:"key"`
			Version int64  `json:"version"`
		} `json:"entity"`
		Seq int `json:"seq"`
	}
	_ = json.Unmarshal(a.Body, &b)
	return received{sub: a.Path, id: a.ID, key: b.Entity.Key, version: b.Entity.Version, seq: b.Seq, at: a.At,
		status: a.Status, sig: a.Signature, ts: a.Timestamp, body: a.Body, header: a.Header}
}

// receiver is the test's endpoint (path /<subscription id>), answering
// 200 unless setRespond decides otherwise.
type receiver struct{ *webhooktest.Receiver }

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{Receiver: webhooktest.NewReceiver(t)}
	rc.SetStatus(http.StatusOK)
	return rc
}

func (rc *receiver) setSecret(sub, secret string) { rc.SetSecret(sub, secret) }

// setRespond makes respond decide each answer; n is the how-manyth
// request with the webhook-id (nil: 200).
func (rc *receiver) setRespond(f func(r received, n int) (int, http.Header)) {
	if f == nil {
		rc.Respond(nil)
		return
	}
	rc.Respond(func(a webhooktest.Arrival) (int, http.Header) { return f(receivedOf(a), a.Attempt) })
}

// delivered returns the 2xx requests, in arrival order.
func (rc *receiver) delivered() []received {
	var out []received
	for _, a := range rc.Arrivals() {
		if a.Status < 300 {
			out = append(out, receivedOf(a))
		}
	}
	return out
}

func (rc *receiver) all() []received {
	var out []received
	for _, a := range rc.Arrivals() {
		out = append(out, receivedOf(a))
	}
	return out
}

func (rc *receiver) badSignatures() []string { return rc.BadSignatures() }

// checkOrder fails unless, per (subscription, key), versions first arrived
// in order and every key reached its wanted version; repeats (same
// webhook-id) are allowed after a crash.
func checkOrder(t testing.TB, got []received, wantPerKey map[string]int64) {
	t.Helper()
	webhooktest.CheckOrder(t, got, func(g received) (string, int64) { return g.sub + "/" + g.key, g.version }, wantPerKey)
}
