package dispatcher

import (
	"math/rand/v2"
	"testing"
)

func TestOffsetsCommitOnlyContiguousPrefix(t *testing.T) {
	tr := newOffsets()
	if _, ok := tr.commit(); ok {
		t.Fatal("commit before any read")
	}
	for _, o := range []int64{10, 11, 13, 14} { // 12 is a transaction marker
		tr.read(o)
	}
	tr.finish(11)
	tr.finish(14)
	if c, _ := tr.commit(); c != 10 {
		t.Fatalf("commit %d, want 10 (10 unfinished)", c)
	}
	tr.finish(10)
	if c, _ := tr.commit(); c != 13 {
		t.Fatalf("commit %d, want 13", c)
	}
	tr.finish(13)
	tr.finish(13)
	if c, _ := tr.commit(); c != 15 || tr.pending() != 0 {
		t.Fatalf("commit %d pending %d, want 15 and 0", c, tr.pending())
	}
}

// A random finishing order never commits past an unfinished offset.
func TestOffsetsRandomOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		tr := newOffsets()
		n := 1 + r.IntN(50)
		for o := range n {
			tr.read(int64(o))
		}
		unfinished := map[int64]bool{}
		for o := range n {
			unfinished[int64(o)] = true
		}
		for _, i := range r.Perm(n) {
			tr.finish(int64(i))
			delete(unfinished, int64(i))
			c, _ := tr.commit()
			for o := range unfinished {
				if o < c {
					t.Fatalf("committed %d past unfinished %d", c, o)
				}
			}
		}
		if c, _ := tr.commit(); c != int64(n) {
			t.Fatalf("all finished: commit %d, want %d", c, n)
		}
	}
}
