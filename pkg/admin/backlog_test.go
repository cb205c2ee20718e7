package admin_test

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/admin"
	"github.com/surgehq/surge/pkg/backlog"
)

// fakeBacklog is the dispatchers' backlog reports. Unless a test sets
// reports, every subscription has a fresh report from instance
// dispatcher-1, so the OpenAPI test sees the whole "backlog" object.
type fakeBacklog struct {
	e       *env
	mu      sync.Mutex
	reports []backlog.Report
	set     bool
}

func (f *fakeBacklog) List() []backlog.Report {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set {
		return f.reports
	}
	now := f.e.clock.Now()
	var out []backlog.Report
	for _, s := range f.e.subs.List() {
		out = append(out, backlog.Report{Subscription: s.ID, Instance: "dispatcher-1", InMemory: 3, InRetryTopic: 40,
			Oldest: now.Add(-time.Minute), PerSecond: 2.5, ReportedAt: now, Every: 5 * time.Second, Breaker: "open"})
	}
	return out
}

func (f *fakeBacklog) Set(r ...backlog.Report) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports, f.set = r, true
}

// TestSubscriptionBacklog: GET /v1/subscriptions/{id} sums the fresh
// reports of that subscription, leaves out a stale one (a killed
// instance's) and other subscriptions', says none when nothing counts, and
// a PATCH naming backlog is refused as read-only.
func TestSubscriptionBacklog(t *testing.T) {
	e := newEnv(t, admin.Config{})
	id, _ := e.create(validCreate)["id"].(string)
	now := e.clock.Now()
	every := 5 * time.Second
	e.backlog.Set(
		backlog.Report{Subscription: id, Instance: "d2", InMemory: 10, InRetryTopic: 100, Oldest: now.Add(-30 * time.Second), PerSecond: 4, ReportedAt: now.Add(-5 * time.Second), Every: every},
		backlog.Report{Subscription: id, Instance: "d1", InMemory: 5, Oldest: now.Add(-90 * time.Second), PerSecond: 1.5, ReportedAt: now, Every: every},
		backlog.Report{Subscription: id, Instance: "killed", InMemory: 999, ReportedAt: now.Add(-21 * time.Second), Every: every},
		backlog.Report{Subscription: "sub_other", Instance: "d1", InMemory: 7, ReportedAt: now, Every: every},
	)
	get := func() backlog.Summary {
		t.Helper()
		r := e.do("GET", "/v1/subscriptions/"+id, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET: %d %s", r.status, r.body)
		}
		var v struct {
			Backlog *backlog.Summary `json:"backlog"`
		}
		if err := json.Unmarshal(r.body, &v); err != nil || v.Backlog == nil {
			t.Fatalf("GET body %s: %v", r.body, err)
		}
		return *v.Backlog
	}
	b := get()
	if b.InMemory != 15 || b.InRetryTopic != 100 || b.DeliveriesPerSecond != 5.5 || len(b.Instances) != 2 ||
		b.Instances[0].Instance != "d1" || b.Instances[1].Instance != "d2" {
		t.Errorf("backlog %+v: want d1 and d2 summed, the killed instance's stale report and sub_other's left out", b)
	}
	if b.Oldest == nil || !b.Oldest.Equal(now.Add(-90*time.Second)) || b.OldestAgeSeconds == nil || *b.OldestAgeSeconds != 90 {
		t.Errorf("oldest %v, age %v; want 90 s ago", b.Oldest, b.OldestAgeSeconds)
	}

	// 16 s later d2's report is stale too (21 s > 4 × 5 s), d1's not
	// yet; 5 s more, and d1's is.
	e.clock.Advance(16 * time.Second)
	if b := get(); b.InMemory != 5 || len(b.Instances) != 1 || b.Instances[0].Instance != "d1" {
		t.Errorf("after 16 s: %+v, want only d1's report", b)
	}
	e.clock.Advance(5 * time.Second)
	if b := get(); !b.None() || b.Instances == nil || b.Waiting() != 0 {
		t.Errorf("after every report is stale: %+v, want none (an empty instance list)", b)
	}

	e.do("PATCH", "/v1/subscriptions/"+id, `{"backlog":{"in_memory":0}}`).wantError(t, http.StatusBadRequest, "invalid", "backlog", "read-only")
}
