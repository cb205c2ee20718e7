package dispatcher

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/surgehq/surge/pkg/position"
)

// A resume never skips an unfinished record, and skips every finished one
// unless the pattern had to be cut (then it repeats, never loses).
func TestPositionRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n        int     // records read
		gapEvery int     // a transaction marker every that many offsets (0: none)
		finishP  float64 // chance a record is finished
		wantCut  bool
	}{
		{"all unfinished", 50, 0, 0, false},
		{"all finished but the first", 50, 0, 1, false},
		{"half, with markers", 2000, 7, 0.5, false},
		{"mostly finished", 5000, 11, 0.95, false},
		{"scattered, too long to keep", 20000, 0, 0.5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.n)))
			tr := newOffsets()
			var read []int64
			o := int64(100)
			for range tc.n {
				if tc.gapEvery > 0 && rng.IntN(tc.gapEvery) == 0 {
					o++ // a marker: never read
				}
				tr.read(o)
				read = append(read, o)
				o++
			}
			finished := map[int64]bool{}
			for _, r := range read[1:] { // the first stays unfinished: it is the committed offset
				if rng.Float64() < tc.finishP {
					tr.finish(r)
					finished[r] = true
				}
			}
			commit, _ := tr.commit()
			meta := encodePosition(tr)
			if len(meta) > position.MaxBytes {
				t.Fatalf("metadata is %d bytes, over %d", len(meta), position.MaxBytes)
			}
			res, err := position.Decode(commit, meta)
			if err != nil {
				t.Fatal(err)
			}
			skipped, repeated := 0, 0
			for _, r := range read {
				switch {
				case r < commit:
					continue
				case res.Skip(r) && !finished[r]:
					t.Fatalf("offset %d is unfinished but would be skipped (meta %q)", r, truncate(meta, 80))
				case res.Skip(r):
					skipped++
				case finished[r]:
					repeated++
				}
			}
			if tc.wantCut != (repeated > 0) {
				t.Fatalf("%d finished records would be repeated, want a cut: %v (skipped %d, meta %d bytes)", repeated, tc.wantCut, skipped, len(meta))
			}
			t.Logf("%d finished skipped, %d repeated, %d bytes", skipped, repeated, len(meta))
		})
	}
}

func TestPositionNothingPastTheOffset(t *testing.T) {
	tr := newOffsets()
	if encodePosition(tr) != "" {
		t.Fatal("metadata before anything was read")
	}
	tr.read(5)
	tr.read(6)
	tr.finish(5)
	tr.finish(6)
	if m := encodePosition(tr); m != "" {
		t.Fatalf("metadata %q with everything finished", m)
	}
}

func TestDecodePositionRefusesGarbage(t *testing.T) {
	for _, m := range []string{"x", "r2:5:1", "r1:0:1", "r1:3:1,2,3,4", "r1:5:a"} {
		if _, err := position.Decode(10, m); err == nil || !strings.Contains(err.Error(), "commit metadata") {
			t.Errorf("position.Decode(%q) = %v, want an error", m, err)
		}
	}
	if r, err := position.Decode(10, ""); err != nil || r.Skip(11) {
		t.Fatalf("empty metadata: %v %v", r, err)
	}
}

func TestOffsetsRoundTrip(t *testing.T) {
	for _, in := range [][]int64{nil, {5}, {1, 2, 3, 7, 9, 10}, {100, 102, 104}} {
		s := encodeOffsets(in)
		out, err := decodeOffsets(s)
		if err != nil || len(out) != len(in) {
			t.Fatalf("%v → %q → %v %v", in, s, out, err)
		}
		for i := range in {
			if in[i] != out[i] {
				t.Fatalf("%v → %q → %v", in, s, out)
			}
		}
	}
	if s := encodeOffsets([]int64{1, 2, 3, 7, 9, 10}); s != "1-3,7,9-10" {
		t.Fatalf("encoded %q", s)
	}
	for _, bad := range []string{"x", "3-1", "1-", "1,,2"} {
		if _, err := decodeOffsets(bad); err == nil {
			t.Errorf("decodeOffsets(%q) accepted", bad)
		}
	}
}
