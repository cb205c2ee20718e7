package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/admin"
	"github.com/surgehq/surge/pkg/dlq"
	"github.com/surgehq/surge/pkg/kafkax"
)

// fakeDLQ is an in-memory admin.DLQ with the behaviour the API relies on:
// pkg/dlq's error classes, replays that start, stop and resume. pkg/dlq
// itself is tested against Kafka; cmd/surge drives the real one through
// this API.
type fakeDLQ struct {
	mu      sync.Mutex
	fail    error
	replays map[string]dlq.Status
	seq     int
}

func newFakeDLQ() *fakeDLQ {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return &fakeDLQ{replays: map[string]dlq.Status{
		"rpl_done": {ID: "rpl_done", State: dlq.StateDone, Selection: dlq.Selection{Topic: "commerce.deliveries.dlq"}, Total: 3, Replayed: 3,
			Partitions: []dlq.PartitionPosition{{Partition: 0, From: 0, End: 3, Next: 3}}, CreatedAt: now, UpdatedAt: now},
	}}
}

// Fail makes every call fail with err (nil: succeed again).
func (f *fakeDLQ) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeDLQ) failing() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail
}

func checkTopic(topic string) (string, error) {
	switch topic {
	case "", "commerce.deliveries.dlq":
		return "commerce.deliveries.dlq", nil
	case "commerce.events.dlq":
		return topic, nil
	}
	return "", &dlq.InvalidError{Field: "topic", Message: fmt.Sprintf("%q is not a dead-letter topic", topic)}
}

func (f *fakeDLQ) Stats(_ context.Context, topic string, _ func(dlq.Progress)) (*dlq.Stats, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	full, err := checkTopic(topic)
	if err != nil {
		return nil, err
	}
	t := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	return &dlq.Stats{Topic: full, Total: 2, Oldest: &t, Newest: &t,
		Partitions:     []dlq.PartitionStats{{Partition: 0, Count: 2, StartOffset: 0, EndOffset: 2, Oldest: &t, Newest: &t}, {Partition: 1}},
		BySubscription: map[string]int64{"sub_a": 2}, ByClass: map[string]int64{"rejected": 2}, ByHTTPStatus: map[string]int64{"400": 2},
		ByStage: map[string]int64{"dispatcher": 2}, BySourceTopic: map[string]int64{"commerce.deliveries": 2}, Replayed: 1}, nil
}

func (f *fakeDLQ) Record(_ context.Context, topic string, partition int32, offset int64) (*dlq.Record, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	full, err := checkTopic(topic)
	if err != nil {
		return nil, err
	}
	if partition != 0 || offset != 7 {
		return nil, fmt.Errorf("no record at %d/%d: %w", partition, offset, dlq.ErrNotFound)
	}
	key := "sub_a/order:1"
	return &dlq.Record{RecordMeta: kafkax.RecordMeta{Topic: full, Partition: 0, Offset: 7, Timestamp: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), Key: &key,
		Headers: map[string]string{"surge.dlq.error-class": "rejected"}},
		DeadLetter: dlq.DeadLetter{Stage: "dispatcher", Class: "rejected", Error: "endpoint answered 400", Attempts: "1", HTTPStatus: "400", FromTopic: "commerce.deliveries", FromPartition: "0", FromOffset: "12"},
		Replay:     &dlq.ReplayMark{ID: "rpl_old", Count: 1},
		Value:      json.RawMessage(`{"id":"msg_1"}`), ReplaysTo: "commerce.deliveries",
		Attempts: []dlq.Attempt{{Attempt: 1, StartedAt: time.Date(2026, 3, 1, 10, 59, 0, 0, time.UTC), DurationMS: 12.5, Status: 400, Outcome: "dead_lettered", Error: "400", URL: "https://x/", ReplayID: "rpl_old"}},
	}, nil
}

// Records lists the one dead letter at 0/7, as pkg/dlq does: the topic
// has partitions 0 and 1.
func (f *fakeDLQ) Records(ctx context.Context, b dlq.Browse) (*dlq.Page, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	full, err := checkTopic(b.Topic)
	if err != nil {
		return nil, err
	}
	if b.Partition != nil && *b.Partition > 1 {
		return nil, &dlq.InvalidError{Field: "partition", Message: fmt.Sprintf("%s has no partition %d (it has 2)", full, *b.Partition)}
	}
	pg := &dlq.Page{Topic: full, Records: []*dlq.Record{}}
	if (b.Partition == nil || *b.Partition == 0) && (b.FromOffset == nil || *b.FromOffset <= 7) {
		rec, err := f.Record(ctx, full, 0, 7)
		if err != nil {
			return nil, err
		}
		pg.Records = append(pg.Records, rec)
	}
	return pg, nil
}

// plan answers like pkg/dlq: a bad filter is invalid, deliveries of
// sub_gone are refused.
func (f *fakeDLQ) plan(sel dlq.Selection, each func(dlq.Planned)) (*dlq.Plan, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	full, err := checkTopic(sel.Topic)
	if err != nil {
		return nil, err
	}
	if strings.Contains(sel.Filter, "(") {
		return nil, &dlq.InvalidError{Field: "filter", Message: "filter: line 1, column 5: syntax error"}
	}
	pl := &dlq.Plan{Topic: full, Examined: 2, Selected: 2, Partitions: []dlq.PlanPartition{{Partition: 0, From: 0, End: 2, Selected: 2}},
		ByTarget: map[string]int64{"commerce.deliveries": 2}, BySubscription: map[string]int64{"sub_a": 2}, Skipped: map[string]int64{}}
	if sel.Subscription == "sub_gone" {
		pl.DeletedSubscriptions = map[string]int64{"sub_gone": 2}
		return pl, &dlq.RefusedError{Deleted: pl.DeletedSubscriptions}
	}
	for i := range 2 {
		if each != nil {
			each(dlq.Planned{Partition: 0, Offset: int64(i), Timestamp: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), Key: "sub_a/order:1",
				EventID: "ev" + fmt.Sprint(i), Subscription: "sub_a", Class: "rejected", Target: "commerce.deliveries", ReplayCount: 1})
		}
	}
	return pl, nil
}

