package webhook

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"

	"github.com/surgehq/surge/pkg/event"
)

// Defaults of a Guard.
const (
	DefaultFailureThreshold = 5
	DefaultCoolDown         = 30 * time.Second
	DefaultMaxInFlight      = 64
)

// ErrOpen is what an open circuit breaker answers; Guard.Allow returns it
// as an *OpenError. No request was made: do not count an attempt.
var ErrOpen = errors.New("circuit breaker open")

// OpenError is Guard.Allow's refusal. errors.Is(err, ErrOpen) holds.
type OpenError struct {
	// Until is when the breaker lets a probe through, or zero when it is
	// half-open and its one probe is still in flight.
	Until time.Time
}

func (e *OpenError) Error() string {
	if e.Until.IsZero() {
		return ErrOpen.Error() + ": a probe request is in flight"
	}
	return fmt.Sprintf("%s until %s", ErrOpen, e.Until.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrOpen) true.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// BreakerState is the state of a Guard's circuit breaker.
type BreakerState string

// Breaker states.
const (
	Closed   BreakerState = "closed"
	HalfOpen BreakerState = "half-open"
	Open     BreakerState = "open"
)

func breakerState(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateOpen:
		return Open
	case gobreaker.StateHalfOpen:
		return HalfOpen
	}
	return Closed
}

// GuardConfig configures the Guards of a dispatcher. Zero values mean the
// defaults.
type GuardConfig struct {
	// FailureThreshold is how many Retry outcomes in a row open the
	// breaker; 5.
	FailureThreshold uint32
	// CoolDown is how long an open breaker refuses before letting one
	// probe through; 30 s.
	CoolDown time.Duration
	// MaxInFlight bounds the requests in flight of a subscription whose
	// max_in_flight is 0; 64.
	MaxInFlight int
	// Now is the rate limiter's clock; time.Now when nil. (The breaker
	// keeps time with time.Now.)
	Now func() time.Time
	// OnStateChange, when set, is called with the subscription id on
	// every breaker transition, under the breaker's lock: it must not call
	// back into the Guard.
	OnStateChange func(subscriptionID string, from, to BreakerState)
}

// Guard protects one endpoint: a circuit breaker that stops sending after
// a run of retryable failures, a rate limit, and a bound on requests in
// flight. The dispatcher holds one per subscription id and, for each
// attempt, calls Allow, then Acquire, then Wait (or Reserve), then
// Sender.Send, then done(result) and release(). A Guard is safe for
// concurrent use.
type Guard struct {
	id       string
	cfg      GuardConfig
	breaker  *gobreaker.TwoStepCircuitBreaker[struct{}]
	openedAt atomic.Int64 // UnixNano of the last transition to open
	// failingSince is the UnixNano of the first retryable failure after
	// the last success; 0 while the endpoint answers.
	failingSince atomic.Int64
	limiter      *rate.Limiter
	slots        slots
}

// NewGuard returns the Guard of sub with a closed breaker and a full
// rate-limit burst.
func NewGuard(sub event.Subscription, cfg GuardConfig) *Guard {
	if cfg.FailureThreshold == 0 {
		cfg.FailureThreshold = DefaultFailureThreshold
	}
	if cfg.CoolDown <= 0 {
		cfg.CoolDown = DefaultCoolDown
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Guard{id: sub.ID, cfg: cfg}
	g.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        sub.ID,
		MaxRequests: 1,
		Timeout:     cfg.CoolDown,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= cfg.FailureThreshold
		},
		IsExcluded: func(err error) bool { return err == errNotCounted },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				g.openedAt.Store(time.Now().UnixNano())
			}
			if cfg.OnStateChange != nil {
				cfg.OnStateChange(g.id, breakerState(from), breakerState(to))
			}
		},
	})
	limit, burst := rateOf(sub.RateLimitPerS)
	g.limiter = rate.NewLimiter(limit, burst)
	g.slots.limit = g.maxInFlight(sub.MaxInFlight)
	return g
}

// Update applies sub's changed rate limit and max_in_flight. The
// breaker's state and the limiter's tokens are kept. Requests in flight
// above a lowered bound finish; new ones wait until they are under it.
func (g *Guard) Update(sub event.Subscription) {
	now := g.cfg.Now()
	limit, burst := rateOf(sub.RateLimitPerS)
	g.limiter.SetLimitAt(now, limit)
	g.limiter.SetBurstAt(now, burst)
	g.slots.setLimit(g.maxInFlight(sub.MaxInFlight))
}

func (g *Guard) maxInFlight(n int32) int {
	if n <= 0 {
		return g.cfg.MaxInFlight
	}
	return int(n)
}

// rateOf is a rate_limit_per_s as a limit and burst: 0 (or less) is
// unlimited; the burst is the rate rounded up, at least 1.
func rateOf(perS float64) (rate.Limit, int) {
	if perS <= 0 || math.IsNaN(perS) || math.IsInf(perS, 0) {
		return rate.Inf, 1
	}
	return rate.Limit(perS), int(max(1, math.Ceil(perS)))
}

