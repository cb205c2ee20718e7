package ingest

import (
	"context"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestDedupIndex(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	d := newDedupIndex(24*time.Hour, clock.now)
	ctx := context.Background()

	id, dup, err := d.claim(ctx, "shop/k1", "ev1")
	if err != nil || dup || id != "ev1" {
		t.Fatalf("first claim: %q %v %v", id, dup, err)
	}
	// A concurrent claim of the same key waits for the first outcome.
	got := make(chan string, 1)
	go func() {
		id, dup, _ := d.claim(ctx, "shop/k1", "ev2")
		if !dup {
			id = "not a duplicate: " + id
		}
		got <- id
	}()
	select {
	case id := <-got:
		t.Fatalf("second claim returned %q before the first finished", id)
	case <-time.After(50 * time.Millisecond):
	}
	d.release("shop/k1", true, clock.t)
	if id := <-got; id != "ev1" {
		t.Fatalf("second claim got %q, want ev1", id)
	}

	// A failed write frees the key for the next request.
	if _, dup, _ := d.claim(ctx, "shop/k2", "ev3"); dup {
		t.Fatal("fresh key reported as duplicate")
	}
	d.release("shop/k2", false, clock.t)
	if id, dup, _ := d.claim(ctx, "shop/k2", "ev4"); dup || id != "ev4" {
		t.Fatalf("after a failed write: %q %v, want a fresh claim", id, dup)
	}
	d.release("shop/k2", true, clock.t)

	// Observed records (other instances, or the topic at start): the
	// first acceptance wins.
	d.observe("shop/k3", "ev5", clock.t.Add(-time.Hour))
	d.observe("shop/k3", "ev6", clock.t)
	if id, dup, _ := d.claim(ctx, "shop/k3", "x"); !dup || id != "ev5" {
		t.Fatalf("observed key: %q %v, want ev5 duplicate", id, dup)
	}

	// Past the window a key is forgotten.
	clock.t = clock.t.Add(25 * time.Hour)
	if id, dup, _ := d.claim(ctx, "shop/k1", "ev7"); dup || id != "ev7" {
		t.Fatalf("expired key: %q %v, want a fresh claim", id, dup)
	}
	if n := d.expire(); n != 3 {
		t.Fatalf("expired %d entries, want 3 (k1, k2, k3)", n)
	}
	d.observe("shop/old", "ev8", clock.t.Add(-48*time.Hour))
	if n := d.size(); n != 0 {
		t.Fatalf("index holds %d keys, want 0 (k1 is only claimed, old is past the window)", n)
	}
}

func TestDedupClaimHonoursContext(t *testing.T) {
	d := newDedupIndex(time.Hour, time.Now)
	if _, _, err := d.claim(context.Background(), "k", "a"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := d.claim(ctx, "k", "b"); err == nil {
		t.Fatal("claim of a held key returned without the holder finishing")
	}
}
