package dispatcher

import (
	"context"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/position"
	"github.com/surgehq/surge/pkg/topics"
)

// assigned creates the lanes of new partitions. A lane's main partition
// stays paused until its retry partition was read to the end offset it has
// now, so no main record is handled before the key's parked deliveries
// are known.
func (s *Service) assigned(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	s.routes.Forget() // the main topic may have grown: read its partition count again
	parts := map[int32]bool{}
	for _, t := range []string{s.mainTopic, s.retryTopic} {
		for _, p := range m[t] {
			parts[p] = true
		}
	}
	var fresh []*lane
	s.mu.Lock()
	for p := range parts {
		if _, ok := s.lanes[p]; !ok {
			l := newLane(p)
			l.client = cl // set before the lane is published
			s.lanes[p] = l
			fresh = append(fresh, l)
		}
	}
	s.mu.Unlock()
	if len(fresh) == 0 {
		return
	}
	ps := make([]int32, len(fresh))
	for i, l := range fresh {
		ps[i] = l.p
	}
	cl.PauseFetchPartitions(map[string][]int32{s.mainTopic: ps})
	pos := s.positions(ctx, kadm.NewClient(cl))
	ends, committed := pos.retryEnds, pos.retryCommitted
	for _, l := range fresh {
		l.mu.Lock()
		l.mainResume, l.retryResume = pos.resumes[s.mainTopic][l.p], pos.resumes[s.retryTopic][l.p]
		l.mainStart = pos.mainStart(l.p)
		l.loadEnd = ends[l.p]
		l.loadFrom = committed[l.p]
		if c, ok := committed[l.p]; ok && c >= l.loadEnd {
			s.markLoaded(l)
		} else if l.loadEnd == 0 {
			s.markLoaded(l)
		}
		l.mu.Unlock()
	}
}

// assignedPositions is what a lane needs to know about its partitions
// when it is given them.
type assignedPositions struct {
	retryEnds, retryCommitted   map[int32]int64
	mainCommitted, mainLogStart map[int32]int64
	resumes                     map[string]map[int32]*position.Resume // by topic
}

// mainStart is where reading main partition p begins: its committed
// offset, or its log start when that is later or nothing is committed.
// If neither is known, no retry delivery waits for the main partition.
func (a assignedPositions) mainStart(p int32) int64 {
	c, okC := a.mainCommitted[p]
	s, okS := a.mainLogStart[p]
	switch {
	case okC && okS:
		return max(c, s)
	case okS:
		return s
	case okC:
		return c
	}
	return math.MaxInt64
}

// positions lists the retry topic's end offsets, this group's committed
// offsets on both topics with where the previous owner of each partition
// left off (its commit metadata, see position.go), and the main topic's
// log start offsets.
func (s *Service) positions(ctx context.Context, adm *kadm.Client) assignedPositions {
	a := assignedPositions{
		retryEnds: map[int32]int64{}, retryCommitted: map[int32]int64{},
		mainCommitted: map[int32]int64{}, mainLogStart: map[int32]int64{},
		resumes: map[string]map[int32]*position.Resume{s.mainTopic: {}, s.retryTopic: {}},
	}
	listCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if listed, err := kafkax.EndOffsets(listCtx, adm, s.retryTopic, false); err == nil {
		a.retryEnds = listed
	} else {
		s.log.Warn("listing the retry topic's end offsets; its partitions load as they come", zap.Error(err))
	}
	if starts, err := adm.ListStartOffsets(listCtx, s.mainTopic); err == nil {
		starts.Each(func(o kadm.ListedOffset) {
			if o.Err == nil {
				a.mainLogStart[o.Partition] = o.Offset
			}
		})
	} else {
		s.log.Warn("listing the main topic's start offsets", zap.Error(err))
	}
	offs, err := adm.FetchOffsets(ctx, s.cfg.Kafka.TopicPrefix+topics.Dispatcher.Group)
	if err == nil {
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Err != nil || a.resumes[o.Topic] == nil || o.At < 0 {
				return
			}
			if o.Topic == s.retryTopic {
				a.retryCommitted[o.Partition] = o.At
			} else {
				a.mainCommitted[o.Partition] = o.At
			}
			r, err := position.Decode(o.At, o.Metadata)
			if err != nil {
				s.log.Warn("the committed position has unreadable metadata; resuming from the offset alone",
					zap.String(observe.KeyTopic, o.Topic), zap.Int32(observe.KeyPartition, o.Partition), zap.Error(err))
			}
			a.resumes[o.Topic][o.Partition] = r
		})
	}
	return a
}

