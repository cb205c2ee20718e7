package dispatcher

import (
	"fmt"
	"math/rand/v2"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/webhook"
)

type schedEntry struct {
	raw string
	s   webhook.Schedule
}

// guard returns the subscription's endpoint guard, updated to its current
// limits.
func (s *Service) guard(sub event.Subscription) *webhook.Guard {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.guards[sub.ID]
	if !ok {
		g = webhook.NewGuard(sub, webhook.GuardConfig{
			FailureThreshold: uint32(s.cfg.BreakerFailures),
			CoolDown:         s.cfg.BreakerCoolDown,
			MaxInFlight:      s.cfg.DefaultMaxInFlight,
			OnStateChange:    s.breakerChanged,
		})
		s.guards[sub.ID] = g
		return g
	}
	g.Update(sub)
	return g
}

// schedule is the subscription's retry schedule (parsed once per
// version), the default when it sets none or an unreadable one.
func (s *Service) schedule(sub event.Subscription) webhook.Schedule {
	raw := fmt.Sprint(sub.RetrySchedule)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.sched[sub.ID]; ok && e.raw == raw {
		return e.s
	}
	sch, err := webhook.ParseSchedule(sub.RetrySchedule)
	if err != nil {
		s.log.Warn("unreadable retry schedule; using the default", zap.String(observe.KeySubscriptionID, sub.ID), zap.Error(err))
		sch = webhook.DefaultSchedule
	}
	s.sched[sub.ID] = schedEntry{raw: raw, s: sch}
	return sch
}

// rand is the jitter source (not safe for concurrent use: s.mu guards
// it, and a copy is handed out per call).
func (s *Service) rand() *rand.Rand {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rand.New(rand.NewPCG(s.rnd.Uint64(), s.rnd.Uint64()))
}
