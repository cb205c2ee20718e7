package inspect

import (
	"math"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/event"
)

func TestPercentileByNearestRank(t *testing.T) {
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		values []float64
		p      float64
		want   float64
	}{
		{nil, 50, 0},
		{[]float64{7}, 50, 7},
		{[]float64{7}, 99, 7},
		{ten, 50, 5},
		{ten, 99, 10},
		{ten, 10, 1},
		{ten, 11, 2},
		{ten, 100, 10},
		{[]float64{1, 2, 3, 4}, 50, 2},
		{[]float64{1, 2, 3, 4}, 75, 3},
	} {
		if got := Percentile(c.values, c.p); got != c.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", c.values, c.p, got, c.want)
		}
	}
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	if p50, p99 := Percentile(hundred, 50), Percentile(hundred, 99); p50 != 50 || p99 != 99 {
		t.Errorf("1..100: p50 %v p99 %v, want 50 and 99", p50, p99)
	}
}

func TestAggregateAttemptsCountsBySubscriptionAndMinute(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	since := now.Add(-5 * time.Minute)
	at := func(ago time.Duration) time.Time { return now.Add(-ago) }
	samples := []attemptSample{
		{subscription: "sub_a", outcome: event.OutcomeDelivered, status: 200, durationMS: 10, at: at(10 * time.Second)},
		{subscription: "sub_a", outcome: event.OutcomeDelivered, status: 200, durationMS: 30, at: at(70 * time.Second)},
		{subscription: "sub_a", outcome: event.OutcomeRetry, status: 503, err: "unexpected status 503", url: "https://a/", durationMS: 20, at: at(20 * time.Second)},
		{subscription: "sub_a", outcome: event.OutcomeDeadLettered, status: 0, err: "dial: refused", url: "https://a/", durationMS: 40, at: at(5 * time.Second)},
		{subscription: "sub_a", outcome: event.OutcomeHeld, at: at(3 * time.Second)},
		{subscription: "sub_b", outcome: event.OutcomeDelivered, status: 204, durationMS: 5, at: at(4*time.Minute + 30*time.Second)},
		{subscription: "sub_b", outcome: event.OutcomeDelivered, status: 204, durationMS: 5, at: at(6 * time.Minute)}, // before the window
	}
	rep := aggregateAttempts(samples, since, now)
	if want := (AttemptCounts{Attempts: 6, Delivered: 3, Failed: 2, Held: 1}); rep.Totals != want {
		t.Errorf("totals %+v, want %+v", rep.Totals, want)
	}
	if len(rep.PerMinute) != 5 || rep.PerMinute[0].Start != now.Add(-time.Minute) {
		t.Fatalf("per minute %+v, want 5 minutes, the newest first", rep.PerMinute)
	}
	if want := (AttemptCounts{Attempts: 4, Delivered: 1, Failed: 2, Held: 1}); rep.PerMinute[0].AttemptCounts != want {
		t.Errorf("the last minute %+v, want %+v", rep.PerMinute[0].AttemptCounts, want)
	}
	if rep.PerMinute[1].Delivered != 1 || rep.PerMinute[4].Delivered != 1 {
		t.Errorf("minutes 1 and 4: %+v", rep.PerMinute)
	}
	if len(rep.Subscriptions) != 2 || rep.Subscriptions[0].Subscription != "sub_a" {
		t.Fatalf("subscriptions %+v", rep.Subscriptions)
	}
	a := rep.Subscriptions[0]
	if a.Attempts != 5 || a.Delivered != 2 || a.Failed != 2 || a.Held != 1 {
		t.Errorf("sub_a counts %+v", a.AttemptCounts)
	}
	// 2 delivered of 4 that made a request; durations 10, 20, 30, 40.
	if a.SuccessRate == nil || math.Abs(*a.SuccessRate-0.5) > 1e-9 || *a.P50MS != 20 || *a.P99MS != 40 {
		t.Errorf("sub_a rate %v p50 %v p99 %v, want 0.5, 20 and 40", deref(a.SuccessRate), deref(a.P50MS), deref(a.P99MS))
	}
	if f := a.LastFailure; f == nil || f.Status != 0 || f.Error != "dial: refused" || !f.At.Equal(at(5*time.Second)) {
		t.Errorf("sub_a last failure %+v, want the dead-lettered one", f)
	}
	b := rep.Subscriptions[1]
	if b.Attempts != 1 || *b.SuccessRate != 1 || b.LastFailure != nil || *b.P50MS != 5 {
		t.Errorf("sub_b %+v", b)
	}
	held := aggregateAttempts([]attemptSample{{subscription: "sub_c", outcome: event.OutcomeHeld, at: now}}, since, now)
	if c := held.Subscriptions[0]; c.SuccessRate != nil || c.P50MS != nil || c.P99MS != nil {
		t.Errorf("only held attempts: rate %v p50 %v, want none", c.SuccessRate, c.P50MS)
	}
}

func TestScaleRecordsFromASample(t *testing.T) {
	for _, c := range []struct{ counted, read, span, want int64 }{
		{5, 10, 10, 5},          // read whole
		{0, 0, 0, 0},            // nothing
		{900, 1000, 3000, 2700}, // 90 % records per offset, scaled
		{500, 1000, 1001, 501},
	} {
		if got := scaleRecords(c.counted, c.read, c.span); got != c.want {
			t.Errorf("scaleRecords(%d, %d, %d) = %d, want %d", c.counted, c.read, c.span, got, c.want)
		}
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// TestAggregateAttemptsPercentilesOfManyAttempts takes enough attempts
// that p50, p99 and the slowest differ: 200 attempts of 1 to 200 ms,
// logged in shuffled order.
func TestAggregateAttemptsPercentilesOfManyAttempts(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var samples []attemptSample
	for i := range 200 {
		ms := float64((i*37)%200 + 1) // 37 and 200 are coprime: every value once
		samples = append(samples, attemptSample{subscription: "sub_a", outcome: event.OutcomeDelivered, durationMS: ms, at: now.Add(-time.Second)})
	}
	a := aggregateAttempts(samples, now.Add(-time.Minute), now).Subscriptions[0]
	if *a.P50MS != 100 || *a.P99MS != 198 {
		t.Errorf("1..200 ms: p50 %v p99 %v, want 100 and 198", *a.P50MS, *a.P99MS)
	}
}
