package dispatcher

import (
	"sync"
	"time"
)

// budget bounds the dispatcher's memory whatever endpoints do. A delivery
// is "loaded" while its whole record is in memory (a few KB); a key, a
// subscription and the instance may each hold only so many. Past those
// bounds deliveries move out to the retry topic, where only their place
// is kept in memory (an unloaded item, tens of bytes), and the loader
// reads them back when their key gets to them — unless their subscription
// finishes what it holds within SpillAfter at its recent rate: then moving
// them out would cost more than it saves, and the main partition is read
// more slowly instead (force, stopReading). "Waiting" counts every
// delivery queued here, loaded or not, and the copies on their way to the
// retry topic; past MaxWaiting the dispatcher stops reading new deliveries
// until it drops below nine tenths of it.
//
// Safe for concurrent use; lanes call it with their own lock held (lane
// lock, then budget lock — never the other way).
type budget struct {
	perKey, perSub, total, maxWaiting int

	mu       sync.Mutex
	loaded   map[string]int // by subscription
	nLoaded  int
	waiting  map[string]int // by subscription
	nWaiting int
	// Deliveries finished per subscription: this second, and a moving
	// average per second (absent: not measured yet).
	finished map[string]int
	rate     map[string]float64
}

func newBudget(perKey, perSub, total, maxWaiting int) *budget {
	return &budget{perKey: perKey, perSub: perSub, total: total, maxWaiting: maxWaiting,
		loaded: map[string]int{}, waiting: map[string]int{}, finished: map[string]int{}, rate: map[string]float64{}}
}

// done counts a finished delivery of sub (delivered or dead-lettered).
func (b *budget) done(sub string) {
	b.mu.Lock()
	b.finished[sub]++
	b.mu.Unlock()
}

// tick folds the last second's finished deliveries into each
// subscription's rate; call it once a second.
func (b *budget) tick() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for sub := range b.waiting {
		n := float64(b.finished[sub])
		if r, ok := b.rate[sub]; ok {
			b.rate[sub] = r/2 + n/2
		} else {
			b.rate[sub] = n
		}
	}
	for sub := range b.rate {
		if _, ok := b.waiting[sub]; !ok {
			delete(b.rate, sub) // nothing waits: start afresh next time
		}
	}
	clear(b.finished)
}

// draining reports whether sub finishes what it holds in memory within
// d at its recent rate — a subscription not measured yet is presumed to.
func (b *budget) draining(sub string, d time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.rate[sub]
	return !ok || float64(b.loaded[sub]) <= r*d.Seconds()
}

// force takes room past the bounds for a subscription that drains fast
// (draining): up to four times its own bound and twice the instance's.
// over says the instance is past its bound, and reading should stop until
// it is back under.
func (b *budget) force(sub string) (ok, over bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.loaded[sub] >= 4*b.perSub || b.nLoaded >= 2*b.total {
		return false, true
	}
	b.loaded[sub]++
	b.nLoaded++
	return true, b.nLoaded >= b.total
}

// rates is a copy of the per-subscription rates.
func (b *budget) rates() map[string]float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]float64, len(b.rate))
	for k, v := range b.rate {
		out[k] = v
	}
	return out
}

// take reserves room for one more loaded delivery of sub, for a key that
// holds keyLoaded already. A key's head (the next delivery to work on)
// may use the whole of its subscription's and the instance's room; a
// delivery behind the head only the first three quarters, so heads of
// other keys always find room.
func (b *budget) take(sub string, keyLoaded int, head bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	perSub, total := b.perSub, b.total
	if !head {
		if keyLoaded >= b.perKey {
			return false
		}
		perSub, total = perSub*3/4, total*3/4
	}
	if b.loaded[sub] >= perSub || b.nLoaded >= total {
		return false
	}
	b.loaded[sub]++
	b.nLoaded++
	return true
}

// release gives back n loaded deliveries of sub.
func (b *budget) release(sub string, n int) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.loaded[sub] -= n
	b.nLoaded -= n
	if b.loaded[sub] <= 0 {
		delete(b.loaded, sub)
	}
}

// wait counts n more (or, negative, fewer) waiting deliveries of sub and
// reports whether the instance is past MaxWaiting.
func (b *budget) wait(sub string, n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.waiting[sub] += n
	b.nWaiting += n
	if b.waiting[sub] <= 0 {
		delete(b.waiting, sub)
	}
	return b.nWaiting >= b.maxWaiting
}

// roomToRead reports whether reading may go on after a stop: fewer than
// nine tenths of MaxWaiting deliveries wait and fewer than three quarters
// of the instance's loaded bound are taken.
func (b *budget) roomToRead() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nWaiting < b.maxWaiting*9/10 && b.nLoaded < b.total*3/4
}

// backlog is a copy of the per-subscription counts: loaded, and waiting
// (loaded or not).
func (b *budget) backlog() (loaded, waiting map[string]int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	loaded, waiting = make(map[string]int, len(b.loaded)), make(map[string]int, len(b.waiting))
	for k, v := range b.loaded {
		loaded[k] = v
	}
	for k, v := range b.waiting {
		waiting[k] = v
	}
	return loaded, waiting
}
