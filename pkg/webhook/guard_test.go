package webhook_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/webhook"
)

// fakeClock is the rate limiter's injected clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var (
	retry     = webhook.Result{Outcome: webhook.Retry}
	delivered = webhook.Result{Outcome: webhook.Delivered}
)

// attempt passes one attempt with result r through the breaker.
func attempt(t *testing.T, g *webhook.Guard, r webhook.Result) {
	t.Helper()
	done, err := g.Allow()
	if err != nil {
		t.Fatalf("Allow: %v (breaker %s)", err, g.State())
	}
	done(r)
}

func TestBreakerOpensAfterFiveRetryOutcomes(t *testing.T) {
	g := webhook.NewGuard(event.Subscription{ID: "sub_1"}, webhook.GuardConfig{CoolDown: time.Hour})
	for i := range 4 {
		attempt(t, g, retry)
		if g.State() != webhook.Closed {
			t.Fatalf("after %d retry outcomes the breaker is %s, want closed", i+1, g.State())
		}
	}
	before := time.Now()
	attempt(t, g, retry)
	if g.State() != webhook.Open {
		t.Fatalf("after 5 retry outcomes the breaker is %s, want open", g.State())
	}
	for range 3 {
		done, err := g.Allow()
		if done != nil || !errors.Is(err, webhook.ErrOpen) {
			t.Fatalf("Allow on an open breaker = %v, want ErrOpen", err)
		}
		var oe *webhook.OpenError
		if !errors.As(err, &oe) || oe.Until.Before(before.Add(time.Hour)) || oe.Until.After(time.Now().Add(time.Hour)) {
			t.Fatalf("Allow error %#v, want an *OpenError until the cool-down ends", err)
		}
	}
}

func TestBreakerCountsOnlyRetryOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		results []webhook.Result
		want    webhook.BreakerState
	}{
		{"rejects are answers", repeat(webhook.Result{Outcome: webhook.Reject}, 20), webhook.Closed},
		{"gone is an answer", repeat(webhook.Result{Outcome: webhook.Gone}, 20), webhook.Closed},
		{"a success resets the run", concat(repeat(retry, 4), []webhook.Result{delivered}, repeat(retry, 4)), webhook.Closed},
		{"a reject resets the run", concat(repeat(retry, 4), []webhook.Result{{Outcome: webhook.Reject}}, repeat(retry, 4)), webhook.Closed},
		{"refused counts for nothing", concat(repeat(retry, 4), repeat(webhook.Result{Outcome: webhook.Refused}, 3), repeat(retry, 1)), webhook.Open},
		{"refused alone does not open", repeat(webhook.Result{Outcome: webhook.Refused}, 20), webhook.Closed},
		{"a canceled attempt counts for nothing", concat(repeat(retry, 4), repeat(webhook.Result{Outcome: webhook.Retry, Err: webhook.ErrCanceled}, 10)), webhook.Closed},
		{"no attempt counts for nothing", concat(repeat(retry, 4), repeat(webhook.Result{}, 3), repeat(retry, 1)), webhook.Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := webhook.NewGuard(event.Subscription{ID: "sub_1"}, webhook.GuardConfig{CoolDown: time.Hour})
			for _, r := range tt.results {
				attempt(t, g, r)
			}
			if g.State() != tt.want {
				t.Errorf("breaker is %s, want %s", g.State(), tt.want)
			}
		})
	}
}

func TestBreakerThresholdConfigurable(t *testing.T) {
	g := webhook.NewGuard(event.Subscription{ID: "sub_1"}, webhook.GuardConfig{FailureThreshold: 2, CoolDown: time.Hour})
	attempt(t, g, retry)
	attempt(t, g, retry)
	if g.State() != webhook.Open {
		t.Errorf("breaker is %s after 2 failures with threshold 2", g.State())
	}
}

func TestBreakerDoneCountsOnce(t *testing.T) {
	g := webhook.NewGuard(event.Subscription{ID: "sub_1"}, webhook.GuardConfig{CoolDown: time.Hour})
	done, err := g.Allow()
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		done(retry)
	}
	if g.State() != webhook.Closed {
		t.Errorf("one attempt reported ten times opened the breaker")
	}
}

