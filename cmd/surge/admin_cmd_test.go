package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/registry/registrytest"
)

// TestStandaloneAdminKeepsSubscriptionsInKafka: `surge admin` against a
// cluster creates a subscription; a second admin process started later
// serves it, because the only store is the compacted topic.
func TestStandaloneAdminKeepsSubscriptionsInKafka(t *testing.T) {
	kc := kafkatest.New(t)
	c := adminConfig{
		Addr:          "127.0.0.1:0",
		Token:         "test-token-0123456789",
		Kafka:         config.Kafka{Brokers: kc.Brokers, TopicPrefix: kc.Prefix, Partitions: 2, ReplicationFactor: 1},
		Registry:      config.Registry{URL: registrytest.Start(t, kc.Brokers, kc.Topic("_schemas"))},
		AllowLoopback: true,
		SecretGrace:   time.Hour,
		Log:           config.Log{Level: "warn"},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	start := func() (string, func()) {
		c := c
		c.Addr = freeAddr(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- runAdmin(ctx, c, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))) }()
		url := "http://" + c.Addr
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get(url + "/readyz")
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("surge admin did not come up: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return url, func() { cancel(); <-done }
	}
	call := func(method, url, body string, auth bool) (int, map[string]any) {
		t.Helper()
		req := jsonRequest(t, method, url, "application/json", body)
		if auth {
			req.Header.Set("Authorization", "Bearer "+c.Token)
		}
		return sendJSON(t, req)
	}

	url, stop := start()
	if status, _ := call("GET", url+"/v1/subscriptions", "", false); status != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", status)
	}
	status, created := call("POST", url+"/v1/subscriptions", `{"url":"http://127.0.0.1:9/hook","event_types":["order.*"]}`, true)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, created)
	}
	id, _ := created["id"].(string)
	stop()

	url, stop = start()
	defer stop()
	status, got := call("GET", url+"/v1/subscriptions/"+id, "", true)
	if status != http.StatusOK || got["id"] != id || got["url"] != "http://127.0.0.1:9/hook" {
		t.Fatalf("after a restart GET %s: %d %v", id, status, got)
	}
	if _, leaked := got["secret"]; leaked {
		t.Fatal("GET shows the secret")
	}
}
