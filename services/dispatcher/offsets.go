package dispatcher

import "sort"

// offsets tracks the records of one input partition that were read but
// are not finished yet, so only a contiguous prefix of finished offsets is
// committed: a record finished out of order (a fast key overtaking a slow
// one) never moves the committed offset past an unfinished record.
// Not safe for concurrent use: the lane's lock guards it.
type offsets struct {
	open []int64        // unfinished offsets, ascending (records are read in order)
	done map[int64]bool // finished offsets still behind an unfinished one
	next int64          // one past the highest offset read; -1 before any
}

func newOffsets() *offsets { return &offsets{done: map[int64]bool{}, next: -1} }

// read records that offset o was read and is not finished.
func (t *offsets) read(o int64) {
	t.open = append(t.open, o)
	if o+1 > t.next {
		t.next = o + 1
	}
}

// finish marks o finished. Finishing an offset twice, or one never read,
// is harmless.
func (t *offsets) finish(o int64) {
	i := sort.Search(len(t.open), func(i int) bool { return t.open[i] >= o })
	if i == len(t.open) || t.open[i] != o {
		return
	}
	if i > 0 {
		t.done[o] = true
		return
	}
	t.open = t.open[1:]
	for len(t.open) > 0 && t.done[t.open[0]] {
		delete(t.done, t.open[0])
		t.open = t.open[1:]
	}
}

// commit is the offset to commit (the first unfinished one, or one past
// everything read), and false before anything was read.
func (t *offsets) commit() (int64, bool) {
	if t.next < 0 {
		return 0, false
	}
	if len(t.open) > 0 {
		return t.open[0], true
	}
	return t.next, true
}

// pending is the number of unfinished records.
func (t *offsets) pending() int { return len(t.open) }
