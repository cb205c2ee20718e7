package dispatcher

import "sync"

// budget bounds the dispatcher's memory whatever endpoints do. A delivery
// is "loaded" while its whole record is in memory (a few KB); a key, a
// subscription and the instance may each hold only so many. Past those
// bounds deliveries move out to the retry topic, where only their place
// is kept in memory (an unloaded item, tens of bytes), and the loader
// reads them back when their key gets to them. "Waiting" counts every
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
}

func newBudget(perKey, perSub, total, maxWaiting int) *budget {
	return &budget{perKey: perKey, perSub: perSub, total: total, maxWaiting: maxWaiting,
		loaded: map[string]int{}, waiting: map[string]int{}}
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

// roomToRead reports whether reading may go on after a stop for
// MaxWaiting: below nine tenths of it.
func (b *budget) roomToRead() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nWaiting < b.maxWaiting*9/10
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
