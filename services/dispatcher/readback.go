package dispatcher

import (
	"github.com/surgehq/surge/pkg/observe"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

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
		s.log.Error("a delivery read back from the retry topic does not decode; it is dead-lettered", zap.Int64(observe.KeyOffset, rec.Offset), zap.Error(err))
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
			zap.String(observe.KeyRecordKey, r.key), zap.Int32(observe.KeyPartition, l.p), zap.Int64(observe.KeyOffset, r.offset))
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
