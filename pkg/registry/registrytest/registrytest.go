// Package registrytest starts Surge's schema registry for a test: on the
// test's Kafka (kfake or a real broker), served over HTTP, closed when the
// test ends.
package registrytest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/registry"
)

// Start runs a registry keeping its state in topic on brokers and returns
// its URL once it has loaded.
func Start(t testing.TB, brokers []string, topic string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := registry.New(ctx, registry.Config{Topic: topic}, zap.NewNop(), kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatalf("starting the schema registry: %v", err)
	}
	t.Cleanup(reg.Close)
	if err := reg.WaitReady(ctx); err != nil {
		t.Fatalf("loading the schema registry: %v", err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}
