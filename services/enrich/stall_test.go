package enrich_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/services/enrich"
)

// TestStandaloneEnrichReportsAStalledRebuild runs the standalone enrich
// process (enrich.Run) while a transaction another producer left open on
// commerce.entities keeps one partition's state from being rebuilt: its
// records are deferred batch after batch. Past --stall-after the process
// logs one warning, its own /readyz answers 503 naming the partition, the
// offset and what the rebuild waits for, and /metrics counts the stall;
// once the transaction is aborted the partition is rebuilt, its events are
// enriched and /readyz is 200 again.
func TestStandaloneEnrichReportsAStalledRebuild(t *testing.T) {
	h := newHarness(t, 3)
	const key = "order:stuck"
	p := partitionOf(h, key)

	hang, err := kgo.NewClient(kafkax.ClientOpts(config.Kafka{Brokers: h.Brokers}, nil,
		kgo.TransactionalID(h.Prefix+"previous-owner"), kgo.TransactionTimeout(3*time.Minute))...)
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	ctx := context.Background()
	if err := hang.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	half := kafkax.WithPartition(&kgo.Record{Topic: h.Topic(topics.Entities), Key: []byte(key), Value: []byte("x")}, p)
	if err := hang.ProduceSync(ctx, half).FirstErr(); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.cfg
	cfg.MetricsAddr = ln.Addr().String()
	ln.Close()
	cfg.Stall.After = time.Second
	cfg.RestoreWait = 500 * time.Millisecond
	core, logs := observer.New(zapcore.InfoLevel)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- enrich.Run(runCtx, cfg, zap.New(core)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	get := func(path string) (int, string) { return kafkatest.Get("http://" + cfg.MetricsAddr + path) }
	kafkatest.WaitFor(t, 20*time.Second, "/readyz", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })

	h.produceEvents(rawEvent("ev-1", "order.placed", key, `{"total":1}`), rawEvent("ev-2", "order.updated", key, `{"total":2}`))
	raw := h.Topic(topics.EventsRaw)
	kafkatest.WaitFor(t, 30*time.Second, "/readyz to say the partition is stalled", func() bool {
		code, body := get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, fmt.Sprintf("enrich: %s partition %d has records to process at offset 0", raw, p))
	})
	// The reason says what the rebuild waits for: while an attempt runs,
	// how long it has and why the previous one failed; between attempts,
	// the failure itself.
	kafkatest.WaitFor(t, 10*time.Second, "/readyz to say what the rebuild waits for", func() bool {
		_, body := get("/readyz")
		return strings.Contains(body, fmt.Sprintf("rebuilding the state of partition %d", p)) &&
			strings.Contains(body, "a transaction of another producer is still open at offset 0")
	})
	if _, m := get("/metrics"); !strings.Contains(m, fmt.Sprintf(`surge_stage_stalled_partitions{stage="enrich",topic=%q} 1`, raw)) {
		t.Errorf("/metrics while stalled has no stalled partition")
	}
	warns := logs.FilterMessage("stage partition stalled: records wait to be processed and nothing has moved").All()
	if len(warns) != 1 || warns[0].Level != zapcore.WarnLevel || warns[0].ContextMap()["partition"] != p {
		t.Errorf("stall warnings: %+v", warns)
	}

	if err := hang.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	out := h.Follow(topics.EventsEnriched)
	kafkatest.WaitFor(t, 30*time.Second, "the stalled partition's events", func() bool { return out.Len() >= 2 })
	kafkatest.WaitFor(t, 10*time.Second, "/readyz after the recovery", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	if _, m := get("/metrics"); !strings.Contains(m, fmt.Sprintf(`surge_stage_stalled_partitions{stage="enrich",topic=%q} 0`, raw)) {
		t.Errorf("/metrics after the recovery still counts a stalled partition")
	}
	if n := logs.FilterMessage("stage partition resumed after a stall").Len(); n != 1 {
		t.Errorf("%d resume logs, want 1", n)
	}
}
