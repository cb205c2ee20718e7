package embedded

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Transactions that write to two topics, as ingest writes an event and its
// idempotency record, must stay whole through SIGKILLs: after the kills and
// a last recovery, each value committed to one topic is on the other too.

const (
	pairTopicA = "pair-a"
	pairTopicB = "pair-b"
	pairIncEnv = "SURGE_CRASH_CHILD_INCARNATION"
)

// pairsChild writes transactions of one value to both topics from two
// producers until it is killed.
func pairsChild(ctx context.Context, dir string) error {
	brokers, err := startChildCluster(ctx, dir, 3, pairTopicA, pairTopicB)
	if err != nil {
		return err
	}
	inc := os.Getenv(pairIncEnv)
	errs := make(chan error, 2)
	for w := range 2 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(fmt.Sprintf("pair-%d", w)),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			return err
		}
		go func() {
			for i := 0; ; i++ {
				v := []byte(fmt.Sprintf("%s-%d-%d", inc, w, i))
				if err := cl.BeginTransaction(); err != nil {
					errs <- err
					return
				}
				cl.Produce(ctx, &kgo.Record{Topic: pairTopicA, Partition: int32(i % 3), Value: v}, nil)
				cl.Produce(ctx, &kgo.Record{Topic: pairTopicB, Partition: int32((i + 1) % 3), Value: v}, nil)
				if err := cl.Flush(ctx); err != nil {
					errs <- err
					return
				}
				if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
					errs <- err
					return
				}
				if w == 0 && i == 0 {
					fmt.Println("ready")
				}
			}
		}()
	}
	return <-errs
}

func TestTransactionsOverTwoTopicsStayWholeThroughSIGKILLs(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process several times")
	}
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for inc := range 12 {
		crashAfter(t, dir, "pairs", []string{fmt.Sprintf("%s=%d", pairIncEnv, inc)}, time.Duration(50+rng.IntN(700))*time.Millisecond)
	}
	c := startAfterCrash(t, dir)
	read := func(topic string) map[string]bool {
		out := map[string]bool{}
		for p := range int32(3) {
			vals, reached := readTopicToEnd(t, []string{c.Addr()}, topic, p, 20*time.Second)
			if !reached {
				t.Fatalf("%s/%d: the end was not reached", topic, p)
			}
			for _, v := range vals {
				out[v] = true
			}
		}
		return out
	}
	a, b := read(pairTopicA), read(pairTopicB)
	var onlyA, onlyB []string
	for v := range a {
		if !b[v] {
			onlyA = append(onlyA, v)
		}
	}
	for v := range b {
		if !a[v] {
			onlyB = append(onlyB, v)
		}
	}
	slices.Sort(onlyA)
	slices.Sort(onlyB)
	t.Logf("%d transactions committed; recovery: %s", len(a), c.Recovered.summary())
	if len(onlyA) > 0 || len(onlyB) > 0 {
		t.Fatalf("torn transactions: only in %s %v, only in %s %v", pairTopicA, onlyA, pairTopicB, onlyB)
	}
}
