package dispatcher

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/surgehq/surge/pkg/position"
)

// A position is where a lane resumes on one input partition after a crash,
// restart or rebalance: Kafka keeps the committed offset (the first
// unfinished record), and the commit's metadata (pkg/position) says which
// records between it and the read position were already finished out of
// order (a fast subscription's deliveries behind a slow one's). A new
// owner skips those, so it repeats only what was really unfinished — in
// flight or waiting — however far a slow subscription is behind.

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
	budget := position.MaxBytes - len(position.Version) - 22 // ":" span ":"
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
	return position.Version + ":" + strconv.FormatInt(end-commit, 10) + ":" + strings.Join(runs, ",")
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
