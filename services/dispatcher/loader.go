package dispatcher

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/observe"
)

// loader reads retry-topic records back into memory for unloaded items:
// a key's head when its turn comes, and, on the way, the deliveries
// behind heads that are being worked on, as far as the budget has room.
// Each pass reads with a Kafka client of its own that consumes the retry
// partitions directly (no group) from the lowest wanted offset, so no
// fetch of an earlier pass is ever mistaken for this one's.
type loader struct {
	s    *Service
	reqs chan loadReq
}

// loadReq asks for the head of key in lane l, at retry offset offset.
type loadReq struct {
	l       *lane
	key     string
	offset  int64
	refresh bool // not a head: an old delivery behind one, to be written again (Service.refreshOld)
}

const (
	loadBatch     = 1024             // requests handled in one pass
	loadScanLimit = 200_000          // offsets one pass reads past its first wanted one
	loadPassLimit = 15 * time.Second // a pass that has not found everything by then gives up; the keys ask again
)

func (s *Service) newLoader() *loader {
	return &loader{s: s, reqs: make(chan loadReq, 4096)}
}

// request queues a head load and reports whether it was queued (not when
// the queue is full). The caller holds l.mu.
func (ld *loader) request(r loadReq) bool {
	select {
	case ld.reqs <- r:
		return true
	default:
		return false
	}
}

func (ld *loader) run(ctx context.Context) {
	for {
		var batch []loadReq
		select {
		case <-ctx.Done():
			return
		case r := <-ld.reqs:
			batch = append(batch, r)
		}
	drain:
		for len(batch) < loadBatch {
			select {
			case r := <-ld.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		ld.pass(ctx, batch)
	}
}

// pass reads, per partition, from the lowest wanted offset up to the
// highest one (within loadScanLimit), filling every unloaded item it
// passes that has room, then settles the requests.
func (ld *loader) pass(ctx context.Context, batch []loadReq) {
	type want struct {
		l        *lane
		from, to int64 // offsets to read: [from, to]
		reached  bool
	}
	byPart := map[int32]*want{}
	var later []loadReq
	for _, r := range batch {
		w := byPart[r.l.p]
		if w == nil || w.l != r.l {
			if w != nil { // a stale lane of the same partition: settle below
				later = append(later, r)
				continue
			}
			w = &want{l: r.l, from: r.offset, to: r.offset}
			byPart[r.l.p] = w
		}
		w.from, w.to = min(w.from, r.offset), max(w.to, r.offset)
	}
	for _, w := range byPart {
		w.to = min(w.to, w.from+loadScanLimit)
	}
	refreshing := map[int32]map[int64]bool{}
	for _, r := range batch {
		if r.refresh {
			if refreshing[r.l.p] == nil {
				refreshing[r.l.p] = map[int64]bool{}
			}
			refreshing[r.l.p][r.offset] = true
		}
	}
	topic := ld.s.retryTopic
	at := map[string]map[int32]kgo.Offset{topic: {}}
	for p, w := range byPart {
		at[topic][p] = kgo.NewOffset().At(w.from)
	}
	cl, err := kgo.NewClient(kafkax.ClientOpts(ld.s.cfg.Kafka, ld.s.log,
		kgo.ConsumePartitions(at),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxPartitionBytes(1<<20),
		kgo.FetchMaxBytes(8<<20),
		kgo.FetchMaxWait(100*time.Millisecond),
	)...)
	if err != nil {
		ld.s.log.Warn("creating the retry-topic reader", zap.Error(err))
		for _, r := range append(batch, later...) {
			if r.refresh {
				ld.s.settleRefresh(r)
			} else {
				ld.s.settleLoad(r, false)
			}
		}
		return
	}
	defer cl.Close()
	gone := map[int32]int64{} // partition → its log start, when past a wanted offset
	deadline := time.Now().Add(loadPassLimit)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		open := 0
		for _, w := range byPart {
			if !w.reached && w.l.ctx.Err() == nil {
				open++
			}
		}
		if open == 0 {
			break
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fetches := cl.PollFetches(pctx)
		cancel()
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			w := byPart[fp.Partition]
			if w == nil {
				return
			}
			if fp.Err != nil && !errors.Is(fp.Err, context.DeadlineExceeded) && !errors.Is(fp.Err, context.Canceled) {
				ld.s.log.Warn("reading deliveries back from the retry topic", zap.Int32(observe.KeyPartition, fp.Partition), zap.Error(fp.Err))
				return
			}
			if fp.LogStartOffset > w.from {
				gone[fp.Partition] = fp.LogStartOffset // retention deleted records we want
			}
			for _, rec := range fp.Records {
				if rec.Offset > w.to {
					w.reached = true
					break
				}
				ld.s.fill(w.l, rec, refreshing[w.l.p][rec.Offset])
				if rec.Offset == w.to {
					w.reached = true
				}
			}
		})
	}
	for _, r := range batch {
		start, ok := gone[r.l.p]
		if r.refresh {
			ld.s.settleRefresh(r)
			continue
		}
		ld.s.settleLoad(r, ok && byPart[r.l.p].l == r.l && r.offset < start)
	}
	for _, r := range later {
		if r.refresh {
			ld.s.settleRefresh(r)
			continue
		}
		ld.s.settleLoad(r, false)
	}
}
