package dlq_test

import (
	"context"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/dlq"
)

// BenchmarkReplayMax replays 20,000 delivery dead letters over 200
// entities with no rate limit (surge dlq replay --rate max): reading the
// selection twice (plan, then run), re-encoding each delivery and writing
// it in transactions of up to 5,000 records. It reports records/s.
//
//	go test ./dlq -run '^$' -bench ReplayMax -benchtime 1x -count 5
func BenchmarkReplayMax(b *testing.B) {
	const n = 20000
	e := newEnv(b)
	e.subs.put("sub_a")
	ls := letters("sub_a", n, 200, 400)
	for i := 0; i < n; i += 1000 {
		e.deadLetter(ls[i : i+1000]...)
	}
	ctx := context.Background()
	b.ResetTimer()
	var total time.Duration
	for range b.N {
		start := time.Now()
		r, _, err := e.svc.Create(ctx, dlq.Selection{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		st, err := r.Run(ctx, nil)
		if err != nil || st.Replayed != n {
			b.Fatalf("run: %+v %v", st, err)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "records/s")
}
