package dlq

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/opsevent"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// DefaultAlertEvery is how many dead letters a topic gains between two
// surge.dlq.threshold_crossed events unless the operator says otherwise.
const DefaultAlertEvery = 100

// Watch counts the dead letters of both dead-letter topics and, each time
// a topic's count passes another multiple of every (100, 200, 300 … for
// 100), writes a surge.dlq.threshold_crossed operator event. The dead
// letters already there when it starts are counted but not reported, so
// a restart does not repeat an alert; every ≤ 0 turns it off. It returns
// once it knows where each topic ended (its last stable offsets); in the
// background it counts what was there, then follows what is written
// until the Service is closed. A failure to read is logged and retried.
func (s *Service) Watch(ctx context.Context, every int64) error {
	if every <= 0 {
		return nil
	}
	if err := s.register(ctx, s.events.Topic(), s.events.Register); err != nil {
		return err
	}
	w := &watch{every: every, existing: map[string]map[int32]span{}, counts: map[string]int64{}, reported: map[string]int64{}}
	var names []string
	for _, base := range []string{topics.EventsDLQ, topics.DeliveriesDLQ} {
		name := s.cfg.Names.Name(base)
		names = append(names, name)
		spans, err := s.bounds(ctx, name)
		if errors.Is(err, ErrNotFound) {
			continue // not created yet: all of it will be new
		}
		if err != nil {
			return err
		}
		w.existing[name] = spans
	}
	cl, err := kgo.NewClient(append(slices.Clone(s.cfg.ClientOpts),
		kgo.ConsumeTopics(names...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		return err
	}
	w.ops = &opsevent.Emitter{Client: cl, Codec: s.events, Log: s.log, Now: s.now}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cl.Close()
		w.countExisting(s)
		for {
			fs := cl.PollFetches(s.ctx)
			if s.ctx.Err() != nil {
				return
			}
			fs.EachError(func(topic string, p int32, err error) {
				s.log.Warn("watching a dead-letter topic", zap.String(observe.KeyTopic, topic), zap.Int32(observe.KeyPartition, p), zap.Error(err))
			})
			fs.EachRecord(w.count)
		}
	}()
	return nil
}

// watch is one Watch's state, used by its goroutine only.
type watch struct {
	every int64
	ops   *opsevent.Emitter
	// existing is each partition's offsets when the watch started: what
	// was there already, counted first and not reported.
	existing map[string]map[int32]span
	counts   map[string]int64 // dead letters per topic
	reported map[string]int64 // the multiple of every last reported
}

// countExisting counts the dead letters that were there when the watch
// started, until it has them all or the Service closes (a failed read is
// tried again).
func (w *watch) countExisting(s *Service) {
	for topic, spans := range w.existing {
		for {
			n := int64(0)
			err := s.scan(s.ctx, topic, spans, func(r *kgo.Record) error {
				if !r.Attrs.IsControl() {
					n++
				}
				return nil
			}, nil)
			if err == nil {
				w.counts[topic], w.reported[topic] = n, n/w.every
				break
			}
			if s.ctx.Err() != nil {
				return
			}
			s.log.Warn("counting a dead-letter topic's records", zap.String(observe.KeyTopic, topic), zap.Error(err))
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// count counts one dead letter written since the watch started (those
// from before were counted already), and reports its topic's count when it
// passes another multiple of every.
func (w *watch) count(r *kgo.Record) {
	if r.Offset < w.existing[r.Topic][r.Partition].end {
		return
	}
	w.counts[r.Topic]++
	n := w.counts[r.Topic]
	if n/w.every <= w.reported[r.Topic] {
		return
	}
	w.reported[r.Topic] = n / w.every
	w.ops.Emit(opsevent.DLQThresholdCrossed, event.EntityRef{Type: opsevent.EntityDLQ, ID: r.Topic}, opsevent.DLQThreshold{
		Topic: r.Topic, DeadLetters: n, Every: w.every,
		Last: opsevent.DeadLetter{Partition: r.Partition, Offset: r.Offset, Stage: stream.Header(r, topics.HeaderDLQStage),
			ErrorClass: stream.Header(r, topics.HeaderDLQErrorClass), Error: stream.Header(r, topics.HeaderDLQError)},
	})
}
