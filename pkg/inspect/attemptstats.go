package inspect

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/topics"
)

// Bounds of AttemptStats.
const (
	// DefaultStatsWindow is the window AttemptStats counts over when asked
	// for none; MaxStatsWindow the widest it takes.
	DefaultStatsWindow = 5 * time.Minute
	MaxStatsWindow     = time.Hour
	// MaxStatsRecords is the most records of each partition of
	// commerce.delivery-attempts AttemptStats reads: the newest ones of
	// the window. A window with more is cut (Truncated), its stats those
	// of the part read.
	MaxStatsRecords = 20000
)

// AttemptCounts are attempts counted by outcome. Failed are the attempts
// that did not deliver (retry or dead_lettered); held ones (a paused
// subscription's, made no request) are in neither.
type AttemptCounts struct {
	Attempts  int `json:"attempts"`
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
	Held      int `json:"held"`
}

// SubscriptionAttemptStats is one subscription's attempts over the window.
type SubscriptionAttemptStats struct {
	Subscription string `json:"subscription"`
	AttemptCounts
	// SuccessRate is Delivered / (Delivered + Failed), from 0 to 1; null
	// when there were no such attempts.
	SuccessRate *float64 `json:"success_rate"`
	// P50MS and P99MS are the attempts' durations (held ones left out) at
	// the 50th and 99th percentile, by nearest rank; null when none.
	P50MS *float64 `json:"p50_ms"`
	P99MS *float64 `json:"p99_ms"`
	// LastFailure is the newest failed attempt, if any.
	LastFailure *AttemptFailure `json:"last_failure,omitempty"`
}

// AttemptFailure is what a failed attempt answered.
type AttemptFailure struct {
	At     time.Time `json:"at"`
	Status int32     `json:"status"` // 0: no response
	Error  string    `json:"error,omitempty"`
	URL    string    `json:"url"`
}

// MinuteCounts are the attempts logged in one minute of the window.
type MinuteCounts struct {
	Start time.Time `json:"start"`
	AttemptCounts
}

// AttemptStatsReport is every subscription's attempts over a window,
// read in one pass over commerce.delivery-attempts.
type AttemptStatsReport struct {
	Window string    `json:"window"`
	Since  time.Time `json:"since"` // now − window
	Until  time.Time `json:"until"` // now
	// Truncated says a partition had more than MaxStatsRecords records in
	// the window: the stats count its newest MaxStatsRecords.
	Truncated bool          `json:"truncated"`
	Totals    AttemptCounts `json:"totals"`
	// PerMinute are the whole window's counts minute by minute, the
	// newest first: PerMinute[0] is the last 60 seconds.
	PerMinute     []MinuteCounts             `json:"per_minute"`
	Subscriptions []SubscriptionAttemptStats `json:"subscriptions"`
}

// attemptSample is what the stats keep of one logged attempt.
type attemptSample struct {
	subscription string
	outcome      string
	status       int32
	err, url     string
	durationMS   float64
	at           time.Time // when it was logged (the record's timestamp)
}

