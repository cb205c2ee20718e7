package ingest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/kafkax"
)

// TestWriterGroupCommits checks that concurrent writes are committed
// together, each caller is answered, and read_committed readers see every
// record exactly once.
func TestWriterGroupCommits(t *testing.T) {
	c := kafkatest.New(t)
	topic := c.Topic("t")
	c.CreateTopics(t, 3, topic)
	kcfg := config.Kafka{Brokers: c.Brokers}
	newCl := func(id string) (*kgo.Client, error) {
		return kgo.NewClient(kafkax.ClientOpts(kcfg, nil, kgo.TransactionalID(id))...)
	}
	m := newMetrics(prometheus.NewRegistry(), func() float64 { return 0 })
	// A real broker's first transaction creates __transaction_state, which
	// can take seconds on a cold broker.
	w := newTxnWriter(newCl, []string{c.Topic("w0"), c.Topic("w1")}, 500, 30*time.Second, zap.NewNop(), m)

	const callers, perCaller = 50, 20
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs := make([]*kgo.Record, perCaller)
			for j := range recs {
				recs[j] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%d-%d", i, j))}
			}
			var outcome error
			settled := 0
			err := w.Write(context.Background(), recs, func(e error) { outcome, settled = e, settled+1 })
			if err == nil && (settled != 1 || outcome != nil) {
				err = fmt.Errorf("write returned nil but settled %d times with %v", settled, outcome)
			}
			errs <- err
		}()
	}
	wg.Wait()
	w.Close()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var afterClose error
	if err := w.Write(context.Background(), nil, func(e error) { afterClose = e }); err == nil || afterClose == nil {
		t.Fatalf("write after Close: %v, settled with %v; want both errors", err, afterClose)
	}

	seen := map[string]int{}
	for _, r := range c.ReadCommitted(t, topic) {
		seen[string(r.Value)]++
	}
	if len(seen) != callers*perCaller {
		t.Fatalf("%d distinct records, want %d", len(seen), callers*perCaller)
	}
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("record %s seen %d times", v, n)
		}
	}
}
