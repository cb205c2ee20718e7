// Package kafkatest is the harness Surge's integration tests share. It
// gives a test a Kafka cluster: a fresh in-process kfake cluster by
// default, or the real brokers named by KAFKA_BROKERS (as
// scripts/kafka.sh prints them), with a topic prefix of its own per test
// so tests never see each other's records. On that cluster a Stage adds
// what every stage's tests set up (Surge's registry, its topics, a
// producer, the subscriptions table); Start runs a service for the test;
// Tail and ReadCommitted read what it wrote; WaitFor, CounterValue,
// MetricSum, Logger and CPUTime are the small checks and tools the tests
// share.
//
// Tests that need fault injection, which only kfake offers, call
// RequireFake and are skipped against a real broker with that reason.
package kafkatest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/kafkax"
)

// EnvBrokers names the variable that switches tests to a real cluster.
const EnvBrokers = "KAFKA_BROKERS"

// Cluster is the Kafka a test runs against.
type Cluster struct {
	Brokers []string
	Prefix  string         // topic prefix for this test ("" on kfake)
	Fake    *kfake.Cluster // nil on a real cluster
}

var seq atomic.Int64

// New returns the cluster for t, closed when t ends.
func New(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	if env := os.Getenv(EnvBrokers); env != "" {
		return &Cluster{
			Brokers: strings.Split(env, ","),
			Prefix:  fmt.Sprintf("t%d-%d-", time.Now().UnixNano()%1e9, seq.Add(1)),
		}
	}
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &Cluster{Brokers: c.ListenAddrs(), Fake: c}
}

// At is a cluster something else runs at brokers (surge dev's embedded
// brokers, say): no topic prefix, no fault injection, and the test does
// not close it.
func At(brokers ...string) *Cluster { return &Cluster{Brokers: brokers} }

// Real reports whether tests run against real brokers.
func Real() bool { return os.Getenv(EnvBrokers) != "" }

// RequireFake skips t on a real cluster: it needs kfake's fault injection.
func (c *Cluster) RequireFake(t testing.TB, why string) {
	t.Helper()
	if c.Fake == nil {
		t.Skipf("needs the in-process cluster's fault injection (%s); %s is set", why, EnvBrokers)
	}
}

// Topic is the full name of base in this test.
func (c *Cluster) Topic(base string) string { return c.Prefix + base }

// ReadCommitted returns every committed record of topic, reading with
// read_committed up to the last stable offsets of the moment it is called
// (so it neither stops early on a slow first fetch nor waits for a quiet
// period).
func (c *Cluster) ReadCommitted(t testing.TB, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	settle(ctx, kadm.NewClient(cl), topic)
	var out []*kgo.Record
	if err := kafkax.CatchUp(ctx, cl, topic, func(r *kgo.Record) { out = append(out, r) }); err != nil {
		t.Fatalf("reading %s: %v", topic, err)
	}
	return out
}

// settle waits (up to 10 s) until no transaction is open on topic: a real
// broker answers EndTxn before it has written the commit markers, so the
// last stable offset trails the commit by a moment.
func settle(ctx context.Context, adm *kadm.Client, topic string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		stable, err1 := adm.ListCommittedOffsets(ctx, topic)
		ends, err2 := adm.ListEndOffsets(ctx, topic)
		if err1 == nil && err2 == nil && stable.Error() == nil && ends.Error() == nil {
			same := true
			ends.Each(func(e kadm.ListedOffset) {
				if s, ok := stable.Lookup(topic, e.Partition); !ok || s.Offset != e.Offset {
					same = false
				}
			})
			if same {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CreateTopics creates the topics (full names) with the given partition
// count, replication factor 1.
func (c *Cluster) CreateTopics(t testing.TB, partitions int32, names ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resps, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, names...)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatalf("creating topics %v: %v", names, err)
	}
}

// Tail follows a topic with read_committed from its start for as long as
// the test runs, keeping every record it reads.
type Tail struct {
	mu   sync.Mutex
	recs []*kgo.Record
}

// Tail starts following topic (a full name).
func (c *Cluster) Tail(t testing.TB, topic string) *Tail {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	tl := &Tail{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			f := cl.PollFetches(ctx)
			if ctx.Err() != nil || f.IsClientClosed() {
				return
			}
			tl.mu.Lock()
			tl.recs = append(tl.recs, f.Records()...)
			tl.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	return tl
}

// Len is the number of records read so far.
func (tl *Tail) Len() int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return len(tl.recs)
}

// Records returns the records read so far.
func (tl *Tail) Records() []*kgo.Record {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]*kgo.Record(nil), tl.recs...)
}

// Service is a stage as its tests run it: Run until the context ends,
// then Close.
type Service interface {
	Run(context.Context) error
	Close()
}

// Start runs svc in the background and returns the function that stops
// it: cancel Run, wait for it to return, Close. Stop runs at the test's
// end if the test did not call it; calling it twice is harmless.
func Start(t testing.TB, svc Service) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			svc.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}
