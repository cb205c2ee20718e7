package observe

import (
	"context"
	"errors"
	"testing"
)

func TestReadinessWhileAndErrOr(t *testing.T) {
	var r Readiness
	stalled := errors.New("stalled: enrich partition 1")
	var why error
	check := func() error { return why }
	if err := r.ErrOr(check); !errors.Is(err, ErrNotReady) {
		t.Fatalf("before While: %v, want ErrNotReady", err)
	}
	workErr := errors.New("work failed")
	err := r.While(context.Background(), func(context.Context) error {
		if !r.Ready() || r.ErrOr(check) != nil {
			t.Errorf("during While: ready %v, %v", r.Ready(), r.ErrOr(check))
		}
		why = stalled
		if err := r.ErrOr(check); err != stalled {
			t.Errorf("during While with a stall: %v, want the stall", err)
		}
		return workErr
	})
	if err != workErr {
		t.Fatalf("While returned %v, want work's error", err)
	}
	if r.Ready() || !errors.Is(r.ErrOr(check), ErrNotReady) {
		t.Fatalf("after While: ready %v, %v", r.Ready(), r.ErrOr(check))
	}
}
