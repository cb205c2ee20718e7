package dispatcher

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
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
	stepDone  stepKind = iota // delivered or dead-lettered: the head is finished
	stepWait                  // try the head again after wait, in memory
	stepPark                  // move the key's deliveries to the retry topic
	stepLetGo                 // a retry-topic head, unchanged, waits with its record back in Kafka
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
	if s.skipResumed(l, src, rec.Offset) {
		return
	}
	if src == fromRetry && isFinishedRecord(rec) {
		s.readFinished(l, rec)
		return
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
	key := string(rec.Key)
	it := &item{key: key, src: src, offset: rec.Offset, origin: rec.Offset, rec: detach(rec), d: &d, written: rec.Timestamp, created: d.CreatedAt, read: s.now()}
	if d.NextAttemptAt != nil {
		it.due = *d.NextAttemptAt
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	ks := l.key(key)
	if src == fromMain {
		l.main.read(rec.Offset)
		defer s.mainReadPast(l)
		if ks.parked() && !s.beforeParked(ks, it.origin) {
			// Follow the key's parked deliveries, in order; the main
			// offset is finished once the copy is durable.
			s.toRetry(l, ks, []*item{it})
			return
		}
		if !s.budget.take(ks.sub, ks.loaded, ks.head() == nil) {
			ok, over := false, false
			if s.budget.draining(ks.sub, s.cfg.SpillAfter) {
				ok, over = s.budget.force(ks.sub) // it frees its room soon: read more slowly
			}
			if over {
				s.stopReading(l)
			}
			if !ok {
				// No room in memory: the key's deliveries from here on
				// wait in the retry topic, and the main offset moves on.
				s.m.spilled.Inc()
				s.toRetry(l, ks, []*item{it})
				return
			}
		}
		s.enqueue(l, ks, it)
		s.kick(l, key, ks)
		return
	}

	l.retry.read(rec.Offset)
	it.origin = originOf(rec)
	if ks.arrived(it.origin) {
		s.budget.wait(ks.sub, -1)
	}
	s.insertRetry(l, ks, it)
	if !l.loaded && l.retry.next >= l.loadEnd {
		s.markLoaded(l)
	}
	s.kick(l, key, ks)
}

// detach copies what an item keeps of its record — key, headers, where
// it was read — so it holds no reference into the fetch response the
// record came in (a few MB, which every kept record would pin).
func detach(rec *kgo.Record) *kgo.Record {
	out := &kgo.Record{Key: bytes.Clone(rec.Key), Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp}
	if len(rec.Headers) > 0 {
		out.Headers = make([]kgo.RecordHeader, len(rec.Headers))
		for i, h := range rec.Headers {
			out.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: bytes.Clone(h.Value)}
		}
	}
	return out
}

// isFinishedRecord reports whether rec is a finished record, not a
// delivery.
func isFinishedRecord(rec *kgo.Record) bool {
	for _, h := range rec.Headers {
		if h.Key == topics.HeaderRetryFinished {
			return true
		}
	}
	return false
}

