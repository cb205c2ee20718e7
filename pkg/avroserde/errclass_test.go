package avroserde

import "errors"

// errorClasses returns the classes of decoding errors err is of, among
// ErrNotWireFormat, ErrUnknownSchema and ErrUndecodable in that order: a
// permanent error is of exactly one, one that may pass (the registry
// unreachable) of none.
func errorClasses(err error) []error {
	var classes []error
	for _, class := range []error{ErrNotWireFormat, ErrUnknownSchema, ErrUndecodable} {
		if errors.Is(err, class) {
			classes = append(classes, class)
		}
	}
	return classes
}
