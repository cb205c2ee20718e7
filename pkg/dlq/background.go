package dlq

import (
	"context"
	"fmt"
)

// background is a replay this process runs for the admin API.
type background struct {
	r      *Replay
	cancel context.CancelFunc
	done   chan struct{}
}

// Start creates a replay of sel and runs it in the background until it is
// done, stopped with Stop, or the Service is closed; it returns once the
// replay is planned (a refusal or a bad selection is returned at once).
func (s *Service) Start(ctx context.Context, sel Selection) (Status, error) {
	r, _, err := s.Create(ctx, sel, nil)
	if err != nil {
		return Status{}, err
	}
	return s.runBackground(r)
}

// ResumeBackground resumes replay id in the background (see Resume).
func (s *Service) ResumeBackground(ctx context.Context, id string) (Status, error) {
	r, _, err := s.Resume(ctx, id, nil)
	if err != nil {
		return Status{}, err
	}
	return s.runBackground(r)
}

func (s *Service) runBackground(r *Replay) (Status, error) {
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		r.cl.Close()
		return Status{}, fmt.Errorf("the DLQ service is closed")
	}
	if _, ok := s.running[r.ID()]; ok {
		s.mu.Unlock()
		r.cl.Close()
		return Status{}, fmt.Errorf("replay %s is running in this process: %w", r.ID(), ErrConflict)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	b := &background{r: r, cancel: cancel, done: make(chan struct{})}
	s.running[r.ID()] = b
	s.wg.Add(1)
	s.mu.Unlock()

	started := make(chan struct{})
	go func() {
		defer s.wg.Done()
		defer close(b.done)
		defer cancel()
		defer func() {
			s.mu.Lock()
			delete(s.running, r.ID())
			s.mu.Unlock()
		}()
		first := true
		_, _ = r.Run(ctx, func(Status) {
			if first {
				first = false
				close(started)
			}
		})
		if first {
			close(started)
		}
	}()
	<-started // the replay is in commerce.replays (or failed)
	st := r.Status()
	st.Running = true
	return st, nil
}

// Stop stops replay id, which this process runs in the background, after
// committing its position, and returns its state (stopped, or done if it
// finished meanwhile). ErrNotFound for an unknown id, ErrConflict for one
// not running here.
func (s *Service) Stop(ctx context.Context, id string) (Status, error) {
	s.mu.Lock()
	b, ok := s.running[id]
	s.mu.Unlock()
	if !ok {
		st, err := s.loadState(ctx, id)
		if err != nil {
			return Status{}, err
		}
		return Status{}, fmt.Errorf("replay %s is %s, not running in this process: %w", id, st.State, ErrConflict)
	}
	b.cancel()
	select {
	case <-b.done:
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
	return b.r.Status(), nil
}

// Get returns replay id's state: live while this process runs it, else
// as commerce.replays has it.
func (s *Service) Get(ctx context.Context, id string) (Status, error) {
	s.mu.Lock()
	b, ok := s.running[id]
	s.mu.Unlock()
	if ok {
		return b.r.Status(), nil
	}
	st, err := s.loadState(ctx, id)
	if err != nil {
		return Status{}, err
	}
	return st.status(), nil
}

// List returns every replay, newest first.
func (s *Service) List(ctx context.Context) ([]Status, error) {
	all, err := s.loadStates(ctx, "")
	if err != nil {
		return nil, err
	}
	sts := make([]state, 0, len(all))
	for _, st := range all {
		sts = append(sts, st)
	}
	sortStates(sts)
	out := make([]Status, 0, len(sts))
	for _, st := range sts {
		s.mu.Lock()
		b, ok := s.running[st.ID]
		s.mu.Unlock()
		if ok {
			out = append(out, b.r.Status())
			continue
		}
		out = append(out, st.status())
	}
	return out, nil
}