// readFinished applies a finished record: the retry deliveries it names
// were finished by an earlier owner after its last commit; they are
// dropped unless a worker already has one in hand (then it is repeated,
// at least once).
func (s *Service) readFinished(l *lane, rec *kgo.Record) {
	offs, err := decodeOffsets(string(rec.Value))
	if err != nil {
		s.log.Warn("a finished record in the retry topic does not read; its deliveries may be repeated", zap.Int64("offset", rec.Offset), zap.Error(err))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range offs {
		it := l.retryItems[o]
		if it == nil {
			continue
		}
		ks := l.keys[it.key]
		if ks == nil || ks.running && ks.head() == it {
			continue
		}
		s.dequeue(l, ks, it)
		l.retry.finish(o)
		s.m.skippedFinished.Inc()
	}
	l.retry.read(rec.Offset)
	l.retry.finish(rec.Offset)
	if !l.loaded && l.retry.next >= l.loadEnd {
		s.markLoaded(l)
	}
}

// noteFinished returns the finished record for the retry offsets l
// finished since the last one, or nil. Called with l.mu held.
func (s *Service) noteFinished(l *lane) *kgo.Record {
	if len(l.finishedRetry) == 0 {
		return nil
	}
	offs := l.finishedRetry
	l.finishedRetry = nil
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	return kafkax.WithPartition(&kgo.Record{Topic: s.retryTopic, Value: []byte(encodeOffsets(offs)),
		Headers: []kgo.RecordHeader{{Key: topics.HeaderRetryFinished, Value: []byte("1")}}}, l.p)
}

// skipResumed finishes at once a record the previous owner of the
// partition had finished (its committed position says so).
func (s *Service) skipResumed(l *lane, src source, offset int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, r := l.main, l.mainResume
	if src == fromRetry {
		t, r = l.retry, l.retryResume
	}
	if r == nil || offset >= r.end {
		return false
	}
	if r.skip(offset) {
		t.read(offset)
		t.finish(offset)
		if src == fromRetry && !l.loaded && l.retry.next >= l.loadEnd {
			s.markLoaded(l)
		}
		if src == fromMain {
			s.mainReadPast(l)
		}
		return true
	}
	s.m.resumed.WithLabelValues(topicLabel(src)).Inc() // unfinished before: in flight or waiting
	return false
}

func topicLabel(src source) string {
	if src == fromRetry {
		return "retry"
	}
	return "main"
}

// originOf reads a retry record's origin offset; a record without one
// (written before the header existed) sorts before every other.
func originOf(rec *kgo.Record) int64 {
	for _, h := range rec.Headers {
		if h.Key == topics.HeaderOriginOffset {
			if o, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				return o
			}
		}
	}
	return -1
}

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

// fill is the loader handing back a retry record: an unloaded item it
// belongs to gets it if it is a head being read back or the budget has
// room for it.
func (s *Service) fill(l *lane, rec *kgo.Record, refresh bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	it := l.unloaded[rec.Offset]
	if it == nil || l.ctx.Err() != nil {
		return
	}
	key := string(rec.Key)
	ks := l.keys[key]
	if ks == nil {
		return
	}
	head := ks.loading && ks.head() == it // its room was taken when the load was asked for
	switch {
	case head:
	case refresh && !ks.running:
		if ok, _ := s.budget.force(ks.sub); !ok {
			return
		}
		it.refreshing = true
	case !s.wantLoaded(ks, it) || !s.budget.take(ks.sub, ks.loaded, false):
		return
	}
	d, err := s.retryCodec.Decode(l.ctx, rec.Value)
	if err != nil {
		s.budget.release(ks.sub, 1) // the head's reserved room, or the room just taken
		ks.loading = false
		s.log.Error("a delivery read back from the retry topic does not decode; it is dead-lettered", zap.Int64("offset", rec.Offset), zap.Error(err))
		s.dequeue(l, ks, it)
		go func() {
			s.writeRawDeadLetter(l, rec, ClassUndecodable, err)
			l.mu.Lock()
			l.finish(it)
			s.kick(l, key, ks)
			l.mu.Unlock()
		}()
		return
	}
	delete(l.unloaded, it.offset)
	it.rec, it.d = detach(rec), &d
	ks.loaded++
	s.m.loads.Inc()
	if head {
		ks.loading = false
		s.kick(l, key, ks)
	}
}

// settleLoad ends a head load the loader has finished with. If the head
// was not filled its room is given back; if the loader read past its
// offset without finding it, the record is gone from the retry topic (it
// outlived the topic's retention) and the delivery cannot be made.
func (s *Service) settleLoad(r loadReq, gone bool) {
	l := r.l
	l.mu.Lock()
	defer l.mu.Unlock()
	ks := l.keys[r.key]
	if ks == nil || !ks.loading {
		return
	}
	ks.loading = false
	s.budget.release(ks.sub, 1)
	if h := ks.head(); gone && h != nil && !h.loaded() && h.offset == r.offset {
		s.m.lost.Inc()
		s.log.Error("a parked delivery's record is gone from the retry topic (deleted by retention?); it cannot be delivered",
			zap.String("key", r.key), zap.Int32("partition", l.p), zap.Int64("offset", r.offset))
		s.dequeue(l, ks, h)
		l.finish(h)
	}
	if l.ctx.Err() == nil {
		s.kick(l, r.key, ks)
	}
}