func TestBreakerHalfOpenProbe(t *testing.T) {
	for _, tt := range []struct {
		name  string
		probe webhook.Result
		want  webhook.BreakerState
	}{
		{"a successful probe closes it", delivered, webhook.Closed},
		{"a reject is an answer and closes it", webhook.Result{Outcome: webhook.Reject}, webhook.Closed},
		{"a failed probe opens it again", retry, webhook.Open},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var transitions []string
			const coolDown = 20 * time.Millisecond
			g := webhook.NewGuard(event.Subscription{ID: "sub_1"}, webhook.GuardConfig{
				CoolDown: coolDown,
				OnStateChange: func(id string, from, to webhook.BreakerState) {
					mu.Lock()
					transitions = append(transitions, id+":"+string(from)+"->"+string(to))
					mu.Unlock()
				},
			})
			for range 5 {
				attempt(t, g, retry)
			}
			if g.State() == webhook.Closed {
				t.Fatal("five retry outcomes left the breaker closed")
			}
			done := waitAllowed(t, g)
			// The probe is in flight: nobody else goes.
			_, err := g.Allow()
			var oe *webhook.OpenError
			if !errors.As(err, &oe) || !oe.Until.IsZero() {
				t.Fatalf("Allow during the probe = %v, want an *OpenError with no Until", err)
			}
			done(tt.probe)
			if g.State() != tt.want {
				t.Fatalf("after the probe the breaker is %s, want %s", g.State(), tt.want)
			}
			want := []string{"sub_1:closed->open", "sub_1:open->half-open", "sub_1:half-open->" + string(tt.want)}
			mu.Lock()
			defer mu.Unlock()
			if len(transitions) != len(want) {
				t.Fatalf("transitions %v, want %v", transitions, want)
			}
			for i := range want {
				if transitions[i] != want[i] {
					t.Fatalf("transitions %v, want %v", transitions, want)
				}
			}
		})
	}
}

// waitAllowed polls Allow until the cool-down is over.
func waitAllowed(t *testing.T, g *webhook.Guard) func(webhook.Result) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		done, err := g.Allow()
		if err == nil {
			return done
		}
		if time.Now().After(deadline) {
			t.Fatalf("the breaker never let a probe through: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGuardUpdateKeepsBreakerState(t *testing.T) {
	sub := event.Subscription{ID: "sub_1", RateLimitPerS: 10, MaxInFlight: 4}
	g := webhook.NewGuard(sub, webhook.GuardConfig{CoolDown: time.Hour})
	for range 5 {
		attempt(t, g, retry)
	}
	sub.RateLimitPerS, sub.MaxInFlight = 0, 10
	g.Update(sub)
	if _, err := g.Allow(); !errors.Is(err, webhook.ErrOpen) {
		t.Errorf("after Update Allow = %v, want the breaker still open", err)
	}
}

func reserveDelays(g *webhook.Guard, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i], _ = g.Reserve()
	}
	return out
}

func TestRateLimit(t *testing.T) {
	tests := []struct {
		name  string
		rate  float64
		n     int
		delay func(i int) time.Duration // the wanted delay of reservation i
	}{
		{"unlimited", 0, 1000, func(int) time.Duration { return 0 }},
		{"10/s: a burst of 10, then one every 100ms", 10, 20, func(i int) time.Duration {
			return time.Duration(max(0, i-9)) * 100 * time.Millisecond
		}},
		{"2.5/s: a burst of 3, then one every 400ms", 2.5, 6, func(i int) time.Duration {
			return time.Duration(max(0, i-2)) * 400 * time.Millisecond
		}},
		{"0.5/s: a burst of 1, then one every 2s", 0.5, 3, func(i int) time.Duration {
			return time.Duration(i) * 2 * time.Second
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			g := webhook.NewGuard(event.Subscription{ID: "sub_1", RateLimitPerS: tt.rate}, webhook.GuardConfig{Now: clock.Now})
			for i, got := range reserveDelays(g, tt.n) {
				if want := tt.delay(i); !near(got, want) {
					t.Errorf("reservation %d: delay %s, want %s", i, got, want)
				}
			}
		})
	}
}