func (f *fakeDLQ) Plan(_ context.Context, sel dlq.Selection, each func(dlq.Planned), _ func(dlq.Progress)) (*dlq.Plan, error) {
	return f.plan(sel, each)
}

func (f *fakeDLQ) Start(_ context.Context, sel dlq.Selection) (dlq.Status, error) {
	pl, err := f.plan(sel, nil)
	if err != nil {
		return dlq.Status{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sel.Topic = pl.Topic
	eta := 2.0
	st := dlq.Status{ID: fmt.Sprintf("rpl_test%d", f.seq), State: dlq.StateRunning, Selection: sel, Total: pl.Selected, Running: true,
		Partitions: []dlq.PartitionPosition{{Partition: 0, From: 0, End: 2, Next: 0}}, CreatedAt: now, UpdatedAt: now, RatePerSecond: 1, ETASeconds: &eta}
	f.replays[st.ID] = st
	return st, nil
}

func (f *fakeDLQ) lookup(id string) (dlq.Status, error) {
	if f.fail != nil {
		return dlq.Status{}, f.fail
	}
	st, ok := f.replays[id]
	if !ok {
		return dlq.Status{}, fmt.Errorf("replay %s: %w", id, dlq.ErrNotFound)
	}
	return st, nil
}

func (f *fakeDLQ) ResumeBackground(_ context.Context, id string) (dlq.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.lookup(id)
	if err != nil {
		return st, err
	}
	if st.State == dlq.StateDone || st.Running {
		return dlq.Status{}, fmt.Errorf("replay %s is %s: %w", id, st.State, dlq.ErrConflict)
	}
	st.State, st.Running = dlq.StateRunning, true
	f.replays[id] = st
	return st, nil
}

func (f *fakeDLQ) Stop(_ context.Context, id string) (dlq.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.lookup(id)
	if err != nil {
		return st, err
	}
	if !st.Running {
		return dlq.Status{}, fmt.Errorf("replay %s is not running here: %w", id, dlq.ErrConflict)
	}
	st.State, st.Running, st.RatePerSecond, st.ETASeconds = dlq.StateStopped, false, 0, nil
	f.replays[id] = st
	return st, nil
}

func (f *fakeDLQ) Get(_ context.Context, id string) (dlq.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookup(id)
}

func (f *fakeDLQ) List(context.Context) ([]dlq.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	out := make([]dlq.Status, 0, len(f.replays))
	for _, st := range f.replays {
		out = append(out, st)
	}
	return out, nil
}

var _ admin.DLQ = (*fakeDLQ)(nil)
var _ admin.DLQ = (*dlq.Service)(nil)

// TestDLQRoutesWithoutADLQ: an admin process without Kafka access to the
// dead-letter topics answers their routes 503, not 404.
func TestDLQRoutesWithoutADLQ(t *testing.T) {
	e := newEnv(t, admin.Config{})
	api, err := admin.New(admin.Config{Token: token}, admin.Deps{Subscriptions: e.subs, Sources: e.sources, EventTypes: e.types, Catalog: e.catalog})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Mount(mux)
	req, _ := http.NewRequest("GET", "/v1/dlq/stats", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "dead-letter") {
		t.Fatalf("GET /v1/dlq/stats without a DLQ: %d %s", rec.Code, rec.Body.String())
	}
}

// TestDLQErrorsMapToStatuses checks the mapping of pkg/dlq's errors.
func TestDLQErrorsMapToStatuses(t *testing.T) {
	e := newEnv(t, admin.Config{})
	tests := []struct {
		name, method, path, body string
		want                     int
		wantField, wantMsg       string
	}{
		{name: "bad topic", method: "GET", path: "/v1/dlq/stats?topic=commerce.nope", want: 400, wantField: "topic"},
		{name: "bad filter", method: "POST", path: "/v1/dlq/replays", body: `{"filter":"a(","dry_run":true}`, want: 422, wantField: "filter"},
		{name: "deleted subscription", method: "POST", path: "/v1/dlq/replays", body: `{"subscription":"sub_gone"}`, want: 409, wantMsg: "sub_gone"},
		{name: "missing record", method: "GET", path: "/v1/dlq/records/0/99", want: 404},
		{name: "bad offset", method: "GET", path: "/v1/dlq/records/0/x", want: 400, wantField: "offset"},
		{name: "resume done", method: "POST", path: "/v1/dlq/replays/rpl_done/resume", want: 409},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.srv.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+token)
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct {
				Error struct{ Code, Message, Field string } `json:"error"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&out)
			if resp.StatusCode != tc.want || out.Error.Field != tc.wantField || !strings.Contains(out.Error.Message, tc.wantMsg) {
				t.Fatalf("%d %+v, want %d field %q message with %q", resp.StatusCode, out.Error, tc.want, tc.wantField, tc.wantMsg)
			}
		})
	}
}