// refreshOld asks the loader for the waiting deliveries whose retry record
// is older than RefreshAfter (a bounded number at a time); once read back
// they are written again (settleRefresh), so a delivery behind a head
// that waits for days (a paused subscription) is never deleted by the
// retry topic's retention before its turn.
func (s *Service) refreshOld() {
	lanes := s.ownedLanes()
	cutoff := s.now().Add(-s.cfg.RefreshAfter)
	budget := 1000
	for _, l := range lanes {
		l.mu.Lock()
		for key, ks := range l.keys {
			if ks.running || ks.loading {
				continue
			}
			for _, it := range ks.queue {
				if budget == 0 {
					break
				}
				if it.src == fromRetry && !it.loaded() && it.written.Before(cutoff) {
					if s.loader.request(loadReq{l: l, key: key, offset: it.offset, refresh: true}) {
						budget--
					}
				}
			}
		}
		l.mu.Unlock()
	}
}

// settleRefresh writes again, at the end of the retry topic, the old
// deliveries of r's key the loader read back, and lets go of them.
func (s *Service) settleRefresh(r loadReq) {
	l := r.l
	l.mu.Lock()
	defer l.mu.Unlock()
	ks := l.keys[r.key]
	if ks == nil {
		return
	}
	var move []*item
	for _, it := range ks.queue {
		if it.refreshing {
			it.refreshing = false
			if !ks.running && it.loaded() && it != ks.head() {
				move = append(move, it)
			}
		}
	}
	for _, it := range move {
		s.dequeue(l, ks, it)
	}
	s.toRetry(l, ks, move)
}

// feedStarved kicks, in every lane, the keys whose head waited for room
// to be read back (room another lane gave back). If some still wait, the
// room is held by deliveries behind heads (loaded while their key was
// worked on, or a head that a copy read back later went before): those
// let go of their records — they are unchanged and read back when their
// turn comes — so a head always finds room in the end.
func (s *Service) feedStarved() {
	lanes := s.ownedLanes()
	starved := false
	for _, l := range lanes {
		l.mu.Lock()
		s.feedStarvedLocked(l)
		starved = starved || len(l.starved) > 0
		l.mu.Unlock()
	}
	if !starved {
		return
	}
	for _, l := range lanes {
		l.mu.Lock()
		for _, ks := range l.keys {
			if ks.running || ks.loading {
				continue
			}
			for _, it := range ks.queue[min(1, len(ks.queue)):] {
				s.unloadQueued(l, ks, it)
			}
		}
		l.mu.Unlock()
	}
	for _, l := range lanes {
		l.mu.Lock()
		s.feedStarvedLocked(l)
		l.mu.Unlock()
	}
}

// feedStarvedLocked kicks l's starved keys. Called with l.mu held.
func (s *Service) feedStarvedLocked(l *lane) {
	for key := range l.starved {
		delete(l.starved, key)
		if ks := l.keys[key]; ks != nil {
			s.kick(l, key, ks)
		}
	}
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
			s.log.Debug("key parked", zap.String("key", key), zap.String("why", st.why))
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
// one HTTP attempt. It tells the stall watchdog what it waits for through
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

// deadLetter writes the delivery, with its attempt state and the
// dead-letter headers, to the same partition of commerce.deliveries.dlq
// and waits until it is durable.
func (s *Service) deadLetter(l *lane, it *item, class string, cause error, now time.Time) {
	d := *it.d
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
	if !s.writeRawDeadLetter(l, rec, class, err) {
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

// writeRawDeadLetter writes rec as it is, with the dead-letter headers,
// and waits until it is durable; false if Kafka refused it (the session
// then ends).
func (s *Service) writeRawDeadLetter(l *lane, rec *kgo.Record, class string, err error) bool {
	now := s.now()
	h := stream.DeadLetterHeaders(rec, StageName, class, err, 1, now, now)
	out := kafkax.WithPartition(&kgo.Record{Topic: s.dlqTopic, Key: rec.Key, Value: rec.Value, Headers: h}, l.p)
	if err := l.client.ProduceSync(context.Background(), out).FirstErr(); err != nil {
		s.fail(fmt.Errorf("writing to %s: %w", s.dlqTopic, err))
		return false
	}
	return true
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
