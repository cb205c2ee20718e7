package dispatcher

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/event"
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
	running   bool        // a worker owns the head
	timer     *time.Timer // wakes the key for its head's next attempt
}

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

	mu      sync.Mutex
	keys    map[string]*keyState
	main    *offsets
	retry   *offsets
	client  *kgo.Client // the session's client that was given this partition
	loaded  bool        // the retry partition was read to its end at assignment
	loadEnd int64       // that end offset
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
