package stream

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/avroserde"
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
	// ClassMisrouted: a keyed record on a partition its key does not
	// hash to (a producer with another partitioner); see MisroutedError.
	ClassMisrouted = "misrouted"
)

// PermanentError marks a failure that retrying cannot fix: the record goes
// to the dead-letter topic at once.
type PermanentError struct {
	Class string
	Err   error
	// Attempts is how many times the handler tried before giving up (for
	// instance HTTP calls of a loader); 0 means 1. It is written to the
	// surge.dlq.attempts header.
	Attempts int
	// Headers are added to the dead-letter record after the standard
	// error headers, e.g. surge.dlq.http-status.
	Headers []kgo.RecordHeader
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

// ErrDefer, returned by a Handler (it may be wrapped), says the record
// cannot be handled yet — typically it waits for slow I/O running in the
// background — and must be handled again in a later batch. The stage stops
// handling that record's partition for the current batch, commits
// everything handled before it (in that partition and in all others), and
// delivers the record again in a later poll. Other partitions are not held
// back: this is how one slow partition avoids stalling the whole
// transaction.
var ErrDefer = errors.New("record deferred to a later batch")

// DecodeFailure classifies an error of decoding an input value (what names
// it, e.g. "raw event"): bytes that are not the wire format or do not decode
// are permanent (ClassUndecodable), a schema id the registry does not know
// is permanent (ClassUnknownSchema), anything else (the registry did not
// answer) is transient. Typed applies it to every input that does not
// decode.
func DecodeFailure(what string, err error) error {
	err = fmt.Errorf("decoding %s: %w", what, err)
	switch {
	case errors.Is(err, avroserde.ErrUnknownSchema):
		return Permanent(ClassUnknownSchema, err)
	case errors.Is(err, avroserde.ErrNotWireFormat), errors.Is(err, avroserde.ErrUndecodable):
		return Permanent(ClassUndecodable, err)
	}
	return err
}
