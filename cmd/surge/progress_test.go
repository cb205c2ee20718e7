package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProgressDueWaitsQuietThenEveryInterval(t *testing.T) {
	p := newProgress(&bytes.Buffer{}, time.Now(), 2*time.Second, time.Second)
	for _, tc := range []struct {
		elapsed   time.Duration
		wantOK    bool
		wantSince time.Duration
	}{
		{0, false, 0},
		{1900 * time.Millisecond, false, 0},
		{2100 * time.Millisecond, true, 2100 * time.Millisecond}, // the first: since start
		{2500 * time.Millisecond, false, 0},
		{3100 * time.Millisecond, true, time.Second},
		{5 * time.Second, true, 1900 * time.Millisecond},
	} {
		since, ok := p.due(tc.elapsed)
		if ok != tc.wantOK || since != tc.wantSince {
			t.Errorf("due(%s) = %s, %t; want %s, %t", tc.elapsed, since, ok, tc.wantSince, tc.wantOK)
		}
	}

	// No quiet: the first line is due at once.
	p = newProgress(&bytes.Buffer{}, time.Now(), 0, time.Second)
	if _, ok := p.due(0); !ok {
		t.Error("with no quiet time the first line is not due at once")
	}
	if _, ok := p.due(10 * time.Millisecond); ok {
		t.Error("a second line is due within the interval")
	}
}

func TestProgressRedrawsInPlaceOnlyOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, time.Now(), 0, time.Second) // a buffer is not a terminal
	p.redraw("%d%%", 10)
	p.redraw("%d%%", 20)
	p.end()
	if got := buf.String(); got != "10%\n20%\n" {
		t.Fatalf("elsewhere: %q", got)
	}

	buf.Reset()
	p.tty = true
	p.redraw("%d%%", 10)
	p.redraw("%d%%", 20)
	p.println("note")
	p.redraw("%d%%", 30)
	p.end()
	p.end()
	if got := buf.String(); got != "\r10%\r20%\nnote\n\r30%\n" {
		t.Fatalf("on a terminal: %q", got)
	}
}

// syncBuffer is a bytes.Buffer safe for the tick goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProgressTickWritesLinesUntilStop(t *testing.T) {
	var out syncBuffer
	p := newProgress(&out, time.Now(), 20*time.Millisecond, 10*time.Millisecond)
	p.tick(func(elapsed time.Duration) string {
		if elapsed < 20*time.Millisecond {
			t.Errorf("a line at %s, before the quiet time", elapsed)
		}
		return "line"
	})
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "line\n") < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	p.stop()
	p.stop() // twice is harmless
	got := out.String()
	if strings.Count(got, "line\n") < 3 {
		t.Fatalf("three lines not written in 5s: %q", got)
	}
	time.Sleep(30 * time.Millisecond)
	if out.String() != got {
		t.Fatal("a line written after stop")
	}

	newProgress(&out, time.Now(), 0, time.Second).stop() // stop without tick returns
}
