package avrotest

import (
	"reflect"
	"testing"
)

// Tables of calls: a case holds what a call (a FromNative function, say)
// returned, made when the table is built, and what it must have returned.

// ErrorCase is the error a call returned and the text it must have.
type ErrorCase struct {
	Name string
	Err  error
	Want string
}

// ErrOf returns the error of a call returning a value and an error, so an
// ErrorCase can hold the call itself: ErrOf(FromNative(x)).
func ErrOf[T any](_ T, err error) error { return err }

// CheckErrors checks, in a subtest per case, that the case's error is not
// nil and its text is the one wanted.
func CheckErrors(t *testing.T, cases []ErrorCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if c.Err == nil || c.Err.Error() != c.Want {
				t.Errorf("error = %v, want %q", c.Err, c.Want)
			}
		})
	}
}

// Result is the value and the error a call returned, the value boxed so
// that one table holds calls of several types.
type Result struct {
	Value any
	Err   error
}

// ResultOf returns the result of a call returning a value and an error,
// so a ValueCase can hold the call itself: ResultOf(FromNative(x)).
func ResultOf[T any](v T, err error) Result { return Result{v, err} }

// ValueCase is the result of a call and the value it must have returned.
type ValueCase struct {
	Name string
	Got  Result
	Want any
}

// CheckValues checks, in a subtest per case, that the call did not fail
// and returned a value deeply equal to the one wanted (of the same type).
func CheckValues(t *testing.T, cases []ValueCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if c.Got.Err != nil {
				t.Fatal(c.Got.Err)
			}
			if !reflect.DeepEqual(c.Got.Value, c.Want) {
				t.Errorf("\n got: %#v\nwant: %#v", c.Got.Value, c.Want)
			}
		})
	}
}
