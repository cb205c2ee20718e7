package admin_test

import (
	"context"
	"time"

	"github.com/surgehq/surge/pkg/inspect"
)

// The fakeInspector's answers for the topics and attempt-stats routes,
// every optional field set so the OpenAPI test sees the whole answer.

func (f *fakeInspector) Topics(context.Context) (*inspect.TopicReport, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	size, committed, members := int64(4096), int64(40), 1
	lag := inspect.GroupLag{Group: "surge-enrich", Stage: true, State: "Stable", Members: &members, Committed: true, Lag: 2, Stalled: 1,
		Partitions: []inspect.PartitionLag{{Partition: 0, Committed: &committed, Lag: 2, Stall: &inspect.StallMark{Offset: 40, Reason: "enrich loader timeout",
			Since: f.now.Add(-time.Minute), DetectedAt: f.now, StallAfter: "30s", Instance: "enrich-1"}}}}
	return &inspect.TopicReport{Topics: []inspect.TopicDetail{
		{TopicSummary: inspect.TopicSummary{Name: "commerce.events.raw", Surge: true, Exists: true, Partitions: 1, ReplicationFactor: 1,
			CleanupPolicy: "delete", SizeBytes: &size, EndOffsets: 42, Groups: []inspect.GroupLag{lag}},
			PartitionList: []inspect.PartitionDesc{{Partition: 0, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}, Start: 0, End: 42, StableEnd: 42, SizeBytes: &size}}},
		{TopicSummary: inspect.TopicSummary{Name: "commerce.stalls", Surge: true, Groups: []inspect.GroupLag{}}, PartitionList: []inspect.PartitionDesc{}},
	}, SizeError: "example: no error", StallsError: "example: no error"}, nil
}

func (f *fakeInspector) TopicExists(_ context.Context, topic string) (bool, error) {
	if err := f.failing(); err != nil {
		return false, err
	}
	return topic == "commerce.events.raw", nil
}

func (f *fakeInspector) TopicRecords(_ context.Context, topic string, window time.Duration, now time.Time) (*inspect.TopicRecords, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	return &inspect.TopicRecords{Topic: topic, Window: window.String(), Since: now.Add(-window).UTC(), Offsets: 12, Records: 10, Estimated: false}, nil
}

func (f *fakeInspector) AttemptStats(_ context.Context, window time.Duration, now time.Time) (*inspect.AttemptStatsReport, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	rate, p50, p99 := 0.75, 12.5, 80.0
	counts := inspect.AttemptCounts{Attempts: 5, Delivered: 3, Failed: 1, Held: 1}
	return &inspect.AttemptStatsReport{Window: window.String(), Since: now.Add(-window).UTC(), Until: now.UTC(), Truncated: false, Totals: counts,
		PerMinute: []inspect.MinuteCounts{{Start: now.Add(-time.Minute).UTC(), AttemptCounts: counts}},
		Subscriptions: []inspect.SubscriptionAttemptStats{{Subscription: "sub_1", AttemptCounts: counts, SuccessRate: &rate, P50MS: &p50, P99MS: &p99,
			LastFailure: &inspect.AttemptFailure{At: now.UTC(), Status: 503, Error: "unexpected status 503", URL: "https://hooks.example.com/"}}}}, nil
}
