package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/webhook"
)

// Dead-letter classes of the dispatcher (surge.dlq.error-class).
const (
	ClassRejected            = "rejected"             // a 4xx other than 408/410/425/429, or a 3xx
	ClassRefused             = "refused"              // the target resolved to an address the SSRF rules refuse
	ClassExhausted           = stream.ClassExhausted  // the retry schedule ran out
	ClassSubscriptionDeleted = "subscription_deleted" // the subscription no longer exists
	ClassUndecodable         = stream.ClassUndecodable
	ClassMisrouted           = stream.ClassMisrouted // a main-topic record not on its key's murmur2 partition
)

// step is what working on a key's head came to.
type step struct {
	kind stepKind
	wait time.Duration // stepWait: how long until the head may be tried again
	why  string        // stepWait, stepPark: for logs
}

type stepKind uint8

const (
	stepDone stepKind = iota // delivered or dead-lettered: the head is finished
	stepWait                 // try the head again after wait, in memory
	stepPark                 // move the key's deliveries to the retry topic
)

// accept takes one record of an input partition this instance owns.
func (s *Service) accept(rec *kgo.Record) {
	l := s.lane(rec.Partition)
	if l == nil {
		return // revoked meanwhile; the next owner reads it again
	}
	src := fromMain
	if rec.Topic == s.retryTopic {
		src = fromRetry
	}
	if src == fromMain {
		// A key's deliveries are ordered within one partition; one a
		// producer put elsewhere would overtake or trail them. The retry
		// topic is pinned to the main partition numbers by design and
		// not checked.
		if err := s.checkRoute(l, rec); err != nil {
			if _, ok := stream.AsPermanent(err); !ok {
				s.fail(err)
				return
			}
			s.stageM.Misrouted.WithLabelValues(StageName, rec.Topic).Inc()
			s.deadLetterRaw(l, rec, src, ClassMisrouted, err)
			return
		}
	}
	d, err := s.deliveries.Decode(l.ctx, rec.Value)
	if err != nil {
		s.deadLetterRaw(l, rec, src, ClassUndecodable, err)
		return
	}
	it := &item{src: src, offset: rec.Offset, rec: rec, d: d}
	key := string(rec.Key)

	l.mu.Lock()
	defer l.mu.Unlock()
	ks := l.key(key)
	if src == fromMain {
		l.main.read(rec.Offset)
		if ks.parked() {
			// Follow the key's parked deliveries, in order; the main
			// offset is finished once the copy is durable.
			s.toRetry(l, ks, []*item{it})
			return
		}
		ks.main = append(ks.main, it)
	} else {
		l.retry.read(rec.Offset)
		if ks.inTransit > 0 {
			ks.inTransit--
		}
		if !s.replaceCopy(l, ks, it) {
			ks.retry = append(ks.retry, it)
		}
		if !l.loaded && l.retry.next >= l.loadEnd {
			s.markLoaded(l)
		}
	}
	s.kick(l, key, ks)
}

// replaceCopy handles a retry record carrying a delivery the key already
// holds: a key re-parked (its deliveries copied to the end of the retry
// topic) before a restart is read back twice. The later copy, with the
// newer attempt state, takes the earlier one's place in the queue.
func (s *Service) replaceCopy(l *lane, ks *keyState, it *item) bool {
	for i, x := range ks.retry {
		if x.d.ID != it.d.ID {
			continue
		}
		if i == 0 && ks.running {
			l.retry.finish(it.offset) // the worker has the older copy in hand
			return true
		}
		l.retry.finish(x.offset)
		ks.retry[i] = it
		return true
	}
	return false
}

