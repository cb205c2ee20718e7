package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/webhook"
)

// step is what working on a key's head came to.
type step struct {
	kind stepKind
	wait time.Duration // stepWait: how long until the head may be tried again
	why  string        // stepWait, stepPark: for logs
}

type stepKind uint8

const (
	stepDone  stepKind = iota // delivered or dead-lettered: the head is finished
	stepWait                  // try the head again after wait, in memory
	stepPark                  // move the key's deliveries to the retry topic
	stepLetGo                 // a retry-topic head, unchanged, waits with its record back in Kafka
)

// wake is a key's timer firing.
func (s *Service) wake(l *lane, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ks, ok := l.keys[key]
	if !ok {
		return
	}
	ks.timer = nil
	s.kick(l, key, ks)
}

// work delivers a key's deliveries in order until it has none, must wait,
// parked them, or the next one must be read back first.
func (s *Service) work(l *lane, key string) {
	for {
		l.mu.Lock()
		ks := l.keys[key]
		it := ks.head()
		if it == nil || !it.loaded() || l.ctx.Err() != nil || !s.workable(l, key, ks, it) {
			ks.running = false
			if it != nil && l.ctx.Err() == nil {
				s.kick(l, key, ks) // reads the next one back
			}
			l.forget(key, ks)
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()

		ks.setPhase(phaseDeciding)
		st := s.attempt(l, ks, it)

		l.mu.Lock()
		switch st.kind {
		case stepDone:
			s.budget.done(ks.sub)
			s.dequeue(l, ks, it)
			l.finish(it)
			s.feedStarvedLocked(l)
			l.mu.Unlock()
			continue
		case stepWait:
			ks.running = false
			ks.timer = time.AfterFunc(st.wait, func() { s.wake(l, key) })
		case stepPark:
			ks.running = false
			s.parkKey(l, ks)
			s.log.Debug("key parked", zap.String(observe.KeyRecordKey, key), zap.String(observe.KeyReason, st.why))
		case stepLetGo:
			ks.running = false
			s.unloadQueued(l, ks, it)
			s.kick(l, key, ks) // sets the timer
		}
		l.mu.Unlock()
		return
	}
}

// parkKey moves the key's deliveries out of memory for a long wait: its
// main-topic ones and its head (with the new attempt state) are copied to
// the retry topic, their offsets finished once the copies are durable; its
// other retry ones just let go of their records, which stay where they
// are. Called with l.mu held.
func (s *Service) parkKey(l *lane, ks *keyState) {
	head := ks.head()
	var move []*item
	for _, it := range append([]*item(nil), ks.queue...) {
		switch {
		case it.src == fromMain || it == head && it.loaded():
			move = append(move, it)
			s.dequeue(l, ks, it)
		default:
			s.unloadQueued(l, ks, it)
		}
	}
	s.toRetry(l, ks, move)
}

// spillWaiting moves to the retry topic, in every lane, the main-topic
// deliveries that waited in memory behind their key's head longer than
// SpillAfter (and a head waiting in memory for its next attempt, with
// them): their key is parked, its later deliveries follow, and the main
// partition's committed offset is held only by heads in flight.
func (s *Service) spillWaiting() {
	lanes := s.ownedLanes()
	cutoff := s.now().Add(-s.cfg.SpillAfter)
	for _, l := range lanes {
		l.mu.Lock()
		for _, ks := range l.keys {
			var move []*item
			for i, it := range ks.queue {
				if it.src != fromMain || i == 0 && ks.running {
					continue // the head in a worker's hands stays
				}
				if it.read.Before(cutoff) {
					move = append(move, it)
				}
			}
			if len(move) == 0 {
				continue
			}
			// Everything of the key from the first one that waited too
			// long moves, so origin order holds in the retry topic.
			first := move[0]
			move = move[:0]
			for i, it := range ks.queue {
				if it.src == fromMain && it.origin >= first.origin && !(i == 0 && ks.running) {
					move = append(move, it)
				}
			}
			for _, it := range move {
				s.dequeue(l, ks, it)
			}
			s.m.spilled.Add(float64(len(move)))
			s.toRetry(l, ks, move)
		}
		l.mu.Unlock()
	}
}

// toRetry writes copies of items, in order, to the lane's retry
// partition, each with its origin offset. Produce calls are made under
// l.mu so copies of one key keep their order; each source offset is
// finished when its copy is acked. Only loaded items can be copied.
func (s *Service) toRetry(l *lane, ks *keyState, items []*item) {
	for _, it := range items {
		v, err := s.retryCodec.Encode(*it.d)
		if err != nil {
			s.fail(fmt.Errorf("encoding a delivery for the retry topic: %w", err))
			return
		}
		if s.budget.wait(ks.sub, 1) {
			s.stopReading(l)
		}
		h := append(carry(it.rec), kgo.RecordHeader{Key: topics.HeaderOriginOffset, Value: []byte(strconv.FormatInt(it.origin, 10))})
		rec := kafkax.WithPartition(&kgo.Record{Topic: s.retryTopic, Key: it.rec.Key, Value: v, Headers: h}, l.p)
		s.m.parked.Inc()
		ks.transit = append(ks.transit, it.origin)
		l.client.Produce(context.Background(), rec, func(_ *kgo.Record, err error) {
			if err != nil {
				s.fail(fmt.Errorf("writing to %s: %w", s.retryTopic, err))
				return
			}
			l.mu.Lock()
			l.finish(it)
			l.mu.Unlock()
		})
	}
}

// carry keeps a record's headers on its copies, without dead-letter
// headers of an earlier failure.
func carry(r *kgo.Record) []kgo.RecordHeader {
	out := make([]kgo.RecordHeader, 0, len(r.Headers)+1)
	for _, h := range r.Headers {
		if strings.HasPrefix(h.Key, topics.HeaderDLQPrefix) || h.Key == topics.HeaderOriginOffset {
			continue
		}
		out = append(out, h)
	}
	return out
}

// attempt decides what to do with a key's head and, when it is due, makes
// one attempt (an HTTP request or an AWS call, send.go). It tells the stall watchdog what it waits for through
// ks's phase.
func (s *Service) attempt(l *lane, ks *keyState, it *item) step {
	now := s.now()
	d := it.d
	deadLetter := func(class string, cause error, now time.Time) {
		ks.setPhase(phaseDeadLetter)
		s.deadLetter(l, it, class, cause, now)
		ks.setPhase(phaseDeciding)
	}
	sub, ok := s.subs.Get(d.SubscriptionID)
	if !ok {
		deadLetter(ClassSubscriptionDeleted, errors.New("the subscription was deleted"), now)
		return step{kind: stepDone}
	}
	if !sub.Enabled || sub.Paused {
		return s.hold(it, now, "subscription held: paused or disabled")
	}
	if d.NextAttemptAt != nil && d.NextAttemptAt.After(now) {
		if wait := d.NextAttemptAt.Sub(now); it.src == fromRetry && wait > s.cfg.MemoryWait {
			if now.Sub(it.written) >= s.cfg.ParkRefresh {
				return step{kind: stepPark, why: "refreshing its record at the end of the retry topic"}
			}
			return step{kind: stepLetGo, why: "read back before its next attempt"}
		}
		return s.later(it, d.NextAttemptAt.Sub(now), now, "waiting for the next attempt")
	}
	g := s.guard(sub)
	done, err := g.Allow()
	if err != nil {
		var open *webhook.OpenError
		wait := s.cfg.BreakerRecheck
		if errors.As(err, &open) && !open.Until.IsZero() && open.Until.After(now) {
			wait = open.Until.Sub(now)
		}
		return s.later(it, wait, now, "circuit breaker open")
	}
	ks.setPhase(phaseEndpointLimit)
	release, err := g.Acquire(l.ctx)
	if err != nil {
		done(webhook.Result{})
		return step{kind: stepWait, wait: time.Second, why: "revoked"}
	}
	defer release()
	if err := g.Wait(l.ctx); err != nil {
		done(webhook.Result{})
		return step{kind: stepWait, wait: time.Second, why: "revoked"}
	}
	ks.setPhase(phaseRequestSlot)
	s.inFlight <- struct{}{}
	ks.setPhase(phaseRequest)
	started := s.now()
	actx, endSpan := s.traceAttempt(l.ctx, it, sub)
	res := s.send(actx, sub, d)
	<-s.inFlight
	endSpan(res)
	ks.setPhase(phaseDeciding)
	done(res)
	if l.ctx.Err() != nil {
		// Revoked mid-request: the next owner delivers it again (same
		// webhook-id); record nothing.
		return step{kind: stepWait, wait: time.Second, why: "revoked"}
	}
	d.Attempts++
	now = s.now()
	s.m.attempts.WithLabelValues(sub.ID, res.Outcome.String()).Inc()
	s.m.attemptSeconds.Observe(res.Duration.Seconds())

	var st step
	outcome := event.OutcomeDelivered
	var next *time.Time
	switch res.Outcome {
	case webhook.Delivered:
		st = step{kind: stepDone}
		s.m.deliveries.WithLabelValues(sub.ID, "delivered").Inc()
	case webhook.Retry:
		markFailure(d, now, res)
		if reason, ok := autoDisable(sub, g.FailingSince(), now); ok {
			outcome = event.OutcomeHeld
			ks.setPhase(phaseDisabling)
			s.disable(sub, now, reason)
			ks.setPhase(phaseDeciding)
			st = s.hold(it, now, "auto-disabled: the endpoint only failed")
			break
		}
		wait, ok := webhook.NextWait(s.schedule(sub), int(d.Attempts), res.RetryAfter, s.rand())
		if !ok {
			outcome = event.OutcomeDeadLettered
			deadLetter(ClassExhausted, fmt.Errorf("retries exhausted after %d attempts: %w", d.Attempts, res.Err), now)
			st = step{kind: stepDone}
			break
		}
		outcome = event.OutcomeRetry
		at := now.Add(wait)
		d.NextAttemptAt, next = &at, &at
		st = s.later(it, wait, now, "retrying")
	case webhook.Gone:
		markFailure(d, now, res)
		outcome = event.OutcomeHeld
		ks.setPhase(phaseDisabling)
		s.disable(sub, now, "410 Gone from "+sub.URL+" at "+now.UTC().Format(time.RFC3339))
		ks.setPhase(phaseDeciding)
		st = s.hold(it, now, "410 Gone: subscription disabled")
	default: // Reject, Refused
		markFailure(d, now, res)
		outcome = event.OutcomeDeadLettered
		class := ClassRejected
		if res.Outcome == webhook.Refused {
			class = ClassRefused
		}
		deadLetter(class, res.Err, now)
		st = step{kind: stepDone}
	}
	s.logAttempt(l, it, subscription.Target(sub), started, res, outcome, next)
	return st
}

func markFailure(d *event.Delivery, now time.Time, res webhook.Result) {
	if d.FirstFailureAt == nil {
		t := now
		d.FirstFailureAt = &t
	}
	t := now
	d.LastFailureAt = &t
	d.LastStatus = int32(res.Status)
	if res.Err != nil {
		d.LastError = truncate(res.Err.Error(), 512)
	}
}

// later is a head that may be tried after wait: held in memory when the
// wait is short, parked when it is long — a main-topic delivery moves to
// the retry topic; a retry one is written again there with its new attempt
// state — so neither memory nor a committed offset waits long.
func (s *Service) later(_ *item, wait time.Duration, _ time.Time, why string) step {
	if wait <= s.cfg.MemoryWait {
		return step{kind: stepWait, wait: wait, why: why}
	}
	return step{kind: stepPark, why: why}
}

// hold is a head of a paused or disabled subscription: no attempt. A
// main-topic one is parked; a retry one lets go of its record (the key
// checks the subscription every HoldRecheck without reading it back),
// unless its record is old enough to be refreshed at the end of the retry
// topic.
func (s *Service) hold(it *item, now time.Time, why string) step {
	if it.src == fromMain || now.Sub(it.written) >= s.cfg.ParkRefresh {
		return step{kind: stepPark, why: why}
	}
	return step{kind: stepLetGo, why: why}
}

// held reports whether the subscription's deliveries are held (paused or
// disabled).
func (s *Service) held(sub string) bool {
	v, ok := s.subs.Get(sub)
	return ok && (!v.Enabled || v.Paused)
}

// disable turns a subscription off, after a 410 Gone or by its
// auto-disable rule, for reason: its deliveries are held until an
// operator enables it again.
func (s *Service) disable(sub event.Subscription, now time.Time, reason string) {
	if !sub.Enabled {
		return
	}
	sub.Enabled = false
	sub.DisabledReason = reason
	sub.UpdatedAt = now.UTC().Truncate(time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.subs.Put(ctx, sub.ID, sub); err != nil {
		s.log.Error("could not disable the subscription; its deliveries are held only while this process runs", zap.String(observe.KeySubscriptionID, sub.ID),
			zap.String(observe.KeyReason, reason), zap.Error(err))
		return
	}
	s.log.Warn("subscription disabled", zap.String(observe.KeySubscriptionID, sub.ID), zap.String(observe.KeyReason, reason))
	s.disabledEvent(sub)
}

// autoDisable applies sub's auto-disable rule to an endpoint failing
// since since (zero: not failing): when the rule is set and every attempt
// has failed for at least as long, it returns the disabled_reason.
func autoDisable(sub event.Subscription, since, now time.Time) (reason string, ok bool) {
	rule := time.Duration(sub.AutoDisableAfterMS) * time.Millisecond
	if rule <= 0 || since.IsZero() || now.Sub(since) < rule {
		return "", false
	}
	return fmt.Sprintf("auto-disabled: every attempt to %s failed from %s to %s (auto_disable_after_ms %d)",
		subscription.Target(sub), since.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), sub.AutoDisableAfterMS), true
}

// logAttempt writes the attempt to commerce.delivery-attempts (async).
func (s *Service) logAttempt(l *lane, it *item, url string, started time.Time, res webhook.Result, outcome string, next *time.Time) {
	a := event.DeliveryAttempt{
		DeliveryID:      it.d.ID,
		EventID:         it.d.EventID,
		SubscriptionID:  it.d.SubscriptionID,
		EntityKey:       it.d.EntityKey,
		Attempt:         it.d.Attempts,
		URL:             url,
		StartedAt:       started,
		Duration:        res.Duration,
		StatusCode:      int32(res.Status),
		Outcome:         outcome,
		ResponseHeaders: res.Header,
		ResponseBody:    res.Body,
		NextAttemptAt:   next,
		CorrelationID:   it.d.CorrelationID,
	}
	if res.Err != nil {
		a.Error = truncate(res.Err.Error(), 1024)
	}
	v, err := s.attemptCodec.Encode(a)
	if err != nil {
		s.log.Error("encoding a delivery attempt", zap.Error(err))
		return
	}
	l.client.Produce(context.Background(), &kgo.Record{Topic: s.attemptsTopic, Key: []byte(a.DeliveryID), Value: v, Headers: carry(it.rec)}, func(_ *kgo.Record, err error) {
		if err != nil {
			s.log.Warn("writing a delivery attempt", zap.Error(err))
		}
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
