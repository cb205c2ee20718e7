package dispatcher

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A position is where a lane resumes on one input partition after a crash,
// restart or rebalance: Kafka keeps the committed offset (the first
// unfinished record), and the commit's metadata says which records between
// it and the read position were already finished out of order (a fast
// subscription's deliveries behind a slow one's). A new owner skips those,
// so it repeats only what was really unfinished — in flight or waiting —
// however far a slow subscription is behind.
//
// The metadata is "r1:<span>:<run>,<run>,...": span is the distance from
// the committed offset to the read position; the runs alternate finished
// and unfinished lengths, starting with finished, after the committed
// offset itself (which is unfinished). Offsets from committed+span on are
// read again as new. A pattern too long for maxPositionBytes is cut short:
// the span ends where the cut is, so everything from there is read again
// (repeats, never losses).
const (
	positionVersion  = "r1"
	maxPositionBytes = 3000 // Kafka's offset.metadata.max.bytes defaults to 4096
)

// resume is a decoded position: finished ranges after a committed offset.
type resume struct {
	end      int64      // records at or past end are read as new
	finished [][2]int64 // [from, to) ranges, ascending, all below end
}

// skip reports whether the record at offset o was finished before the
// position was committed.
func (r *resume) skip(o int64) bool {
	if r == nil || o >= r.end {
		return false
	}
	for _, f := range r.finished {
		if o < f[0] {
			return false
		}
		if o < f[1] {
			return true
		}
	}
	return false
}

// encodePosition writes the metadata for t's state: t.commit() is the
// committed offset.
func encodePosition(t *offsets) string {
	commit, ok := t.commit()
	if !ok || len(t.open) == 0 || t.next <= commit+1 {
		return "" // nothing past the committed offset: the offset says it all
	}
	// Walk from commit+1 to next: open offsets are unfinished; the others
	// were finished, or never read as records (transaction markers,
	// compacted away), which is the same for a resume.
	// t.open keeps finished offsets until the prefix before them clears
	// (t.done says which); the unfinished ones are open and not done.
	budget := maxPositionBytes - len(positionVersion) - 22 // ":" span ":"
	var runs []string
	pos, end := commit+1, t.next
	oi := 1 // t.open[0] == commit
	nextUnfinished := func() int64 {
		for oi < len(t.open) && t.done[t.open[oi]] {
			oi++
		}
		if oi < len(t.open) {
			return t.open[oi]
		}
		return end
	}
	for finished := true; pos < end; finished = !finished {
		var next int64
		if finished {
			next = nextUnfinished()
		} else {
			next = pos
			for oi < len(t.open) && t.open[oi] == next && !t.done[next] {
				oi++
				next++
			}
		}
		run := strconv.FormatInt(next-pos, 10)
		if budget -= len(run) + 1; budget < 0 {
			end = pos // cut: read again from here
			break
		}
		runs = append(runs, run)
		pos = next
	}
	if end <= commit+1 {
		return ""
	}
	return positionVersion + ":" + strconv.FormatInt(end-commit, 10) + ":" + strings.Join(runs, ",")
}

// decodePosition reads metadata committed with offset commit. Empty or
// foreign metadata means no record past the offset is skipped.
func decodePosition(commit int64, meta string) (*resume, error) {
	if meta == "" {
		return nil, nil
	}
	parts := strings.SplitN(meta, ":", 3)
	if len(parts) != 3 || parts[0] != positionVersion {
		return nil, fmt.Errorf("reading the dispatcher's commit metadata %q: unknown format", truncate(meta, 40))
	}
	span, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || span < 1 {
		return nil, fmt.Errorf("reading the dispatcher's commit metadata: bad span %q", parts[1])
	}
	r := &resume{end: commit + span}
	pos := commit + 1
	finishedRun := true
	if parts[2] != "" {
		for _, f := range strings.Split(parts[2], ",") {
			n, err := strconv.ParseInt(f, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("reading the dispatcher's commit metadata: bad run %q", f)
			}
			if finishedRun && n > 0 {
				r.finished = append(r.finished, [2]int64{pos, pos + n})
			}
			pos += n
			finishedRun = !finishedRun
		}
	}
	if pos > r.end {
		return nil, errors.New("reading the dispatcher's commit metadata: runs past the span")
	}
	return r, nil
}

// encodeOffsets writes ascending offsets as ranges: "3-7,9,12-13".
func encodeOffsets(offs []int64) string {
	var b strings.Builder
	for i := 0; i < len(offs); {
		j := i
		for j+1 < len(offs) && offs[j+1] == offs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(offs[i], 10))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.FormatInt(offs[j], 10))
		}
		i = j + 1
	}
	return b.String()
}

// decodeOffsets reads encodeOffsets' form.
func decodeOffsets(s string) ([]int64, error) {
	var out []int64
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		from, to, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseInt(from, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("reading finished offsets: %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseInt(to, 10, 64); err != nil || b < a || b-a > 1<<20 {
				return nil, fmt.Errorf("reading finished offsets: %q", part)
			}
		}
		for o := a; o <= b; o++ {
			out = append(out, o)
		}
	}
	return out, nil
}