func TestRateLimitRefillsWithTheClock(t *testing.T) {
	clock := newFakeClock()
	g := webhook.NewGuard(event.Subscription{ID: "sub_1", RateLimitPerS: 10}, webhook.GuardConfig{Now: clock.Now})
	delays := reserveDelays(g, 20)
	if !near(delays[19], time.Second) {
		t.Fatalf("20 requests at 10/s: the last waits %s, want 1s", delays[19])
	}
	clock.Advance(time.Second) // every reserved request has gone
	if d, _ := g.Reserve(); !near(d, 100*time.Millisecond) {
		t.Errorf("next reservation waits %s, want 100ms", d)
	}
	clock.Advance(10 * time.Second) // the bucket refills, up to the burst
	for i, d := range reserveDelays(g, 11) {
		if want := time.Duration(max(0, i-9)) * 100 * time.Millisecond; !near(d, want) {
			t.Errorf("after a pause, reservation %d waits %s, want %s", i, d, want)
		}
	}
}

func TestRateLimitCancelGivesTheTokenBack(t *testing.T) {
	clock := newFakeClock()
	g := webhook.NewGuard(event.Subscription{ID: "sub_1", RateLimitPerS: 1}, webhook.GuardConfig{Now: clock.Now})
	g.Reserve()
	d, cancel := g.Reserve()
	if !near(d, time.Second) {
		t.Fatalf("second reservation waits %s, want 1s", d)
	}
	cancel()
	if d, _ := g.Reserve(); !near(d, time.Second) {
		t.Errorf("after a cancel the next reservation waits %s, want 1s", d)
	}
}

func TestRateLimitUpdate(t *testing.T) {
	clock := newFakeClock()
	sub := event.Subscription{ID: "sub_1", RateLimitPerS: 10}
	g := webhook.NewGuard(sub, webhook.GuardConfig{Now: clock.Now})
	reserveDelays(g, 11) // the burst and one more: one token owed

	sub.RateLimitPerS = 1
	g.Update(sub)
	// The owed token is kept: two tokens at 1/s.
	if d, _ := g.Reserve(); !near(d, 2*time.Second) {
		t.Errorf("after lowering to 1/s the next reservation waits %s, want 2s", d)
	}

	sub.RateLimitPerS = 0
	g.Update(sub)
	for i, d := range reserveDelays(g, 100) {
		if d != 0 {
			t.Fatalf("unlimited after Update: reservation %d waits %s", i, d)
		}
	}
}

func TestGuardWait(t *testing.T) {
	g := webhook.NewGuard(event.Subscription{ID: "sub_1", RateLimitPerS: 1}, webhook.GuardConfig{})
	if err := g.Wait(context.Background()); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := g.Wait(ctx); err == nil {
		t.Fatal("Wait for a token a second away returned nil within a 10ms deadline")
	}
	// The failed Wait gave its token back: a reservation now waits about
	// one interval, not two.
	if d, _ := g.Reserve(); d > 1100*time.Millisecond {
		t.Errorf("after a failed Wait a reservation waits %s, want at most ~1s", d)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	if err := g.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait canceled while waiting = %v, want context.Canceled", err)
	}
}

