package stream

import (
	"slices"
	"sync"
)

// progressTable is where a Stage keeps, per input partition, what its
// Watchdog samples: the next offset to process and, while records wait
// there, why they are not processed.
//
// A partition is pending from the poll that brought its records until a
// batch handles them all and commits; a deferral or a batch that does not
// commit keeps it pending at the same offset, with the deferral's or the
// failure's error as the reason. Partitions leave the table when they are
// revoked, except while a session closes: the next session's first
// assignment decides which ones this instance still owns, so a session
// that keeps failing does not reset the watchdog's clock.
//
// Safe for concurrent use: the stage's goroutine writes, the group's
// callbacks drop, the watchdog samples.
type progressTable struct {
	topic string

	mu      sync.Mutex
	parts   map[int32]*partitionProgress
	closing bool // a session is closing: revocations keep the partitions
	fresh   bool // the next assignment is a new session's whole set
}

type partitionProgress struct {
	offset  int64
	pending bool
	reason  string
}

func newProgressTable(topic string) *progressTable {
	return &progressTable{topic: topic, parts: map[int32]*partitionProgress{}}
}

// polled records that partition p has records to process from offset.
func (t *progressTable) polled(p int32, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pp := t.parts[p]
	if pp == nil {
		pp = &partitionProgress{}
		t.parts[p] = pp
	}
	if !pp.pending {
		pp.reason = "polled, not processed yet"
	}
	pp.offset, pp.pending = offset, true
}

// waiting records that partition p's records from offset wait, and why.
// A partition revoked since its poll stays out of the table.
func (t *progressTable) waiting(p int32, offset int64, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pp := t.parts[p]; pp != nil {
		*pp = partitionProgress{offset: offset, pending: true, reason: reason}
	}
}

// done records that partition p handled everything polled, up to offset.
func (t *progressTable) done(p int32, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pp := t.parts[p]; pp != nil {
		*pp = partitionProgress{offset: offset}
	}
}

// failedAll gives every pending partition reason: the session could not go
// on (beginning or ending a transaction failed).
func (t *progressTable) failedAll(reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, pp := range t.parts {
		if pp.pending {
			pp.reason = reason
		}
	}
}

// sessionClosing says a session is closing (true) or closed (false).
// While it closes, revocations keep the partitions; once it closed, the
// next assignment is a new session's whole set.
func (t *progressTable) sessionClosing(closing bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closing = closing
	if !closing {
		t.fresh = true
	}
}

// assigned takes a rebalance's newly assigned partitions; after a new
// session's first one, partitions not in it are dropped.
func (t *progressTable) assigned(ps []int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.fresh {
		return
	}
	t.fresh = false
	for p := range t.parts {
		if !slices.Contains(ps, p) {
			delete(t.parts, p)
		}
	}
}

// revoked drops partitions this instance no longer owns.
func (t *progressTable) revoked(ps []int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return
	}
	for _, p := range ps {
		delete(t.parts, p)
	}
}

// sample is the table as the Watchdog sees it.
func (t *progressTable) sample() []Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Progress, 0, len(t.parts))
	for p, pp := range t.parts {
		out = append(out, Progress{Topic: t.topic, Partition: p, Offset: pp.offset, Pending: pp.pending, Reason: pp.reason})
	}
	return out
}
