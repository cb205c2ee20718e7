package kafkatest

import (
	"syscall"
	"time"
)

// CPUTime is the user and system CPU time the process has used so far (0
// when the system will not say): what a benchmark divides by its work is
// less sensitive to other load on the machine than wall time.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
