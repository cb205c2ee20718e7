package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress is the one display of a long command's progress (surge load,
// dlq, trace): nothing until quiet has passed since start, then a line at
// most every interval. The work either pushes its state as it goes (due,
// then println or redraw) or has a line pulled from it on a timer (tick).
// On a terminal, redraw replaces the current line in place; elsewhere
// (logs, pipes, CI) every line is a line. Written by hand: the lines are
// the command's own arithmetic, and a library would add a dependency for
// what a \r does. Safe for concurrent use.
type progress struct {
	w        io.Writer
	tty      bool
	start    time.Time
	quiet    time.Duration // nothing is shown before it
	interval time.Duration // then at most a line per interval

	mu    sync.Mutex
	shown bool          // a line was due
	last  time.Duration // elapsed when it was
	open  bool          // a redrawn line waits for its newline

	quit    chan struct{}
	stopped sync.WaitGroup
	once    sync.Once
}

// newProgress shows progress on w, counting from start.
func newProgress(w io.Writer, start time.Time, quiet, interval time.Duration) *progress {
	return &progress{w: w, tty: isTerminal(w), start: start, quiet: quiet, interval: interval}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// elapsed is the time since start.
func (p *progress) elapsed() time.Duration { return time.Since(p.start) }

// due reports whether a line is due at elapsed: the first once quiet has
// passed, each next one interval after the previous. A due line counts as
// shown; since is the time from the previous one (from start for the
// first), for rates.
func (p *progress) due(elapsed time.Duration) (since time.Duration, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if elapsed < p.quiet || (p.shown && elapsed-p.last < p.interval) {
		return 0, false
	}
	since = elapsed - p.last
	p.shown, p.last = true, elapsed
	return since, true
}

// println writes one line.
func (p *progress) println(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLocked()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// redraw writes a line that the next one replaces: on a terminal it is
// drawn over the current line and left open, elsewhere it is a line.
func (p *progress) redraw(format string, args ...any) {
	if !p.tty {
		p.println(format, args...)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r"+format, args...)
	p.open = true
}

// end closes a redrawn line, so what follows starts on a line of its own.
func (p *progress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLocked()
}

func (p *progress) endLocked() {
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}

// tick writes the line line returns, given the time since start, once
// quiet has passed since start and then every interval, until stop.
func (p *progress) tick(line func(elapsed time.Duration) string) {
	p.quit = make(chan struct{})
	p.stopped.Add(1)
	go func() {
		defer p.stopped.Done()
		timer := time.NewTimer(max(p.quiet-p.elapsed(), 0))
		defer timer.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-timer.C:
				elapsed := p.elapsed()
				p.mu.Lock()
				p.shown, p.last = true, elapsed
				p.mu.Unlock()
				p.println("%s", line(elapsed))
				timer.Reset(p.interval)
			}
		}
	}()
}

// stop ends tick and returns once no line is being written. It may be
// called more than once, and without tick.
func (p *progress) stop() {
	p.once.Do(func() {
		if p.quit != nil {
			close(p.quit)
		}
	})
	p.stopped.Wait()
}
