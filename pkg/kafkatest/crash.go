package kafkatest

import (
	"sync/atomic"
	"time"
)

// CrashClock is a clock for a service's Deps.Now that calls cancel on its
// at-th reading: a service run with the context cancel ends stops as a
// process dying in the middle of a batch would. It is safe for
// concurrent use.
func CrashClock(cancel func(), at int64) func() time.Time {
	var calls atomic.Int64
	return func() time.Time {
		if calls.Add(1) == at {
			cancel()
		}
		return time.Now()
	}
}
