package dispatcher

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/position"
	"github.com/surgehq/surge/pkg/stream"
)

// source says which input topic an item was read from.
type source uint8

const (
	fromMain  source = iota // commerce.deliveries
	fromRetry               // commerce.deliveries.retry
)

// item is one delivery read from an input partition and not finished yet.
// A retry-topic item may be unloaded: only its place is kept in memory
// (offset, order, due time) and its record stays in Kafka until the
// loader reads it back; main-topic items are always loaded.
type item struct {
	key     string // its delivery key
	src     source
	offset  int64     // in its own topic
	origin  int64     // the key's order: its offset in commerce.deliveries when first read
	due     time.Time // its next attempt (zero: now)
	created time.Time // when fanout made the delivery
	written time.Time // when its record was written
	read    time.Time // when this instance read it
	// refreshing: read back to be written again (Service.refreshOld)
	refreshing bool
	rec        *kgo.Record     // nil while unloaded; kept for its key and headers
	d          *event.Delivery // nil while unloaded
}

func (it *item) loaded() bool { return it.rec != nil }

// keyState is one (subscription, entity key): its deliveries wait here in
// key order (origin) and at most one of them is being worked on.
//
// A key is parked while it has deliveries in the retry topic: retry items
// (loaded or not) or copies written and not read back yet (inTransit).
// While a key is parked, every delivery of it read from the main topic
// follows the others into the retry topic at once, so the main partition's
// committed offset never waits for a parked key.
type keyState struct {
	sub     string       // subscription id
	queue   []*item      // in origin order
	inRetry int          // items of queue read from the retry topic
	loaded  int          // items of queue with their record in memory
	transit []int64      // origins of copies written to the retry topic, not read back yet
	running bool         // a worker owns the head
	loading bool         // the loader is reading the head back
	timer   *time.Timer  // wakes the key for its head's next attempt
	phase   atomic.Int32 // what the worker does, while running (a phase); set without l.mu
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

func (k *keyState) parked() bool { return k.inRetry > 0 || len(k.transit) > 0 }

// arrived takes a copy read back off the transit list.
func (k *keyState) arrived(origin int64) bool {
	for i, o := range k.transit {
		if o == origin {
			k.transit = append(k.transit[:i], k.transit[i+1:]...)
			return true
		}
	}
	return false
}

// earlierInTransit reports whether a copy of an earlier delivery of the key
// is on its way to the retry topic: nothing after it may go first.
func (k *keyState) earlierInTransit(origin int64) bool {
	for _, o := range k.transit {
		if o < origin {
			return true
		}
	}
	return false
}

// head is the delivery to work on next.
func (k *keyState) head() *item {
	if len(k.queue) == 0 {
		return nil
	}
	return k.queue[0]
}

// insert places it in origin order (almost always at the end).
func (k *keyState) insert(it *item) {
	i := len(k.queue)
	for i > 0 && k.queue[i-1].origin > it.origin {
		i--
	}
	k.queue = append(k.queue, nil)
	copy(k.queue[i+1:], k.queue[i:])
	k.queue[i] = it
	if it.src == fromRetry {
		k.inRetry++
	}
	if it.loaded() {
		k.loaded++
	}
}

// remove takes it out of the queue; false if it is not there.
func (k *keyState) remove(it *item) bool {
	for i, x := range k.queue {
		if x != it {
			continue
		}
		k.queue = append(k.queue[:i], k.queue[i+1:]...)
		if it.src == fromRetry {
			k.inRetry--
		}
		if it.loaded() {
			k.loaded--
		}
		return true
	}
	return false
}

// withOrigin is the queued item of that origin, if any.
func (k *keyState) withOrigin(origin int64) *item {
	i := sort.Search(len(k.queue), func(i int) bool { return k.queue[i].origin >= origin })
	if i < len(k.queue) && k.queue[i].origin == origin {
		return k.queue[i]
	}
	return nil
}

// subscriptionOf is the subscription id in a delivery key
// "<subscription id>/<entity key>".
func subscriptionOf(key string) string {
	sub, _, _ := strings.Cut(key, "/")
	return sub
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
	unloaded map[int64]*item // retry offset → unloaded item, for the loader
	main     *offsets
	retry    *offsets
	client   *kgo.Client // the session's client that was given this partition
	loaded   bool        // the retry partition was read to its end at assignment
	loadEnd  int64       // that end offset
	loadFrom int64       // the group's committed offset on the retry partition at assignment
	// Where the previous owner's commits left off (nil: nothing to skip).
	mainResume, retryResume *position.Resume
	// mainStart is where reading the main partition began at assignment:
	// every main record before it was finished. A retry delivery whose
	// origin is at or past it waits until the main partition has been
	// read past its origin, so earlier deliveries of its key still to be
	// read from the main topic go first (waitMain holds those keys).
	mainStart int64
	waitMain  originHeap
	starved   map[string]bool // keys whose head waits for room to load
	// finishedRetry are retry offsets finished since the last finished
	// record; retryItems are the queued retry items by offset, for the
	// finished records a new owner reads.
	finishedRetry []int64
	retryItems    map[int64]*item
}

// originWait is a key waiting for the main partition to be read past
// origin.
type originWait struct {
	origin int64
	key    string
}

// originHeap is a min-heap of originWait by origin (container/heap).
type originHeap []originWait

func (h originHeap) Len() int           { return len(h) }
func (h originHeap) Less(i, j int) bool { return h[i].origin < h[j].origin }
func (h originHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *originHeap) Push(x any)        { *h = append(*h, x.(originWait)) }
func (h *originHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newLane(p int32) *lane {
	ctx, cancel := context.WithCancel(context.Background())
	return &lane{p: p, ctx: ctx, cancel: cancel, keys: map[string]*keyState{}, unloaded: map[int64]*item{},
		main: newOffsets(), retry: newOffsets(), starved: map[string]bool{}, retryItems: map[int64]*item{}}
}

func (l *lane) key(k string) *keyState {
	ks := l.keys[k]
	if ks == nil {
		ks = &keyState{sub: subscriptionOf(k)}
		l.keys[k] = ks
	}
	return ks
}

// forget drops a key with nothing left, so idle keys cost no memory.
func (l *lane) forget(k string, ks *keyState) {
	if !ks.running && !ks.loading && ks.head() == nil && len(ks.transit) == 0 && ks.timer == nil {
		delete(l.keys, k)
		delete(l.starved, k)
	}
}

// finish marks an item's offset finished in its partition's tracker.
func (l *lane) finish(it *item) {
	if it.src == fromMain {
		l.main.finish(it.offset)
	} else {
		l.finishRetry(it.offset)
	}
}

// finishRetry finishes a retry offset and notes it for the next finished
// record (Service.noteFinished), so a later owner skips it even where the
// committed position cannot say so.
func (l *lane) finishRetry(o int64) {
	l.retry.finish(o)
	l.finishedRetry = append(l.finishedRetry, o)
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
// (in memory or parked), held for a paused or disabled subscription,
// waiting for its head to be read back or for room in memory, or in an
// endpoint's limits or a request, is not pending. Called with l.mu held.
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
	case ks.timer != nil, ks.loading, l.starved[key], ks.head() != nil && !ks.head().loaded():
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
		for _, it := range ks.queue {
			if it.src == src && it.offset == o {
				return k, ks
			}
		}
	}
	return "", nil
}
