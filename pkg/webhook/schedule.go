package webhook

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/surgehq/surge/pkg/subscription"
)

// Schedule is a retry schedule: Schedule[i] is the wait before retry
// i+1, that is after i+1 attempts. A delivery gets len(Schedule) retries,
// len(Schedule)+1 attempts in all.
type Schedule []time.Duration

// DefaultSchedule is the schedule of a subscription that sets none: ten
// retries spread over about two days.
var DefaultSchedule = Schedule{
	5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// Jitter is the fraction by which Next varies a scheduled wait either
// way, so deliveries failing together do not retry together.
const Jitter = 0.2

// ParseSchedule parses a subscription's retry_schedule: Go durations
// ("5s", "2m", "1h30m"), each from subscription.MinRetryWait to
// subscription.MaxRetryWait, at most subscription.MaxRetries of them. An
// empty list is DefaultSchedule (a copy). The error names the entry.
func ParseSchedule(waits []string) (Schedule, error) {
	if len(waits) == 0 {
		return append(Schedule(nil), DefaultSchedule...), nil
	}
	if len(waits) > subscription.MaxRetries {
		return nil, fmt.Errorf("retry_schedule has %d waits; at most %d are allowed", len(waits), subscription.MaxRetries)
	}
	s := make(Schedule, len(waits))
	for i, w := range waits {
		d, err := time.ParseDuration(w)
		switch {
		case err != nil:
			return nil, fmt.Errorf("retry_schedule[%d]: %q is not a Go duration such as \"5s\", \"2m\" or \"1h30m\"", i, w)
		case d < subscription.MinRetryWait || d > subscription.MaxRetryWait:
			return nil, fmt.Errorf("retry_schedule[%d]: %q must be from %s to %s", i, w, subscription.MinRetryWait, subscription.MaxRetryWait)
		}
		s[i] = d
	}
	return s, nil
}

// Next returns the wait before the next retry of a delivery that has had
// attempts HTTP attempts (at least 1; less counts as 1): Schedule[attempts-1]
// varied by ±Jitter, drawn from rnd, or from the shared generator of
// math/rand/v2 when rnd is nil. ok is false when the schedule is
// exhausted: the delivery goes to the dead-letter topic. A *rand.Rand is
// not safe for concurrent use; nil is.
func (s Schedule) Next(attempts int, rnd *rand.Rand) (wait time.Duration, ok bool) {
	attempts = max(attempts, 1)
	if attempts > len(s) {
		return 0, false
	}
	u := rand.Float64
	if rnd != nil {
		u = rnd.Float64
	}
	base := s[attempts-1]
	return time.Duration(float64(base) * (1 - Jitter + 2*Jitter*u())), true
}

// NextWait is Next combined with an endpoint's Retry-After
// (Result.RetryAfter): the longer of the two wins. An exhausted schedule
// stays exhausted whatever the endpoint asked.
func NextWait(s Schedule, attempts int, retryAfter time.Duration, rnd *rand.Rand) (time.Duration, bool) {
	wait, ok := s.Next(attempts, rnd)
	if !ok {
		return 0, false
	}
	return max(wait, retryAfter), true
}
