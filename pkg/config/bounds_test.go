package config

import (
	"testing"
	"time"
)

func TestSettingChecks(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{ValidateSet("instance-id", ""), "SURGE_INSTANCE_ID (--instance-id) is empty"},
		{ValidateAtLeast("max-poll-records", 0, 1), "SURGE_MAX_POLL_RECORDS (--max-poll-records) must be at least 1, got 0"},
		{ValidateAtLeast("max-body-bytes", int64(10), 1024), "SURGE_MAX_BODY_BYTES (--max-body-bytes) must be at least 1024, got 10"},
		{ValidateBetween("writers", 17, 1, 16), "SURGE_WRITERS (--writers) must be between 1 and 16, got 17"},
		{ValidateBetween("writers", 0, 1, 16), "SURGE_WRITERS (--writers) must be between 1 and 16, got 0"},
		{ValidateNotNegative("loader-wait", -time.Second), "SURGE_LOADER_WAIT (--loader-wait) must not be negative, got -1s"},
	} {
		if c.err == nil || c.err.Error() != c.want {
			t.Errorf("got %v, want %q", c.err, c.want)
		}
	}
	for i, err := range []error{
		ValidateSet("instance-id", "i1"), ValidateAtLeast("max-poll-records", 1, 1), ValidateBetween("writers", 16, 1, 16),
		ValidateBetween("writers", 1, 1, 16), ValidateNotNegative("loader-wait", 0),
	} {
		if err != nil {
			t.Errorf("check %d of a good value: %v", i, err)
		}
	}
}
