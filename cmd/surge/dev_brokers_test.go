package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
)

// TestDevOnAnExistingCluster runs surge dev with --brokers: no embedded
// cluster, every topic and the registry's _schemas on the cluster given
// (kfake started by the test, or the real broker under make test-kafka),
// and surge load --verify delivers every accepted event through it.
func TestDevOnAnExistingCluster(t *testing.T) {
	kc := kafkatest.New(t)
	dir := t.TempDir()
	cfg := testDevConfig(dir)
	cfg.Brokers = kc.Brokers
	cfg.ReplicationFactor = 1
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	stack, err := startDev(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stack.Close() })
	if stack.cluster != nil {
		t.Fatal("surge dev --brokers started an embedded cluster")
	}
	if _, err := os.Stat(filepath.Join(dir, "kafka")); !os.IsNotExist(err) {
		t.Fatalf("surge dev --brokers wrote embedded-cluster data: %v", err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	listed, err := kadm.NewClient(cl).ListTopics(context.Background(), topics.EventsRaw, topics.Deliveries, "_schemas")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{topics.EventsRaw, topics.Deliveries, "_schemas"} {
		if !listed.Has(name) {
			t.Errorf("topic %s is not on the cluster given with --brokers", name)
		}
	}

	out, progress, err := runSurge(t, 2*time.Minute, "load",
		"--ingest-addr", stack.IngestURL, "--admin-addr", stack.AdminURL, "--data-dir", dir,
		"--rate", "300", "--duration", "3s", "--verify", "--entities", "100")
	t.Logf("report:\n%s", out)
	if err != nil {
		t.Fatalf("surge load --verify failed: %v\nprogress:\n%s", err, progress)
	}
	accepted := reportNumber(t, out, `events accepted\s+(\d+)`)
	if d := reportNumber(t, out, `delivered\s+(\d+) of \d+ accepted`); accepted < 100 || d != accepted {
		t.Errorf("delivered %d of %d accepted", d, accepted)
	}
	if n := reportNumber(t, out, `lost\s+(\d+)`) + reportNumber(t, out, `reordered\s+(\d+)`); n != 0 {
		t.Errorf("%d lost or reordered", n)
	}
}

func TestDevBrokersFlags(t *testing.T) {
	cfg := testDevConfig(t.TempDir())
	cfg.ReplicationFactor = 3
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "needs --brokers") {
		t.Errorf("--replication-factor 3 on the embedded cluster: %v", err)
	}
	cfg.Brokers = []string{"not a host port"}
	if err := cfg.Validate(); err == nil {
		t.Error("a bad --brokers value was accepted")
	}
}