// AttemptStats counts every subscription's attempts logged in the last
// window (DefaultStatsWindow when 0) before now, reading each partition of
// commerce.delivery-attempts once from the first offset of the window
// (ListOffsetsAfterMilli), at most MaxStatsRecords of it.
func (in *Inspector) AttemptStats(ctx context.Context, window time.Duration, now time.Time) (*AttemptStatsReport, error) {
	if window <= 0 {
		window = DefaultStatsWindow
	}
	since := now.Add(-window)
	topic := in.cfg.Names.Name(topics.DeliveryAttempts)
	ranges, truncated, err := in.since(ctx, topic, since, MaxStatsRecords)
	if err != nil {
		return nil, err
	}
	var samples []attemptSample
	if ranges != nil {
		err = kafkax.RangeReader{Opts: in.cfg.ClientOpts}.Read(ctx, ranges, func(r *kgo.Record) error {
			if r.Timestamp.Before(since) {
				return nil
			}
			a, err := in.attempts.Decode(ctx, r.Value)
			if err != nil {
				return nil // not an attempt this registry knows; left out
			}
			samples = append(samples, attemptSample{subscription: a.SubscriptionID, outcome: a.Outcome, status: a.StatusCode,
				err: a.Error, url: a.URL, durationMS: float64(a.Duration.Microseconds()) / 1000, at: r.Timestamp})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", topic, err)
		}
	}
	rep := aggregateAttempts(samples, since, now)
	rep.Window, rep.Truncated = window.String(), truncated
	return rep, nil
}

// since is every non-empty partition of topic from the first offset at
// or after since (but at most limit offsets before its stable end) to its
// stable end; truncated says limit cut a partition. Nil when the topic
// does not exist.
func (in *Inspector) since(ctx context.Context, topic string, since time.Time, limit int64) (kafkax.Ranges, bool, error) {
	after, err := in.adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), topic)
	if err == nil {
		err = after.Error()
	}
	if err != nil {
		return nil, false, fmt.Errorf("listing the offsets of %s after %s: %w", topic, since.Format(time.RFC3339), err)
	}
	truncated := false
	rs, err := in.ranges(ctx, topic, func(p int32, start, end int64) int64 {
		from := Offset(after, topic, p)
		if from < 0 || from > end { // nothing after since
			from = end
		}
		if end-from > limit {
			from, truncated = end-limit, true
		}
		return max(from, start)
	})
	return rs, truncated, err
}

// aggregateAttempts counts samples logged in [since, now] by subscription
// and minute.
func aggregateAttempts(samples []attemptSample, since, now time.Time) *AttemptStatsReport {
	minutes := int(math.Ceil(now.Sub(since).Minutes()))
	rep := &AttemptStatsReport{Since: since.UTC(), Until: now.UTC(), PerMinute: make([]MinuteCounts, max(minutes, 1)),
		Subscriptions: []SubscriptionAttemptStats{}}
	for i := range rep.PerMinute {
		start := now.Add(-time.Duration(i+1) * time.Minute)
		if start.Before(since) {
			start = since
		}
		rep.PerMinute[i].Start = start.UTC()
	}
	type acc struct {
		SubscriptionAttemptStats
		durations []float64
	}
	bySub := map[string]*acc{}
	for _, s := range samples {
		if s.at.Before(since) || s.at.After(now) {
			continue
		}
		a := bySub[s.subscription]
		if a == nil {
			a = &acc{SubscriptionAttemptStats: SubscriptionAttemptStats{Subscription: s.subscription}}
			bySub[s.subscription] = a
		}
		minute := min(int(now.Sub(s.at)/time.Minute), len(rep.PerMinute)-1)
		for _, c := range []*AttemptCounts{&rep.Totals, &a.AttemptCounts, &rep.PerMinute[minute].AttemptCounts} {
			c.add(s.outcome)
		}
		switch s.outcome {
		case event.OutcomeHeld:
			continue
		case event.OutcomeRetry, event.OutcomeDeadLettered:
			if a.LastFailure == nil || !s.at.Before(a.LastFailure.At) {
				a.LastFailure = &AttemptFailure{At: s.at.UTC(), Status: s.status, Error: s.err, URL: s.url}
			}
		}
		a.durations = append(a.durations, s.durationMS)
	}
	for _, a := range bySub {
		if n := a.Delivered + a.Failed; n > 0 {
			rate := float64(a.Delivered) / float64(n)
			a.SuccessRate = &rate
		}
		if len(a.durations) > 0 {
			slices.Sort(a.durations)
			p50, p99 := Percentile(a.durations, 50), Percentile(a.durations, 99)
			a.P50MS, a.P99MS = &p50, &p99
		}
		rep.Subscriptions = append(rep.Subscriptions, a.SubscriptionAttemptStats)
	}
	slices.SortFunc(rep.Subscriptions, func(a, b SubscriptionAttemptStats) int { return strings.Compare(a.Subscription, b.Subscription) })
	return rep
}

// add counts one attempt of outcome.
func (c *AttemptCounts) add(outcome string) {
	c.Attempts++
	switch outcome {
	case event.OutcomeDelivered:
		c.Delivered++
	case event.OutcomeHeld:
		c.Held++
	default:
		c.Failed++
	}
}

// Percentile is the p-th percentile (0 < p ≤ 100) of sorted by nearest
// rank: the smallest value at least p % of the values are at or below.
// It is 0 for no values.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
