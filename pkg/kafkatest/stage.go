package kafkatest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/ktable"
	"github.com/surgehq/surge/pkg/registry/registrytest"
	"github.com/surgehq/surge/pkg/store"
	"github.com/surgehq/surge/pkg/topics"
)

// StageOptions shape the world NewStage sets up.
type StageOptions struct {
	Partitions int32 // of every topic Surge creates
	// ReplicationFactor of every topic Surge creates and of the
	// registry's; 1 when 0.
	ReplicationFactor int16
	// DedupWindow is the retention kafkax.EnsureTopics gives the
	// deduplication topics.
	DedupWindow time.Duration
	Fake        []kfake.Opt // options of the in-process cluster
}

// Stage is what a test of one or more of Surge's stages runs against: a
// cluster (New), Surge's schema registry keeping its state on it, every
// topic Surge creates already created, and a producer. Everything it
// starts stops when the test ends.
type Stage struct {
	*Cluster
	// Kafka is the cluster as a stage's configuration names it: brokers,
	// this test's topic prefix, partitions and replication factor.
	Kafka       config.Kafka
	RegistryURL string
	Registry    *avroserde.Registry // a client of the registry
	Producer    *kgo.Client         // produces at once (no linger)

	t testing.TB
}

// NewStage sets up a Stage for t.
func NewStage(t testing.TB, o StageOptions) *Stage {
	t.Helper()
	rf := o.ReplicationFactor
	if rf == 0 {
		rf = 1
	}
	s := &Stage{Cluster: New(t, o.Fake...), t: t}
	ctx := context.Background()
	if rf > 1 {
		// registrytest creates its topic with replication factor 1.
		s.createSchemasTopic(rf)
	}
	s.RegistryURL = registrytest.Start(t, s.Brokers, s.Topic("_schemas"))
	s.Kafka = config.Kafka{Brokers: s.Brokers, TopicPrefix: s.Prefix, Partitions: o.Partitions, ReplicationFactor: rf}
	var err error
	s.Producer, err = kgo.NewClient(kafkax.ClientOpts(config.Kafka{Brokers: s.Brokers}, nil, kgo.ProducerLinger(0))...)
	if err != nil {
		t.Fatalf("creating the producer: %v", err)
	}
	t.Cleanup(s.Producer.Close)
	if err := kafkax.EnsureTopics(ctx, kadm.NewClient(s.Producer), s.Kafka, o.DedupWindow); err != nil {
		t.Fatalf("creating Surge's topics: %v", err)
	}
	srCl, err := sr.NewClient(sr.URLs(s.RegistryURL))
	if err != nil {
		t.Fatalf("creating the registry client: %v", err)
	}
	s.Registry = avroserde.NewRegistry(srCl)
	return s
}

// createSchemasTopic creates the registry's compacted topic replicated rf
// times, writes acknowledged by rf-1 replicas.
func (s *Stage) createSchemasTopic(rf int16) {
	s.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Brokers...))
	if err != nil {
		s.t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, rf, map[string]*string{
		"cleanup.policy":      kadm.StringPtr("compact"),
		"min.insync.replicas": kadm.StringPtr(strconv.Itoa(int(rf) - 1)),
	}, s.Topic("_schemas"))
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		s.t.Fatalf("creating the registry's topic: %v", err)
	}
}

// produceBatch is the most records Produce sends in one ProduceSync.
const produceBatch = 5000

// Produce writes rs with the producer, waiting for each batch of 5,000 to
// be acknowledged; a failure fails the test.
func (s *Stage) Produce(rs ...*kgo.Record) {
	s.t.Helper()
	for len(rs) > 0 {
		n := min(len(rs), produceBatch)
		if err := s.Producer.ProduceSync(context.Background(), rs[:n]...).FirstErr(); err != nil {
			s.t.Fatalf("producing: %v", err)
		}
		rs = rs[n:]
	}
}

// ProduceEach writes the record of each of es, as Produce does.
func ProduceEach[E any](s *Stage, es []E, record func(E) *kgo.Record) {
	s.t.Helper()
	rs := make([]*kgo.Record, len(es))
	for i, e := range es {
		rs[i] = record(e)
	}
	s.Produce(rs...)
}

// Follow tails the topic with base name base in this test (Tail).
func (s *Stage) Follow(base string) *Tail {
	s.t.Helper()
	return s.Tail(s.t, s.Topic(base))
}

// Subscriptions opens the subscriptions table writable, as the admin API
// holds it, closed when the test ends.
func (s *Stage) Subscriptions() *ktable.Table[event.Subscription] {
	s.t.Helper()
	subs, err := store.Subscriptions(context.Background(), store.Options{
		Names:      topics.Namer{Prefix: s.Prefix},
		ClientOpts: kafkax.ClientOpts(s.Kafka, nil),
		Registry:   s.Registry,
		Writable:   true,
	}, nil)
	if err != nil {
		s.t.Fatalf("opening the subscriptions table: %v", err)
	}
	s.t.Cleanup(subs.Close)
	return subs
}