// kick starts a worker for the key unless one runs or a timer will.
// Called with l.mu held.
func (s *Service) kick(l *lane, key string, ks *keyState) {
	if ks.running || ks.timer != nil || ks.head() == nil || !l.loaded {
		return
	}
	ks.running = true
	go s.work(l, key)
}

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
// or parked them.
func (s *Service) work(l *lane, key string) {
	for {
		l.mu.Lock()
		ks := l.keys[key]
		it := ks.head()
		if it == nil || l.ctx.Err() != nil {
			ks.running = false
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
			ks.pop(it)
			l.finish(it)
			l.mu.Unlock()
			continue
		case stepWait:
			ks.running = false
			ks.timer = time.AfterFunc(st.wait, func() { s.wake(l, key) })
		case stepPark:
			ks.running = false
			s.parkKey(l, ks)
			s.log.Debug("key parked", zap.String("key", key), zap.String("why", st.why))
		}
		l.mu.Unlock()
		return
	}
}

// parkKey moves every delivery the key holds, head first, to the retry
// topic (copies with their attempt state) and finishes their offsets once
// the copies are durable. Called with l.mu held.
func (s *Service) parkKey(l *lane, ks *keyState) {
	items := make([]*item, 0, len(ks.retry)+len(ks.main))
	items = append(items, ks.retry...)
	items = append(items, ks.main...)
	ks.retry, ks.main = nil, nil
	s.toRetry(l, ks, items)
}