func TestGuardWaitWaits(t *testing.T) {
	g := webhook.NewGuard(event.Subscription{ID: "sub_1", RateLimitPerS: 50}, webhook.GuardConfig{})
	reserveDelays(g, 50) // the whole burst: each Wait below has a delay
	for range 3 {
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGuardInFlight(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	sub := event.Subscription{ID: "sub_1", MaxInFlight: 2}
	g := webhook.NewGuard(sub, webhook.GuardConfig{})

	r1 := mustAcquire(t, g)
	r2 := mustAcquire(t, g)
	if _, err := g.Acquire(canceled); !errors.Is(err, context.Canceled) {
		t.Fatalf("third Acquire with max_in_flight 2 = %v, want it to block", err)
	}

	// A blocked Acquire goes when a slot frees.
	got := make(chan func(), 1)
	go func() {
		release, err := g.Acquire(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- release
	}()
	r1()
	r1() // a second release is ignored
	var r3 func()
	select {
	case r3 = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("a blocked Acquire did not get the freed slot")
	}
	if _, err := g.Acquire(canceled); err == nil {
		t.Fatal("a double release freed two slots")
	}

	// Raising the bound lets more in at once; lowering it holds new ones
	// until the requests in flight are under it.
	sub.MaxInFlight = 3
	g.Update(sub)
	r4 := mustAcquire(t, g)
	sub.MaxInFlight = 1
	g.Update(sub)
	r2()
	r3()
	if _, err := g.Acquire(canceled); err == nil {
		t.Fatal("Acquire succeeded with 1 in flight and max_in_flight 1")
	}
	r4()
	mustAcquire(t, g)
}

func TestGuardInFlightDefault(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		cfg  webhook.GuardConfig
		want int
	}{
		{webhook.GuardConfig{}, webhook.DefaultMaxInFlight},
		{webhook.GuardConfig{MaxInFlight: 3}, 3},
	} {
		g := webhook.NewGuard(event.Subscription{ID: "sub_1"}, tt.cfg)
		for range tt.want {
			mustAcquire(t, g)
		}
		if _, err := g.Acquire(canceled); err == nil {
			t.Errorf("max_in_flight 0 with config %d: slot %d granted", tt.cfg.MaxInFlight, tt.want+1)
		}
	}
}

func mustAcquire(t *testing.T, g *webhook.Guard) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a free slot is taken without waiting
	release, err := g.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return release
}

func near(got, want time.Duration) bool {
	d := got - want
	return d > -time.Millisecond && d < time.Millisecond
}

func repeat(r webhook.Result, n int) []webhook.Result {
	out := make([]webhook.Result, n)
	for i := range out {
		out[i] = r
	}
	return out
}

func concat(parts ...[]webhook.Result) []webhook.Result {
	var out []webhook.Result
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestFailingSince: the run of retryable failures starts at the first
// Retry after a success and keeps that start through further failures;
// an answer (a success, a reject, a 410) ends it; refused, canceled and
// unmade attempts neither start nor end it.
func TestFailingSince(t *testing.T) {
	clock := newFakeClock()
	g := webhook.NewGuard(event.Subscription{ID: "sub_1"}, webhook.GuardConfig{CoolDown: time.Hour, FailureThreshold: 1000, Now: clock.Now})
	if !g.FailingSince().IsZero() {
		t.Fatalf("a new guard is failing since %v", g.FailingSince())
	}
	attempt(t, g, webhook.Result{Outcome: webhook.Refused})
	attempt(t, g, webhook.Result{Outcome: webhook.Retry, Err: webhook.ErrCanceled})
	if !g.FailingSince().IsZero() {
		t.Fatalf("failing since %v after only refused and canceled attempts", g.FailingSince())
	}
	start := clock.Now()
	attempt(t, g, retry)
	clock.Advance(time.Hour)
	attempt(t, g, retry)
	attempt(t, g, webhook.Result{})
	attempt(t, g, webhook.Result{Outcome: webhook.Refused})
	if got := g.FailingSince(); !got.Equal(start) {
		t.Fatalf("failing since %v, want the first failure's %v", got, start)
	}
	for _, answer := range []webhook.Outcome{webhook.Delivered, webhook.Reject, webhook.Gone} {
		attempt(t, g, retry)
		attempt(t, g, webhook.Result{Outcome: answer})
		if !g.FailingSince().IsZero() {
			t.Errorf("still failing since %v after a %s", g.FailingSince(), answer)
		}
	}
	clock.Advance(time.Minute)
	attempt(t, g, retry)
	if got := g.FailingSince(); !got.Equal(clock.Now()) {
		t.Errorf("a new run of failures starts at %v, want %v", got, clock.Now())
	}
}
