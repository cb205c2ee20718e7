package config

import (
	"errors"
	"fmt"
	"time"
)

// The checks of one setting below name it by its flag and its SURGE_*
// variable, as ValidateAddr and ValidatePositive do, and are nil when the
// value is fine, so a Validate can list them all and errors.Join the
// result.

// ValidateSet checks a string setting is not empty.
func ValidateSet(flag, value string) error {
	if value == "" {
		return errors.New(EnvName(flag) + " (--" + flag + ") is empty")
	}
	return nil
}

// ValidateAtLeast checks an integer setting is min or more.
func ValidateAtLeast[N int | int64](flag string, n, min N) error {
	if n < min {
		return fmt.Errorf("%s (--%s) must be at least %d, got %d", EnvName(flag), flag, min, n)
	}
	return nil
}

// ValidateBetween checks an integer setting is from min to max, both
// included.
func ValidateBetween[N int | int64](flag string, n, min, max N) error {
	if n < min || n > max {
		return fmt.Errorf("%s (--%s) must be between %d and %d, got %d", EnvName(flag), flag, min, max, n)
	}
	return nil
}

// ValidateNotNegative checks a duration setting is zero or more.
func ValidateNotNegative(flag string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s (--%s) must not be negative, got %s", EnvName(flag), flag, d)
	}
	return nil
}
