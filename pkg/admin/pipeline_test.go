package admin_test

import (
	"context"
	"sync"
	"time"

	"github.com/surgehq/surge/pkg/inspect"
)

// fakeInspector answers as pkg/inspect would for a pipeline with one
// stalled partition, one attempt per subscription waiting for a retry and
// one parked key; every optional field is set so the OpenAPI test sees
// the whole answer. Fail makes every call fail as Kafka being down would.
type fakeInspector struct {
	mu   sync.Mutex
	fail error
	now  time.Time
}

func newFakeInspector() *fakeInspector {
	return &fakeInspector{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (f *fakeInspector) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeInspector) failing() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail
}

func (f *fakeInspector) StageLag(context.Context) (*inspect.StageLagReport, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	committed, members := int64(40), 1
	return &inspect.StageLagReport{Stages: []inspect.StageLag{
		{Stage: "enrich", Topic: "commerce.events.raw", GroupLag: inspect.GroupLag{Group: "surge-enrich", Stage: true, State: "Stable", Members: &members,
			Committed: true, Lag: 2, Stalled: 1, Partitions: []inspect.PartitionLag{
				{Partition: 0, Committed: &committed, Lag: 2, Stall: &inspect.StallMark{Offset: 40, Reason: "enrich loader timeout", Since: f.now.Add(-time.Minute),
					DetectedAt: f.now, StallAfter: "30s", Instance: "enrich-1"}},
				{Partition: 1, Lag: 0},
			}}},
	}, StallsError: "example: no error"}, nil
}

func (f *fakeInspector) Attempts(_ context.Context, sub string, limit int) ([]inspect.Attempt, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	next := f.now.Add(30 * time.Second)
	out := []inspect.Attempt{{DeliveryID: "dlv_1", EventID: "evt_1", EntityKey: "order:1", Attempt: 2, URL: "https://hooks.example.com/",
		StartedAt: f.now, DurationMS: 12.5, Status: 503, Outcome: "retry", Error: "unexpected status 503",
		ResponseHeaders: map[string]string{"Content-Type": "text/plain"}, ResponseBody: "down for " + sub, NextAttemptAt: &next, Partition: 1, Offset: 7}}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeInspector) Parked(context.Context) (*inspect.ParkedSummary, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	since := f.now.Add(-time.Minute)
	return &inspect.ParkedSummary{ParkedKeys: 1, Deliveries: 3, Subscriptions: []inspect.ParkedCount{{Subscription: "sub_1", ParkedKeys: 1, Deliveries: 3, OldestSince: &since}}}, nil
}

func (f *fakeInspector) Lanes(_ context.Context, sub string) (*inspect.LaneReport, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	since, next := f.now.Add(-time.Minute), f.now.Add(30*time.Second)
	return &inspect.LaneReport{Subscription: sub, ParkedKeys: 1, Deliveries: 3, Lanes: []inspect.Lane{{EntityKey: "order:1", Partition: 2,
		ParkedSince: &since, NextAttemptAt: &next, Waiting: 2,
		Head: inspect.LaneDelivery{DeliveryID: "dlv_1", EventID: "evt_1", EventType: "order.placed", Attempts: 2, LastStatus: 503, LastError: "unexpected status 503", Offset: 4}}}}, nil
}
