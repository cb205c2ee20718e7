package dispatcher

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/stream"
)

// source says which input topic an item was read from.
type source uint8

const (
	fromMain  source = iota // commerce.deliveries
	fromRetry               // commerce.deliveries.retry
)

// item is one delivery read from an input partition and not finished yet.
type item struct {
	src    source
	offset int64
	rec    *kgo.Record // kept for its key and headers
	d      event.Delivery
}

// keyState is one (subscription, entity key): its deliveries wait here in
// order and at most one of them is being worked on.
//
// A key is parked while it has deliveries in the retry topic: retry items
// read back (retry) or written and not read back yet (inTransit). While a
// key is parked, every delivery of it read from the main topic follows the
// others into the retry topic at once, so the main partition's committed
// offset never waits for a parked key. main holds deliveries of an
// unparked key in main-topic order.
type keyState struct {
	retry     []*item
	main      []*item
	inTransit int
	running   bool         // a worker owns the head
	timer     *time.Timer  // wakes the key for its head's next attempt
	phase     atomic.Int32 // what the worker does, while running (a phase); set without l.mu
}

// phase is what a key's worker is doing, as the stall watchdog sees it.
// Some phases are waits Surge imposes by design and bounds (an endpoint's
// limits, --max-in-flight, a request within its timeout); the others
// should end within moments, and a key's head that stays in one of them
// holds its partition's committed offset for no good reason.
type phase int32

const (
	phaseDeciding      phase = iota // reading the subscription, choosing what to do
	phaseEndpointLimit              // waiting for the endpoint's max_in_flight or rate_limit_per_s
	phaseRequestSlot                // waiting for a slot under --max-in-flight
	phaseRequest                    // an HTTP request in flight, bounded by its timeout
	phaseDeadLetter                 // writing a dead letter, waiting for Kafka to acknowledge it
	phaseDisabling                  // writing the subscription disabled after a 410 Gone
)

// legit reports whether a head in this phase waits by design.
func (p phase) legit() bool {
	return p == phaseEndpointLimit || p == phaseRequestSlot || p == phaseRequest
}

func (p phase) String() string {
	switch p {
	case phaseDeciding:
		return "deciding what to do with its next delivery"
	case phaseEndpointLimit:
		return "waiting for its endpoint's in-flight or rate limit"
	case phaseRequestSlot:
		return "waiting for a request slot (--max-in-flight)"
	case phaseRequest:
		return "waiting for its endpoint's answer"
	case phaseDeadLetter:
		return "writing a dead letter: Kafka has not acknowledged it"
	case phaseDisabling:
		return "disabling its subscription after 410 Gone"
	}
	return fmt.Sprintf("phase %d", int32(p))
}

func (k *keyState) setPhase(p phase) { k.phase.Store(int32(p)) }

func (k *keyState) parked() bool { return len(k.retry) > 0 || k.inTransit > 0 }

// head is the delivery to work on next: parked ones first, in retry
// order, then the main ones.
func (k *keyState) head() *item {
	if len(k.retry) > 0 {
		return k.retry[0]
	}
	if len(k.main) > 0 {
		return k.main[0]
	}
	return nil
}

// pop removes it from the front of its queue.
func (k *keyState) pop(it *item) {
	if len(k.retry) > 0 && k.retry[0] == it {
		k.retry = k.retry[1:]
		return
	}
	if len(k.main) > 0 && k.main[0] == it {
		k.main = k.main[1:]
	}
}

// lane is one input partition number this instance owns: partition p of
// commerce.deliveries and partition p of commerce.deliveries.retry, which
// hold the same keys (both are partitioned by key with the same count).
type lane struct {
	p      int32
	ctx    context.Context // cancelled when the partition is revoked
	cancel context.CancelFunc

	mu       sync.Mutex
	keys     map[string]*keyState
	main     *offsets
	retry    *offsets
	client   *kgo.Client // the session's client that was given this partition
	loaded   bool        // the retry partition was read to its end at assignment
	loadEnd  int64       // that end offset
	loadFrom int64       // the group's committed offset on the retry partition at assignment
}

func newLane(p int32) *lane {
	ctx, cancel := context.WithCancel(context.Background())
	return &lane{p: p, ctx: ctx, cancel: cancel, keys: map[string]*keyState{}, main: newOffsets(), retry: newOffsets()}
}

func (l *lane) key(k string) *keyState {
	ks := l.keys[k]
	if ks == nil {
		ks = &keyState{}
		l.keys[k] = ks
	}
	return ks
}

// forget drops a key with nothing left, so idle keys cost no memory.
func (l *lane) forget(k string, ks *keyState) {
	if !ks.running && ks.head() == nil && ks.inTransit == 0 && ks.timer == nil {
		delete(l.keys, k)
	}
}

// finish marks an item's offset finished in its partition's tracker.
func (l *lane) finish(it *item) {
	if it.src == fromMain {
		l.main.finish(it.offset)
	} else {
		l.retry.finish(it.offset)
	}
}

// parkedKeys counts keys with deliveries in the retry topic.
func (l *lane) parkedKeys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ks := range l.keys {
		if ks.parked() {
			n++
		}
	}
	return n
}

// progress is what the lane's partition of one input topic looks like to
// the stall watchdog (ok is false while nothing of it was read). The
// partition's committed offset is its first unfinished offset; it is
// pending when the delivery there is held up by something that is not a
// wait by design: a copy to the retry topic or a dead letter Kafka does
// not acknowledge, a key with deliveries and no worker, a worker stuck
// outside a request, or (retry topic) the read to its end that must finish
// before the partition's deliveries go. A key waiting for its next attempt
// (in memory or parked), held for a paused or disabled subscription, or in
// an endpoint's limits or a request, is not pending. Called with l.mu
// held.
func (l *lane) progress(src source, topic string) (p stream.Progress, ok bool) {
	t := l.main
	if src == fromRetry {
		t = l.retry
	}
	p = stream.Progress{Topic: topic, Partition: l.p}
	if src == fromRetry && !l.loaded {
		p.Offset = l.loadFrom
		if o, read := t.commit(); read {
			p.Offset = o
		}
		p.Pending, p.Steps = true, t.next
		p.Reason = fmt.Sprintf("reading partition %d of %s to its end (offset %d, at %d) before its deliveries go", l.p, topic, l.loadEnd, max(t.next, l.loadFrom))
		return p, true
	}
	o, read := t.commit()
	if !read {
		return p, false
	}
	p.Offset = o
	if t.pending() == 0 {
		return p, true
	}
	key, ks := l.holder(src, o)
	switch {
	case ks == nil:
		p.Pending = true
		p.Reason = fmt.Sprintf("the delivery at offset %d was written to the retry topic and Kafka has not acknowledged it", o)
	case ks.timer != nil:
	case !ks.running:
		p.Pending = l.loaded // until then no key starts, by design
		p.Reason = fmt.Sprintf("key %s has deliveries to make and no worker", key)
	default:
		ph := phase(ks.phase.Load())
		p.Pending = !ph.legit()
		p.Reason = fmt.Sprintf("key %s is %s", key, ph)
	}
	return p, true
}

// holder finds the key holding the delivery read from src at offset o;
// nil when no key holds it (its copy to the retry topic is in flight).
// Called with l.mu held.
func (l *lane) holder(src source, o int64) (string, *keyState) {
	for k, ks := range l.keys {
		for _, q := range [][]*item{ks.retry, ks.main} {
			for _, it := range q {
				if it.src == src && it.offset == o {
					return k, ks
				}
			}
		}
	}
	return "", nil
}