// markLoaded resumes a lane's main partition and starts its keys. Called
// with l.mu held.
func (s *Service) markLoaded(l *lane) {
	l.loaded = true
	l.client.ResumeFetchPartitions(map[string][]int32{s.mainTopic: {l.p}})
	for k, ks := range l.keys {
		s.kick(l, k, ks)
	}
}

// revoked commits what the lanes finished and drops them: in-flight
// requests are cancelled and the next owner starts from the committed
// offsets.
func (s *Service) revoked(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	s.commit(ctx)
	s.drop(m)
}

func (s *Service) lost(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.drop(m) }

func (s *Service) drop(m map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range []string{s.mainTopic, s.retryTopic} {
		for _, p := range m[t] {
			if l, ok := s.lanes[p]; ok {
				l.cancel()
				l.mu.Lock()
				for _, ks := range l.keys {
					if ks.timer != nil {
						ks.timer.Stop()
					}
					n := ks.loaded
					if ks.loading {
						n++ // the room taken for the head being read back
						ks.loading = false
					}
					s.budget.release(ks.sub, n)
					s.budget.wait(ks.sub, -(len(ks.queue) + len(ks.transit)))
					// Workers still running see an empty key and stop.
					ks.queue, ks.loaded, ks.inRetry, ks.transit = nil, 0, 0, nil
				}
				l.unloaded = map[int64]*item{}
				l.mu.Unlock()
				delete(s.lanes, p)
			}
		}
	}
}

func (s *Service) dropAll() {
	s.mu.Lock()
	m := map[string][]int32{}
	for p := range s.lanes {
		m[s.mainTopic] = append(m[s.mainTopic], p)
	}
	s.mu.Unlock()
	s.drop(m)
}

// commit commits, per owned partition of both topics, the contiguous
// prefix of finished offsets.
func (s *Service) commit(ctx context.Context) {
	s.mu.Lock()
	cl := s.client
	offs := map[string]map[int32]kgo.EpochOffset{s.mainTopic: {}, s.retryTopic: {}}
	meta := map[string]map[int32]string{s.mainTopic: {}, s.retryTopic: {}}
	var notes []*kgo.Record
	for p, l := range s.lanes {
		l.mu.Lock()
		if r := s.noteFinished(l); r != nil {
			notes = append(notes, r)
		}
		for topic, t := range map[string]*offsets{s.mainTopic: l.main, s.retryTopic: l.retry} {
			if o, ok := t.commit(); ok {
				offs[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: o}
				meta[topic][p] = encodePosition(t)
			}
		}
		l.mu.Unlock()
	}
	s.mu.Unlock()
	if cl == nil {
		return
	}
	// The finished records first: what the positions below cannot say
	// (retry deliveries finished out of order) they do.
	if len(notes) > 0 {
		if err := cl.ProduceSync(ctx, notes...).FirstErr(); err != nil && ctx.Err() == nil {
			s.log.Warn("writing finished records to the retry topic; their deliveries may be repeated after a restart", zap.Error(err))
		}
	}
	// The commit's metadata says which records past each offset are
	// finished already, so the next owner repeats only unfinished ones.
	ctx = kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			t := &req.Topics[i]
			for j := range t.Partitions {
				if m := meta[t.Topic][t.Partitions[j].Partition]; m != "" {
					t.Partitions[j].Metadata = &m
				}
			}
		}
		return nil
	})
	cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
		if err != nil && ctx.Err() == nil {
			s.log.Warn("committing offsets", zap.Error(err))
		}
	})
}
