package trace

import (
	"strings"
	"testing"
	"time"

	"github.com/segmentio/ksuid"

	"github.com/surgehq/surge/pkg/event"
)

// TestSummarize pins what each combination of facts about one
// subscription's delivery comes to.
func TestSummarize(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	next := at(60)
	delivery := Step{Time: at(0), Stage: StageFanout, Kind: KindDelivery, SubscriptionID: "sub_a", DeliveryID: "msg_1"}
	attempt := func(s int, n int32, status int32, outcome string) Step {
		st := Step{Time: at(s), Stage: StageDispatcher, Kind: KindAttempt, SubscriptionID: "sub_a", DeliveryID: "msg_1",
			Attempt: n, Status: status, Outcome: outcome}
		if outcome == event.OutcomeRetry {
			st.NextAttemptAt = &next
		}
		return st
	}
	parked := Step{Time: at(2), Stage: StageDispatcher, Kind: KindParked, SubscriptionID: "sub_a", DeliveryID: "msg_1", Attempts: 1}
	dlq := Step{Time: at(9), Stage: StageDispatcher, Kind: KindDeadLetter, SubscriptionID: "sub_a", DeliveryID: "msg_1", Attempts: 3,
		DeadLetter: &DeadLetter{Stage: "dispatcher", Class: "exhausted", HTTPStatus: "503", Error: "boom"}}
	active := map[string]subState{"sub_a": {Found: true, Enabled: true}}

	tests := []struct {
		name         string
		in           []Step
		subs         map[string]subState
		want         string
		wantAttempts int32
		wantDetail   string
	}{
		{name: "delivery only", in: []Step{delivery}, subs: active, want: ResultPending, wantDetail: "waiting for the dispatcher"},
		{name: "delivered after a retry", in: []Step{delivery, attempt(1, 1, 503, event.OutcomeRetry), attempt(2, 2, 200, event.OutcomeDelivered)},
			subs: active, want: ResultDelivered, wantAttempts: 2, wantDetail: "HTTP 200 on attempt 2"},
		{name: "retrying", in: []Step{delivery, attempt(1, 1, 503, event.OutcomeRetry)}, subs: active,
			want: ResultRetrying, wantAttempts: 1, wantDetail: "attempt 1 got HTTP 503, next attempt at 2025-06-01T10:01:00.000Z"},
		{name: "retrying, parked", in: []Step{delivery, attempt(1, 1, 0, event.OutcomeRetry), parked}, subs: active,
			want: ResultRetrying, wantAttempts: 1, wantDetail: "attempt 1 got no response"},
		{name: "retrying on a paused subscription is held", in: []Step{delivery, attempt(1, 1, 503, event.OutcomeRetry)},
			subs: map[string]subState{"sub_a": {Found: true, Enabled: true, Paused: true}}, want: ResultHeld, wantAttempts: 1, wantDetail: "subscription paused"},
		{name: "disabled by a 410", in: []Step{delivery, attempt(1, 1, 410, event.OutcomeHeld)},
			subs: map[string]subState{"sub_a": {Found: true, DisabledReason: "410 Gone"}}, want: ResultHeld, wantAttempts: 1, wantDetail: "HTTP 410"},
		{name: "not tried on a disabled subscription", in: []Step{delivery, parked},
			subs: map[string]subState{"sub_a": {Found: true, DisabledReason: "by an operator"}}, want: ResultHeld, wantAttempts: 1, wantDetail: "disabled: by an operator"},
		{name: "dead-lettered", in: []Step{delivery, attempt(1, 1, 503, event.OutcomeRetry), attempt(8, 3, 503, event.OutcomeDeadLettered), dlq},
			subs: active, want: ResultDeadLettered, wantAttempts: 3, wantDetail: "class exhausted HTTP 503"},
		{name: "deleted subscription", in: []Step{delivery}, subs: map[string]subState{"sub_a": {Found: true, Deleted: true}},
			want: ResultPending, wantDetail: "deleted"},
		{name: "delivered wins over a later held subscription", in: []Step{delivery, attempt(1, 1, 200, event.OutcomeDelivered)},
			subs: map[string]subState{"sub_a": {Found: true, Paused: true}}, want: ResultDelivered, wantAttempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(tt.in, tt.subs)
			if len(got) != 1 {
				t.Fatalf("%d summary lines, want 1: %+v", len(got), got)
			}
			s := got[0]
			if s.Result != tt.want || s.Attempts != tt.wantAttempts || s.SubscriptionID != "sub_a" || s.DeliveryID != "msg_1" || !strings.Contains(s.Detail, tt.wantDetail) {
				t.Fatalf("summary %+v: want %s after %d attempts, detail containing %q", s, tt.want, tt.wantAttempts, tt.wantDetail)
			}
		})
	}
}

func TestFrom(t *testing.T) {
	now := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	k, err := ksuid.NewRandomWithTime(now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	future, err := ksuid.NewRandomWithTime(now.Add(48 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string
		want time.Time
	}{
		{name: "ksuid", in: k.String(), want: now.Add(-time.Hour - time.Minute)},
		{name: "not a ksuid", in: "evt-100012", want: time.Time{}},
		{name: "a ksuid from the future", in: future.String(), want: time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := From(tt.in, now); !got.Equal(tt.want) {
				t.Fatalf("From(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}