// State is the breaker's state now.
func (g *Guard) State() BreakerState { return breakerState(g.breaker.State()) }

// errFailure and errNotCounted tell the breaker how an attempt went.
var (
	errFailure    = errors.New("retryable failure")
	errNotCounted = errors.New("not counted")
)

// Allow asks the breaker whether an attempt may be made. When it may, call
// done exactly once with the attempt's Result: a Retry outcome counts as
// a failure; Delivered, Reject and Gone as a success (the endpoint
// answered); Refused, a Result whose Err wraps ErrCanceled, and a zero
// Result (no attempt was made after all) count for nothing. Calls after
// the first are ignored. When the breaker is open, or half-open with its
// probe in flight, err is an *OpenError and no attempt may be made.
func (g *Guard) Allow() (done func(Result), err error) {
	report, err := g.breaker.Allow()
	if err != nil {
		if errors.Is(err, gobreaker.ErrOpenState) {
			until := time.Unix(0, g.openedAt.Load()).Add(g.cfg.CoolDown)
			return nil, &OpenError{Until: until}
		}
		return nil, &OpenError{}
	}
	var once atomic.Bool
	return func(r Result) {
		if once.Swap(true) {
			return
		}
		verdict := breakerVerdict(r)
		switch verdict {
		case errFailure:
			g.failingSince.CompareAndSwap(0, g.cfg.Now().UnixNano())
		case nil:
			g.failingSince.Store(0)
		}
		report(verdict)
	}, nil
}

// FailingSince is when the endpoint's current run of retryable failures
// began: the first Retry outcome reported to a done after the last
// success (Delivered, Reject or Gone). It is zero while the endpoint
// answers, and counts only the attempts of this Guard, so of this
// process.
func (g *Guard) FailingSince() time.Time {
	ns := g.failingSince.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func breakerVerdict(r Result) error {
	switch {
	case r.Outcome == Retry && !errors.Is(r.Err, ErrCanceled):
		return errFailure
	case r.Outcome == Delivered, r.Outcome == Reject, r.Outcome == Gone:
		return nil
	}
	return errNotCounted
}

// Acquire takes one of the subscription's in-flight slots, blocking until
// one is free or ctx ends (then it returns ctx's error and holds nothing).
// Call release exactly once when the attempt is over; later calls are
// ignored.
func (g *Guard) Acquire(ctx context.Context) (release func(), err error) {
	if err := g.slots.acquire(ctx); err != nil {
		return nil, err
	}
	var once atomic.Bool
	return func() {
		if !once.Swap(true) {
			g.slots.release()
		}
	}, nil
}

// Wait blocks until the rate limit lets one request go, or returns an
// error without waiting when ctx ends first or its deadline is too close
// to wait it out.
func (g *Guard) Wait(ctx context.Context) error {
	delay, cancel := g.Reserve()
	if delay == 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && dl.Sub(g.cfg.Now()) < delay {
		cancel()
		return fmt.Errorf("waiting for the rate limit: %s exceeds the context deadline", delay)
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		cancel()
		return ctx.Err()
	}
}

// Reserve takes the rate limit's next token without blocking: the request
// may go after delay (0: now). Call cancel when the request will not be
// made, to give the token back.
func (g *Guard) Reserve() (delay time.Duration, cancel func()) {
	now := g.cfg.Now()
	r := g.limiter.ReserveN(now, 1)
	// The burst is at least 1, so a single token is always reservable.
	return r.DelayFrom(now), func() { r.CancelAt(g.cfg.Now()) }
}

// slots is a counting semaphore whose size can change. Waiters queue in
// arrival order and a freed slot is handed to the first one, so a release
// wakes one goroutine, not every waiter (the dispatcher can have thousands
// of keys waiting for one endpoint's slots).
type slots struct {
	mu      sync.Mutex
	limit   int
	used    int
	waiters list.List // of chan struct{}, closed when the slot is handed over
}

func (s *slots) acquire(ctx context.Context) error {
	s.mu.Lock()
	if s.used < s.limit && s.waiters.Len() == 0 {
		s.used++
		s.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	el := s.waiters.PushBack(ready)
	s.mu.Unlock()

	select {
	case <-ready:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	select {
	case <-ready:
		// Handed over just as ctx ended: pass the slot on.
		s.used--
		s.handOver()
	default:
		s.waiters.Remove(el)
	}
	s.mu.Unlock()
	return ctx.Err()
}

func (s *slots) release() {
	s.mu.Lock()
	s.used--
	s.handOver()
	s.mu.Unlock()
}

func (s *slots) setLimit(n int) {
	s.mu.Lock()
	s.limit = n
	s.handOver()
	s.mu.Unlock()
}

// handOver gives free slots to the first waiters; s.mu is held.
func (s *slots) handOver() {
	for s.used < s.limit && s.waiters.Len() > 0 {
		ready := s.waiters.Remove(s.waiters.Front()).(chan struct{})
		s.used++
		close(ready)
	}
}
