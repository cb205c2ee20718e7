package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/surgehq/surge/pkg/asyncapi"
)

var updateAsyncAPI = flag.Bool("update-asyncapi", false, "rewrite docs/asyncapi.json from the topic and pipeline tables")

// asyncAPIFile is the AsyncAPI document kept in docs/, validated in CI by
// the official parser (make test-asyncapi).
const asyncAPIFile = "../../docs/asyncapi.json"

// TestAsyncAPIDocumentIsCurrent fails when a topic, header, stage or
// schema changed and docs/asyncapi.json was not written again:
//
//	go test ./cmd/surge -run TestAsyncAPIDocumentIsCurrent -update-asyncapi
func TestAsyncAPIDocumentIsCurrent(t *testing.T) {
	c := serviceDefaults[devConfig]()
	want, err := asyncapi.Document(devAsyncAPICluster(devKafka(c, []string{c.KafkaAddr}), "http://"+c.RegistryAddr))
	if err != nil {
		t.Fatal(err)
	}
	if *updateAsyncAPI {
		if err := os.WriteFile(asyncAPIFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(asyncAPIFile)
	if err != nil {
		t.Fatalf("%v (write it with -update-asyncapi)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/asyncapi.json is stale: a topic, header, stage or schema changed; run\n\tgo test ./cmd/surge -run TestAsyncAPIDocumentIsCurrent -update-asyncapi")
	}
}

// TestDevServesTheAsyncAPIDocument: surge dev's admin listener serves the
// document without a token, naming the cluster and registry it runs.
func TestDevServesTheAsyncAPIDocument(t *testing.T) {
	stack, err := startDev(context.Background(), testDevConfig(t.TempDir()), zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	resp, err := http.Get(stack.AdminURL + "/v1/asyncapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		AsyncAPI string
		Servers  map[string]struct {
			Host     string
			Protocol string
			Bindings struct {
				Kafka struct{ SchemaRegistryURL string }
			}
		}
		Channels map[string]any
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/asyncapi.json without a token: %d, %v", resp.StatusCode, err)
	}
	s := doc.Servers["surge-dev"]
	if doc.AsyncAPI != asyncapi.Version || s.Host != stack.KafkaAddr || s.Protocol != "kafka" || s.Bindings.Kafka.SchemaRegistryURL != stack.RegistryURL || len(doc.Channels) == 0 {
		t.Fatalf("document %+v, want AsyncAPI %s naming %s and %s", doc, asyncapi.Version, stack.KafkaAddr, stack.RegistryURL)
	}
}
