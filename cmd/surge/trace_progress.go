package main

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// lockedWriter serializes the notes and progress lines written to stderr.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// traceProgress reports on stderr, once a second, how far the search is,
// but only once it has taken more than a second (progress.go).
type traceProgress struct {
	done    atomic.Int64 // topics read to their end (or skipped)
	records atomic.Int64
	total   int
	show    *progress
}

func startTraceProgress(w *lockedWriter, total int, started time.Time) *traceProgress {
	p := &traceProgress{total: total, show: newProgress(w, started, time.Second, time.Second)}
	p.show.tick(func(time.Duration) string {
		return fmt.Sprintf("searched %d/%d topics (%d records read)", p.done.Load(), p.total, p.records.Load())
	})
	return p
}

// TopicsDone, Record and ReadDone make it a trace.Progress.
func (p *traceProgress) TopicsDone(n int) { p.done.Add(int64(n)) }
func (p *traceProgress) Record()          { p.records.Add(1) }
func (p *traceProgress) ReadDone()        { p.stop() }

// stop ends the reports and returns once none is being written.
func (p *traceProgress) stop() { p.show.stop() }
