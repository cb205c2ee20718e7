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

// traceProgress reports on stderr, once a second, how far the search is,
// but only once it has taken more than a second.
type traceProgress struct {
	done    atomic.Int64 // topics read to their end (or skipped)
	records atomic.Int64
	total   int
	quit    chan struct{}
	stopped sync.WaitGroup
	once    sync.Once
}

func startTraceProgress(w *lockedWriter, total int, started time.Time) *traceProgress {
	p := &traceProgress{total: total, quit: make(chan struct{})}
	p.stopped.Add(1)
	go func() {
		defer p.stopped.Done()
		first := time.Second - time.Since(started)
		timer := time.NewTimer(max(first, 0))
		defer timer.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-timer.C:
				w.printf("searched %d/%d topics (%d records read)\n", p.done.Load(), p.total, p.records.Load())
				timer.Reset(time.Second)
			}
		}
	}()
	return p
}

func (p *traceProgress) add(n int) {
	if p != nil {
		p.done.Add(int64(n))
	}
}

func (p *traceProgress) record() {
	if p != nil {
		p.records.Add(1)
	}
}

func (p *traceProgress) doneCount() int64 { return p.done.Load() }

// stop ends the reports and returns once none is being written.
func (p *traceProgress) stop() {
	p.once.Do(func() { close(p.quit) })
	p.stopped.Wait()
}
