package dispatcher

import (
	"container/heap"
	"time"
)

// insertRetry queues a delivery read from the retry topic, loaded if the
// budget has room. Called with l.mu held.
func (s *Service) insertRetry(l *lane, ks *keyState, it *item) {
	// A key re-parked (its head copied to the end of the retry topic)
	// before a restart is read back twice: the later copy, with the
	// newer attempt state, takes the earlier one's place.
	if old := s.copyOf(ks, it); old != nil {
		if old == ks.head() && ks.running {
			l.finishRetry(it.offset) // the worker has the older copy in hand
			return
		}
		s.dequeue(l, ks, old)
		l.finish(old)
	}
	if !s.wantLoaded(ks, it) || !s.budget.take(ks.sub, ks.loaded, s.wouldBeHead(ks, it)) {
		s.unload(l, it)
	}
	s.enqueue(l, ks, it)
}

func (s *Service) wouldBeHead(ks *keyState, it *item) bool {
	return len(ks.queue) == 0 || it.origin < ks.queue[0].origin
}

// wantLoaded reports whether a retry delivery read now should keep its
// record in memory: as its key's head if it is due soon and its
// subscription not held; behind the head only while the head is being
// worked on or read back (so deliveries of keys that wait long never hold
// memory).
func (s *Service) wantLoaded(ks *keyState, it *item) bool {
	if s.wouldBeHead(ks, it) {
		return !s.held(ks.sub) && !it.due.After(s.now().Add(s.cfg.MemoryWait))
	}
	h := ks.head()
	return h != nil && (ks.running || ks.loading || h.loaded() && !h.due.After(s.now().Add(s.cfg.MemoryWait)))
}

// copyOf is the queued item carrying the same delivery as it.
func (s *Service) copyOf(ks *keyState, it *item) *item {
	if it.origin >= 0 {
		return ks.withOrigin(it.origin)
	}
	for _, x := range ks.queue {
		if x.origin < 0 && x.loaded() && x.d.ID == it.d.ID {
			return x
		}
	}
	return nil
}

// enqueue adds it to the key's queue and counts it. Called with l.mu held
// and, for a loaded item, its budget taken.
func (s *Service) enqueue(l *lane, ks *keyState, it *item) {
	ks.insert(it)
	if it.src == fromRetry {
		l.retryItems[it.offset] = it
	}
	if s.budget.wait(ks.sub, 1) {
		s.stopReading(l)
	}
}

// dequeue takes it off the key's queue and gives its room back. Called
// with l.mu held.
func (s *Service) dequeue(l *lane, ks *keyState, it *item) {
	if !ks.remove(it) {
		return
	}
	if it.loaded() {
		s.budget.release(ks.sub, 1)
	}
	if it.src == fromRetry {
		delete(l.retryItems, it.offset)
		if !it.loaded() {
			delete(l.unloaded, it.offset)
		}
	}
	s.budget.wait(ks.sub, -1)
}

// unload drops a retry item's record from memory; its place stays. Called
// with l.mu held, for an item not (or no longer) counted as loaded.
func (s *Service) unload(l *lane, it *item) {
	it.rec, it.d = nil, nil
	l.unloaded[it.offset] = it
}

// unloadQueued unloads a queued retry item, giving its room back.
func (s *Service) unloadQueued(l *lane, ks *keyState, it *item) {
	if !it.loaded() || it.src != fromRetry {
		return
	}
	ks.loaded--
	s.budget.release(ks.sub, 1)
	s.unload(l, it)
}

// beforeParked reports whether a main-topic delivery comes before the
// key's parked ones: a record read again after an assignment that the
// previous owner had not finished, while later deliveries of its key wait
// in the retry topic. It is queued in its place instead of following.
func (s *Service) beforeParked(ks *keyState, origin int64) bool {
	for _, it := range ks.queue {
		if it.src == fromRetry {
			return origin < it.origin
		}
	}
	return false
}

// workable reports whether the key's head may go now: no copy of an
// earlier delivery is on its way to the retry topic, and, for a retry
// delivery, no earlier one can still come from the main partition. A key
// that must wait for the main partition is kicked again once it is read
// past the head's origin. Called with l.mu held.
func (s *Service) workable(l *lane, key string, ks *keyState, h *item) bool {
	if ks.earlierInTransit(h.origin) {
		return false // kicked when the copy is read back
	}
	if h.src == fromRetry && h.origin >= l.mainStart && l.main.next <= h.origin {
		heap.Push(&l.waitMain, originWait{origin: h.origin, key: key})
		return false
	}
	return true
}

// mainReadPast kicks the keys whose head waited for the main partition to
// be read past its origin. Called with l.mu held.
func (s *Service) mainReadPast(l *lane) {
	for l.waitMain.Len() > 0 && l.waitMain[0].origin < l.main.next {
		w := heap.Pop(&l.waitMain).(originWait)
		if ks := l.keys[w.key]; ks != nil {
			s.kick(l, w.key, ks)
		}
	}
}

// kick starts a worker for the key unless one runs, a timer will, or its
// head is being read back; an unloaded head is read back first (when it is
// due and there is room). Called with l.mu held.
func (s *Service) kick(l *lane, key string, ks *keyState) {
	if ks.running || ks.timer != nil || ks.loading || !l.loaded {
		return
	}
	h := ks.head()
	if h == nil || !s.workable(l, key, ks, h) {
		return
	}
	if !h.loaded() {
		// Read it back once it is due and its subscription not held; a
		// long wait wakes early when its record is old enough to be
		// refreshed (ParkRefresh).
		now := s.now()
		var wakeAt time.Time
		switch {
		case s.held(ks.sub):
			wakeAt = now.Add(s.cfg.HoldRecheck)
		case h.due.After(now):
			wakeAt = h.due
		}
		if refresh := h.written.Add(s.cfg.ParkRefresh); !wakeAt.IsZero() && refresh.After(now) {
			if refresh.Before(wakeAt) {
				wakeAt = refresh
			}
			ks.timer = time.AfterFunc(wakeAt.Sub(now), func() { s.wake(l, key) })
			return
		}
		if !s.budget.take(ks.sub, ks.loaded, true) {
			l.starved[key] = true // asks again when room frees (Service.feedStarved)
			return
		}
		ks.loading = true
		delete(l.starved, key)
		if !s.loader.request(loadReq{l: l, key: key, offset: h.offset}) {
			ks.loading = false
			s.budget.release(ks.sub, 1)
			l.starved[key] = true
		}
		return
	}
	ks.running = true
	go s.work(l, key)
}
