package observe

import (
	"context"
	"errors"
	"sync/atomic"
)

// ErrNotReady is what a Readiness that is not set reports.
var ErrNotReady = errors.New("not started yet, or shutting down")

// Readiness is a flag a process flips once it can do its work. It is safe
// for concurrent use.
type Readiness struct{ ready atomic.Bool }

// Set marks the process ready or not.
func (r *Readiness) Set(ready bool) { r.ready.Store(ready) }

// Ready reports the current state.
func (r *Readiness) Ready() bool { return r.ready.Load() }

// Err is nil when ready, ErrNotReady otherwise: a readiness check for
// Mount.
func (r *Readiness) Err() error {
	if r.Ready() {
		return nil
	}
	return ErrNotReady
}

// ErrOr is Err while not ready and check's answer once ready: how a stage
// that consumes is still not ready while one of its input partitions is
// stalled (check names each, as stream.Stage.Stalled does). check is only
// called when the flag is set.
func (r *Readiness) ErrOr(check func() error) error {
	if err := r.Err(); err != nil {
		return err
	}
	return check()
}

// While runs work with the flag set: ready from when work starts until it
// returns, whatever it returns. It is a stage's Run: ready exactly while
// it consumes.
func (r *Readiness) While(ctx context.Context, work func(context.Context) error) error {
	r.Set(true)
	defer r.Set(false)
	return work(ctx)
}
