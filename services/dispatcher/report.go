package dispatcher

import (
	"time"

	"github.com/surgehq/surge/pkg/backlog"
	"github.com/surgehq/surge/pkg/stream"
)

// backlog is what waits here per subscription, for the metrics.
func (s *Service) backlog() []subBacklog {
	loaded, waiting := s.budget.backlog()
	oldest := map[string]time.Time{}
	lanes := s.ownedLanes()
	for _, l := range lanes {
		l.mu.Lock()
		for _, ks := range l.keys {
			if h := ks.head(); h != nil && !h.created.IsZero() {
				if o, ok := oldest[ks.sub]; !ok || h.created.Before(o) {
					oldest[ks.sub] = h.created
				}
			}
		}
		l.mu.Unlock()
	}
	now := s.now()
	rates := s.budget.rates()
	out := make([]subBacklog, 0, len(waiting))
	for sub, n := range waiting {
		b := subBacklog{sub: sub, loaded: loaded[sub], outside: n - loaded[sub], rate: rates[sub]}
		if o, ok := oldest[sub]; ok {
			b.oldest = o
			b.oldestSeconds = now.Sub(o).Seconds()
		}
		out = append(out, b)
	}
	return out
}

// backlogReports is the backlog for the reporter: read on its ticker,
// like the metrics at a scrape.
func (s *Service) backlogReports() []backlog.Report {
	subs := s.backlog()
	out := make([]backlog.Report, len(subs))
	for i, b := range subs {
		out[i] = backlog.Report{Subscription: b.sub, InMemory: int64(b.loaded), InRetryTopic: int64(b.outside), Oldest: b.oldest, PerSecond: b.rate,
			Breaker: s.breakerOf(b.sub)}
	}
	return out
}

// breakerOf is the state of sub's endpoint breaker here; "" before its
// first attempt.
func (s *Service) breakerOf(sub string) string {
	s.mu.Lock()
	g := s.guards[sub]
	s.mu.Unlock()
	if g == nil {
		return ""
	}
	return string(g.State())
}

func (s *Service) parkedKeys() float64 {
	lanes := s.ownedLanes()
	n := 0
	for _, l := range lanes {
		n += l.parkedKeys()
	}
	return float64(n)
}

// progress is every owned partition of both input topics as the stall
// watchdog sees it (lane.progress).
func (s *Service) progress() []stream.Progress {
	lanes := s.ownedLanes()
	var out []stream.Progress
	for _, l := range lanes {
		l.mu.Lock()
		if p, ok := l.progress(fromMain, s.mainTopic); ok {
			out = append(out, p)
		}
		if p, ok := l.progress(fromRetry, s.retryTopic); ok {
			out = append(out, p)
		}
		l.mu.Unlock()
	}
	return out
}
