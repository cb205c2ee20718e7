// Package position is the format of the commit metadata the dispatcher
// writes with each committed offset: which records between the committed
// offset and its read position were already finished out of order. The
// dispatcher encodes it (and decodes it when it takes a partition over);
// pkg/inspect decodes it to tell which retry-topic records still wait.
//
// The metadata is "r1:<span>:<run>,<run>,...": span is the distance from
// the committed offset to the read position; the runs alternate finished
// and unfinished lengths, starting with finished, after the committed
// offset itself (which is unfinished). Offsets from committed+span on are
// read again as new. A pattern too long for MaxBytes is cut short by the
// writer: the span ends where the cut is, so everything from there is read
// again (repeats, never losses).
package position

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const (
	// Version starts every metadata string this package reads.
	Version = "r1"
	// MaxBytes bounds the metadata; Kafka's offset.metadata.max.bytes
	// defaults to 4096.
	MaxBytes = 3000
)

// Resume is decoded metadata: finished ranges after a committed offset.
// A nil *Resume skips nothing.
type Resume struct {
	// End: records at or past it are read as new.
	End int64
	// Finished are [from, to) ranges, ascending, all below End.
	Finished [][2]int64
}

// Skip reports whether the record at offset o was finished before the
// position was committed.
func (r *Resume) Skip(o int64) bool {
	if r == nil || o >= r.End {
		return false
	}
	for _, f := range r.Finished {
		if o < f[0] {
			return false
		}
		if o < f[1] {
			return true
		}
	}
	return false
}

// Decode reads metadata committed with offset commit. Empty metadata
// means no record past the offset is skipped (a nil Resume); foreign
// metadata is an error, and skips nothing either.
func Decode(commit int64, meta string) (*Resume, error) {
	if meta == "" {
		return nil, nil
	}
	parts := strings.SplitN(meta, ":", 3)
	if len(parts) != 3 || parts[0] != Version {
		return nil, fmt.Errorf("reading the dispatcher's commit metadata %q: unknown format", cut(meta, 40))
	}
	span, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || span < 1 {
		return nil, fmt.Errorf("reading the dispatcher's commit metadata: bad span %q", parts[1])
	}
	r := &Resume{End: commit + span}
	pos := commit + 1
	finishedRun := true
	if parts[2] != "" {
		for _, f := range strings.Split(parts[2], ",") {
			n, err := strconv.ParseInt(f, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("reading the dispatcher's commit metadata: bad run %q", f)
			}
			if finishedRun && n > 0 {
				r.Finished = append(r.Finished, [2]int64{pos, pos + n})
			}
			pos += n
			finishedRun = !finishedRun
		}
	}
	if pos > r.End {
		return nil, errors.New("reading the dispatcher's commit metadata: runs past the span")
	}
	return r, nil
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
