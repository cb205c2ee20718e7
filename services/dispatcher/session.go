package dispatcher

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// Run consumes until ctx ends. It returns nil after a clean shutdown and
// an error only when it cannot run at all; a failed session (a write to
// the retry or dead-letter topic that Kafka refused for good) restarts from
// the committed offsets.
func (s *Service) Run(ctx context.Context) error {
	wctx, stopWatchdog := context.WithCancel(ctx)
	watching := make(chan struct{})
	go func() { defer close(watching); s.watchdog.Run(wctx) }()
	reporting := make(chan struct{})
	go func() { defer close(reporting); s.reporter.Run(wctx) }() // tombstones its reports when stopped
	defer func() { stopWatchdog(); <-watching; <-reporting }()

	stream.RunSessions(ctx, s.log, "dispatcher session failed; restarting from the committed offsets", 500*time.Millisecond, s.session)
	return nil
}

func (s *Service) session(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cl, err := kgo.NewClient(kafkax.ClientOpts(s.cfg.Kafka, s.log,
		kgo.ConsumerGroup(s.cfg.Kafka.TopicPrefix+topics.Dispatcher.Group),
		kgo.ConsumeTopics(s.mainTopic, s.retryTopic),
		// Range assignment gives one member partition p of both topics.
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(s.assigned),
		kgo.OnPartitionsRevoked(s.revoked),
		kgo.OnPartitionsLost(s.lost),
		kgo.ProducerLinger(0),
		// Fetches are handed to the lanes at once; small ones keep the
		// records in flight between Kafka and the lanes few (memory).
		kgo.FetchMaxBytes(4<<20),
		kgo.FetchMaxPartitionBytes(1<<20),
	)...)
	if err != nil {
		return fmt.Errorf("creating the consumer: %w", err)
	}
	ld := s.newLoader()
	s.mu.Lock()
	s.client = cl
	s.loader = ld
	s.mu.Unlock()
	go ld.run(ctx)
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cl.Flush(closeCtx) // copies to the retry topic finish their offsets
		s.commit(closeCtx)
		s.dropAll()
		cl.LeaveGroup()
		cl.Close()
	}()

	go func() {
		t := time.NewTicker(s.cfg.CommitInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.commit(ctx)
			}
		}
	}()
	go func() {
		lastTick, lastRefresh := time.Now(), time.Now()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				s.feedStarved()
				s.spillWaiting()
				if now.Sub(lastTick) >= time.Second {
					lastTick = now
					s.budget.tick()
				}
				if now.Sub(lastRefresh) >= min(time.Minute, s.cfg.RefreshAfter/10) {
					lastRefresh = now
					s.refreshOld()
				}
				s.resumeReading()
			}
		}
	}()

	s.ready.Set(true)
	defer s.ready.Set(false)
	for {
		fetches := cl.PollFetches(ctx)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		select {
		case err := <-s.failed:
			return err
		default:
		}
		fetches.EachError(func(t string, p int32, err error) {
			s.log.Warn("fetch error", zap.String("fetch_topic", t), zap.Int32(observe.KeyPartition, p), zap.Error(err))
		})
		fetches.EachRecord(s.intake)
	}
}

// fail ends the session: something Kafka refused for good.
func (s *Service) fail(err error) {
	select {
	case s.failed <- err:
	default:
	}
}

// ownedLanes is a copy of the lanes this instance owns now.
func (s *Service) ownedLanes() []*lane {
	s.mu.Lock()
	defer s.mu.Unlock()
	lanes := make([]*lane, 0, len(s.lanes))
	for _, l := range s.lanes {
		lanes = append(lanes, l)
	}
	return lanes
}

func (s *Service) lane(p int32) *lane {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lanes[p]
}

// stopReading pauses the main topic: MaxWaiting deliveries wait here, or
// subscriptions that drain fast hold MaxLoaded.
// Called with l.mu held.
func (s *Service) stopReading(l *lane) {
	if s.stopped.Swap(true) {
		return
	}
	l.client.PauseFetchTopics(s.mainTopic)
	s.log.Debug("memory bounds reached: no new deliveries are read until some are done",
		zap.Int("max_waiting", s.cfg.MaxWaiting), zap.Int("max_loaded", s.cfg.MaxLoaded))
}

// resumeReading lets the main topic be read again once fewer than nine
// tenths of MaxWaiting deliveries wait.
func (s *Service) resumeReading() {
	if !s.stopped.Load() || !s.budget.roomToRead() {
		return
	}
	s.mu.Lock()
	cl := s.client
	s.mu.Unlock()
	if cl != nil && s.stopped.Swap(false) {
		cl.ResumeFetchTopics(s.mainTopic)
		s.log.Debug("reading new deliveries again")
	}
}
