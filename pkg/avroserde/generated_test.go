package avroserde

import (
	"errors"
	"testing"
)

// TestWithCheck pins how a generated codec refuses a value its Check
// rejects: the check's error and no value; a decoding error is passed on
// unchecked; a value the check accepts is returned.
func TestWithCheck(t *testing.T) {
	errEmpty, errBytes := errors.New("id is empty"), errors.New("truncated")
	checks := 0
	decode := withCheck(func(b []byte) (string, error) {
		if len(b) == 0 {
			return "", errBytes
		}
		return string(b[1:]), nil
	}, func(s string) error {
		checks++
		if s == "" {
			return errEmpty
		}
		return nil
	})
	if v, err := decode([]byte("xid")); err != nil || v != "id" {
		t.Errorf("accepted value: %q, %v", v, err)
	}
	if v, err := decode([]byte("x")); !errors.Is(err, errEmpty) || v != "" {
		t.Errorf("refused value: %q, %v; want the check's error", v, err)
	}
	if _, err := decode(nil); !errors.Is(err, errBytes) {
		t.Errorf("decoding error: %v; want it passed on", err)
	}
	if checks != 2 {
		t.Errorf("check ran %d times, want 2 (not after a decoding error)", checks)
	}
}
