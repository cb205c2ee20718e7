package stream

import (
	"errors"
	"fmt"
)

// Error classes, written to the surge.dlq.error-class header and used as a
// metric label.
const (
	ClassUndecodable   = "undecodable"    // bytes that are not a record we can read
	ClassUnknownSchema = "unknown_schema" // a schema id the registry does not know
	ClassInvalid       = "invalid"        // decoded but fails validation
	ClassLoader        = "loader"         // a loader failed for good
	ClassExhausted     = "exhausted"      // retries used up
	ClassPermanent     = "permanent"      // any other permanent failure
)

// PermanentError marks a failure that retrying cannot fix: the record goes
// to the dead-letter topic at once.
type PermanentError struct {
	Class string
	Err   error
}

func (e *PermanentError) Error() string { return fmt.Sprintf("%s: %v", e.Class, e.Err) }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a permanent failure of the given class.
func Permanent(class string, err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Class: class, Err: err}
}

// AsPermanent reports whether err is permanent, and its class.
func AsPermanent(err error) (*PermanentError, bool) {
	var p *PermanentError
	if errors.As(err, &p) {
		return p, true
	}
	return nil, false
}
