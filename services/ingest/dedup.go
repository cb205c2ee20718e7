package ingest

import (
	"context"
	"sync"
	"time"
)

// dedupIndex answers "has (source, idempotency key) been accepted within
// the window, and as which event id?". Its truth is the compacted
// commerce.ingest.dedup topic, written in the same transaction as the
// event; the index is that topic read into memory at start and tailed
// afterwards, so it survives restarts and sees other instances' writes.
//
// Keys being written by this instance are "pending": a second request
// with the same key waits for the first one's outcome instead of writing
// a second event.
type dedupIndex struct {
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]dedupEntry
	pending map[string]*pendingKey
}

type dedupEntry struct {
	eventID string
	at      time.Time
}

type pendingKey struct {
	eventID string
	done    chan struct{} // closed when the write finished
}

func newDedupIndex(window time.Duration, now func() time.Time) *dedupIndex {
	return &dedupIndex{
		window:  window,
		now:     now,
		entries: make(map[string]dedupEntry),
		pending: make(map[string]*pendingKey),
	}
}

// observe records an accepted (key, event id) read from the dedup topic or
// just committed by this instance.
func (d *dedupIndex) observe(key, eventID string, at time.Time) {
	if d.now().Sub(at) > d.window {
		return
	}
	d.mu.Lock()
	if cur, ok := d.entries[key]; !ok || at.Before(cur.at) {
		// The first acceptance wins: an id handed out stays the answer.
		d.entries[key] = dedupEntry{eventID: eventID, at: at}
	}
	d.mu.Unlock()
}

// claim returns the event id already accepted for key (dup = true), or
// reserves key for newID (dup = false); the caller must then call release.
// It waits while another request of this instance holds key.
func (d *dedupIndex) claim(ctx context.Context, key, newID string) (id string, dup bool, err error) {
	for {
		d.mu.Lock()
		if e, ok := d.entries[key]; ok && d.now().Sub(e.at) <= d.window {
			d.mu.Unlock()
			return e.eventID, true, nil
		}
		p, busy := d.pending[key]
		if !busy {
			d.pending[key] = &pendingKey{eventID: newID, done: make(chan struct{})}
			d.mu.Unlock()
			return newID, false, nil
		}
		d.mu.Unlock()
		select {
		case <-p.done:
		case <-ctx.Done():
			return "", false, ctx.Err()
		}
	}
}

// release ends a claim: committed records the key as accepted.
func (d *dedupIndex) release(key string, committed bool, at time.Time) {
	d.mu.Lock()
	p := d.pending[key]
	delete(d.pending, key)
	if committed && p != nil {
		if _, ok := d.entries[key]; !ok {
			d.entries[key] = dedupEntry{eventID: p.eventID, at: at}
		}
	}
	d.mu.Unlock()
	if p != nil {
		close(p.done)
	}
}

// expire drops entries older than the window; it runs periodically.
func (d *dedupIndex) expire() int {
	cutoff := d.now().Add(-d.window)
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for k, e := range d.entries {
		if e.at.Before(cutoff) {
			delete(d.entries, k)
			n++
		}
	}
	return n
}

// size is the number of keys remembered.
func (d *dedupIndex) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.entries)
}
