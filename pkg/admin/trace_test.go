package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/admin"
	"github.com/surgehq/surge/pkg/trace"
)

// fakeTracer answers as pkg/trace would for a pipeline holding one event,
// evt_1 of entity order:1, delivered as msg_1 after a retry, and two
// events sharing the sender's id "dup".
type fakeTracer struct {
	mu   sync.Mutex
	fail error
	now  time.Time
}

func newFakeTracer() *fakeTracer {
	return &fakeTracer{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (f *fakeTracer) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeTracer) failing() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail
}

func (f *fakeTracer) Event(_ context.Context, id string, _ trace.Options) (*trace.Trace, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	if id != "evt_1" {
		return nil, fmt.Errorf("%w %s on any topic (searched from the beginning)", trace.ErrNoRecord, id)
	}
	p, o := int32(0), int64(7)
	next := f.now.Add(time.Second)
	return &trace.Trace{EventID: id, Steps: []trace.Step{
		{Time: f.now, Stage: trace.StageIngest, Kind: trace.KindEvent, Topic: "commerce.events.raw", Partition: &p, Offset: &o,
			EventType: "order.placed", EntityKey: "order:1", Source: "default", ReceivedAt: &f.now,
			Origin: &trace.Origin{Format: "canonical", ID: "dup", Type: "order.placed", Source: "shop", EntityID: "1"}},
		{Time: f.now, Stage: trace.StageEnrich, Kind: trace.KindEvent, Topic: "commerce.events.enriched", Partition: &p, Offset: &o,
			EventType: "order.placed", EntityVersion: 1, Changes: []string{"total"}},
		{Time: f.now, Stage: trace.StageFanout, Kind: trace.KindDelivery, Topic: "commerce.deliveries", Partition: &p, Offset: &o,
			SubscriptionID: "sub_1", DeliveryID: "msg_1", Body: `{"id":"evt_1"}`},
		{Time: f.now, Stage: trace.StageDispatcher, Kind: trace.KindAttempt, Topic: "commerce.delivery-attempts", Partition: &p, Offset: &o,
			SubscriptionID: "sub_1", DeliveryID: "msg_1", Attempt: 1, Status: 503, Outcome: "retry", DurationMS: 1.5, NextAttemptAt: &next,
			RequestHeaders: map[string]string{"webhook-id": "msg_1"}, ResponseHeaders: map[string]string{"Content-Type": "text/html"}, ResponseBody: "<p>busy</p>"},
	}, Summary: []trace.Step{{Time: f.now, Stage: trace.StageSummary, SubscriptionID: "sub_1", DeliveryID: "msg_1", Result: trace.ResultRetrying, Attempts: 1}}}, nil
}

func (f *fakeTracer) BySenderID(_ context.Context, id string, _ trace.OriginFilter) ([]trace.SenderMatch, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	switch id {
	case "dup":
		return []trace.SenderMatch{{EventID: "evt_1", EntityKey: "order:1"}, {EventID: "evt_2", EntityKey: "order:2"}}, nil
	case "sender-1":
		return []trace.SenderMatch{{EventID: "evt_1", EntityKey: "order:1"}}, nil
	}
	return nil, nil
}

func (f *fakeTracer) EntityEvents(_ context.Context, key string, limit int) (*trace.EntityEvents, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	res := &trace.EntityEvents{EntityKey: key, Topic: "commerce.events.raw", From: 0, End: 8, Events: []trace.EntityEvent{}}
	if key == "order:1" {
		res.Events = append(res.Events, trace.EntityEvent{EventID: "evt_1", EventType: "order.placed", Source: "default", ReceivedAt: f.now, Offset: 7})
	}
	return res, nil
}

func (f *fakeTracer) ByDeliveryID(_ context.Context, id string) (string, error) {
	if err := f.failing(); err != nil {
		return "", err
	}
	if id == "msg_1" {
		return "evt_1", nil
	}
	return "", nil
}

// TestTraceRoute pins what GET /v1/trace answers for each way of naming
// an event, and its refusals.
func TestTraceRoute(t *testing.T) {
	e := newEnv(t, admin.Config{})
	get := func(path string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("GET %s: %d, body not JSON: %v", path, resp.StatusCode, err)
		}
		return resp.StatusCode, body
	}
	traced := func(path string) {
		t.Helper()
		status, body := get(path)
		tr, _ := body["trace"].(map[string]any)
		steps, _ := tr["steps"].([]any)
		if status != 200 || tr["event_id"] != "evt_1" || len(steps) != 4 {
			t.Fatalf("GET %s: %d %v; want the trace of evt_1 with its 4 steps", path, status, body)
		}
	}
	traced("/v1/trace?id=evt_1")
	traced("/v1/trace?id=sender-1")             // the sender's id of evt_1
	traced("/v1/trace?webhook_id=msg_1")        // its delivery
	traced("/v1/trace?id=evt_1&entity=order:2") // id wins
	if status, body := get("/v1/trace?entity=order:1&limit=5"); status != 200 || fmt.Sprint(body["entity"]) == "" ||
		fmt.Sprint(body["entity"].(map[string]any)["events"].([]any)[0].(map[string]any)["event_id"]) != "evt_1" {
		t.Fatalf("entity search: %d %v", status, body)
	}
	for path, want := range map[string]int{
		"/v1/trace":                        422,
		"/v1/trace?id=":                    400,
		"/v1/trace?entity=order":           400,
		"/v1/trace?entity=order:1&limit=0": 400,
		"/v1/trace?id=evt_nope":            404,
		"/v1/trace?webhook_id=msg_nope":    404,
		"/v1/trace?id=dup":                 409,
	} {
		if status, body := get(path); status != want {
			t.Errorf("GET %s: %d %v, want %d", path, status, body, want)
		}
	}
	e.tracer.Fail(errors.New("kafka unavailable"))
	if status, _ := get("/v1/trace?id=evt_1"); status != 503 {
		t.Errorf("GET with Kafka down: %d, want 503", status)
	}
}
