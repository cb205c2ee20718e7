package dispatcher

import (
	"bytes"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// intake takes one polled record of an input partition this instance owns
// into that partition's lane, behind the earlier deliveries of its key (or
// dead-letters it when it is misrouted or undecodable).
func (s *Service) intake(rec *kgo.Record) {
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
		s.log.Warn("a finished record in the retry topic does not read; its deliveries may be repeated", zap.Int64(observe.KeyOffset, rec.Offset), zap.Error(err))
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
	if r == nil || offset >= r.End {
		return false
	}
	if r.Skip(offset) {
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