// toRetry writes copies of items, in order, to the lane's retry
// partition. Produce calls are made under l.mu so copies of one key keep
// their order; each source offset is finished when its copy is acked.
func (s *Service) toRetry(l *lane, ks *keyState, items []*item) {
	for _, it := range items {
		v, err := s.retryCodec.Encode(it.d)
		if err != nil {
			s.fail(fmt.Errorf("encoding a delivery for the retry topic: %w", err))
			return
		}
		ks.inTransit++
		rec := kafkax.WithPartition(&kgo.Record{Topic: s.retryTopic, Key: it.rec.Key, Value: v, Headers: carry(it.rec)}, l.p)
		s.m.parked.Inc()
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
	out := make([]kgo.RecordHeader, 0, len(r.Headers))
	for _, h := range r.Headers {
		if len(h.Key) > len("surge.dlq.") && h.Key[:len("surge.dlq.")] == "surge.dlq." {
			continue
		}
		out = append(out, h)
	}
	return out
}

// attempt decides what to do with a key's head and, when it is due, makes
// one HTTP attempt. It tells the stall watchdog what it waits for through
// ks's phase.
func (s *Service) attempt(l *lane, ks *keyState, it *item) step {
	now := s.now()
	d := &it.d
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
	res := s.sender.Send(l.ctx, webhook.Request{
		URL:          sub.URL,
		ID:           d.ID,
		Body:         d.Body,
		Secrets:      sub.Secrets,
		Headers:      sub.Headers,
		Timeout:      time.Duration(sub.TimeoutMS) * time.Millisecond,
		AllowPrivate: sub.AllowPrivate,
	})
	<-s.inFlight
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
		s.disable(sub, now)
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
	s.logAttempt(l, it, sub.URL, started, res, outcome, next)
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
// wait is short, parked when it is long (a main-topic delivery) or when
// its retry-topic record is old enough to be refreshed, so neither
// partition's committed offset waits long.
func (s *Service) later(it *item, wait time.Duration, now time.Time, why string) step {
	if wait <= s.cfg.MemoryWait {
		return step{kind: stepWait, wait: wait, why: why}
	}
	if it.src == fromMain || now.Sub(it.rec.Timestamp) >= s.cfg.ParkRefresh {
		return step{kind: stepPark, why: why}
	}
	return step{kind: stepWait, wait: min(wait, s.cfg.ParkRefresh), why: why}
}

// hold is a head of a paused or disabled subscription: no attempt; it is
// checked again every HoldRecheck, and parked like a long wait.
func (s *Service) hold(it *item, now time.Time, why string) step {
	if it.src == fromMain {
		return step{kind: stepPark, why: why}
	}
	if now.Sub(it.rec.Timestamp) >= s.cfg.ParkRefresh {
		return step{kind: stepPark, why: why}
	}
	return step{kind: stepWait, wait: s.cfg.HoldRecheck, why: why}
}

// deadLetter writes the delivery, with its attempt state and the
// dead-letter headers, to the same partition of commerce.deliveries.dlq
// and waits until it is durable.
func (s *Service) deadLetter(l *lane, it *item, class string, cause error, now time.Time) {
	d := it.d
	first, last := now, now
	if d.FirstFailureAt != nil {
		first = *d.FirstFailureAt
	}
	if d.LastFailureAt != nil {
		last = *d.LastFailureAt
	}
	v, err := s.dlqCodec.Encode(d)
	if err != nil {
		s.fail(fmt.Errorf("encoding a dead letter: %w", err))
		return
	}
	h := stream.DeadLetterHeaders(it.rec, StageName, class, cause, max(int(d.Attempts), 1), first, last)
	if d.LastStatus != 0 {
		h = append(h, kgo.RecordHeader{Key: topics.HeaderDLQHTTPStatus, Value: []byte(strconv.Itoa(int(d.LastStatus)))})
	}
	rec := kafkax.WithPartition(&kgo.Record{Topic: s.dlqTopic, Key: it.rec.Key, Value: v, Headers: h}, l.p)
	if err := l.client.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		s.fail(fmt.Errorf("writing to %s: %w", s.dlqTopic, err))
		return
	}
	s.m.deliveries.WithLabelValues(d.SubscriptionID, "dead_lettered").Inc()
	s.log.Warn("delivery dead-lettered", zap.String("delivery_id", d.ID), zap.String("subscription", d.SubscriptionID),
		zap.String("class", class), zap.Int32("attempts", d.Attempts), zap.Error(cause))
}

// checkRoute is nil when rec's key is on its murmur2 partition, a
// permanent ClassMisrouted error when it is not, and a transient error
// when the main topic's partition count cannot be read.
func (s *Service) checkRoute(l *lane, rec *kgo.Record) error {
	for range 2 { // once more after a record of a partition beyond the count
		if _, err := s.routes.Partitions(l.ctx, kadm.NewClient(l.client)); err != nil {
			return err
		}
		if err := s.routes.Check(rec); !errors.Is(err, stream.ErrPartitionsChanged) {
			return err
		}
	}
	return s.routes.Check(rec)
}

// deadLetterRaw dead-letters an input record as it is, byte for byte: one
// that does not decode, or one on the wrong partition.
func (s *Service) deadLetterRaw(l *lane, rec *kgo.Record, src source, class string, err error) {
	now := s.now()
	h := stream.DeadLetterHeaders(rec, StageName, class, err, 1, now, now)
	out := kafkax.WithPartition(&kgo.Record{Topic: s.dlqTopic, Key: rec.Key, Value: rec.Value, Headers: h}, l.p)
	if err := l.client.ProduceSync(context.Background(), out).FirstErr(); err != nil {
		s.fail(fmt.Errorf("writing to %s: %w", s.dlqTopic, err))
		return
	}
	s.stageM.DeadLettered.WithLabelValues(StageName, class).Inc()
	s.log.Warn("dead-lettering record", zap.String("topic", rec.Topic), zap.Int32("partition", rec.Partition), zap.Int64("offset", rec.Offset),
		zap.String("error_class", class), zap.Error(err))
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.main
	if src == fromRetry {
		t = l.retry
	}
	t.read(rec.Offset)
	t.finish(rec.Offset)
}

// disable turns a subscription off after a 410 Gone: its deliveries are
// held until an operator enables it again.
func (s *Service) disable(sub event.Subscription, now time.Time) {
	if !sub.Enabled {
		return
	}
	sub.Enabled = false
	sub.DisabledReason = "410 Gone from " + sub.URL + " at " + now.UTC().Format(time.RFC3339)
	sub.UpdatedAt = now.UTC().Truncate(time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.subs.Put(ctx, sub.ID, sub); err != nil {
		s.log.Error("could not disable the subscription after 410 Gone; its deliveries are held only while this process runs", zap.String("subscription", sub.ID), zap.Error(err))
		return
	}
	s.log.Warn("subscription disabled: the endpoint answered 410 Gone", zap.String("subscription", sub.ID))
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
