// Package backlog is the dispatchers' report of what waits per
// subscription, so an operator sees backpressure without scraping every
// instance: the record of commerce.backlog (schemas/backlog.avsc), its key
// and codec, the Reporter a dispatcher instance writes it with, and the
// rule its readers (the admin API's GET /v1/subscriptions/{id}, `surge
// topics`) apply: a subscription's backlog is the sum of its fresh
// reports, one per instance.
//
// The key is "<subscription id>/<instance id>". A subscription's
// deliveries are spread over the partitions of commerce.deliveries, and so
// over every dispatcher instance of the group; each instance knows only its
// share. Keyed by subscription alone, two instances would overwrite each
// other's share in the compacted topic; keyed by partition, an instance
// would have to split its per-subscription counts by partition (the
// dispatcher's memory bounds count per subscription) and write one record
// per partition. Keyed by instance, the shares sit side by side and
// readers add them up; a partition that moves from one instance to
// another leaves the first one's share (its next report drops it) for the
// second one's. --instance-id must therefore differ between the instances
// of a group (the default, the host name, does).
//
// A report is fresh while it is at most StaleAfter(Every) old by the
// reader's clock: the writer rewrites an unchanged report on the first
// tick at which it is KeepAlive(Every) old, so a running instance's report
// never gets near that, and one left by a killed instance stops counting
// within four intervals. Clocks must agree within an interval or so (NTP).
package backlog

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/schemas"
)

// DefaultEvery is the dispatcher's default --backlog-every.
const DefaultEvery = 5 * time.Second

// KeepAlive is how old a report that did not change may get before its
// writer writes it again: one and a half intervals, so it is rewritten
// every second tick.
func KeepAlive(every time.Duration) time.Duration { return every + every/2 }

// StaleAfter is how old a report may be and still count: four of its
// writer's intervals, two more than a running writer lets it get.
func StaleAfter(every time.Duration) time.Duration { return 4 * every }

// Waiting is every delivery the report counts.
func (r Report) Waiting() int64 { return r.InMemory + r.InRetryTopic }

// Fresh reports whether r still counts at now.
func (r Report) Fresh(now time.Time) bool {
	every := r.Every
	if every <= 0 {
		every = DefaultEvery
	}
	return now.Sub(r.ReportedAt) <= StaleAfter(every)
}

// Key is the key of a subscription's report by an instance in
// commerce.backlog.
func Key(subscription, instance string) string { return subscription + "/" + instance }

// NewCodec returns the Codec of commerce.backlog values
// (schemas/backlog.avsc, generated in avro_gen.go); a report without a
// subscription is refused.
func NewCodec(reg *avroserde.Registry, topic string) *avroserde.Codec[Report] {
	return avroserde.NewGeneratedCodec(reg, topic, schemas.Backlog, avroserde.Generated[Report]{
		Native: Report.Native, FromNative: ReportFromNative, Append: AppendReportAvro, FromAvro: ReportFromAvro,
		Check: func(r Report) error {
			if r.Subscription == "" {
				return errors.New("decoding Backlog: subscription is empty")
			}
			return nil
		},
	})
}

// Summary is a subscription's backlog over every instance whose report is
// fresh: what the admin API and `surge topics` show. No instance means
// nothing waits ("none").
type Summary struct {
	Subscription string `json:"subscription,omitempty"`
	InMemory     int64  `json:"in_memory"`
	InRetryTopic int64  `json:"in_retry_topic"`
	// Oldest is the earliest Oldest of the reports; OldestAgeSeconds its
	// age when the summary was made. Both absent when nothing waits or no
	// instance knows.
	Oldest              *time.Time `json:"oldest,omitempty"`
	OldestAgeSeconds    *float64   `json:"oldest_age_seconds,omitempty"`
	DeliveriesPerSecond float64    `json:"deliveries_per_second"`
	// Breaker is the endpoint's circuit breaker as the instances report it:
	// "open" when one has it open, else "half-open" when one is probing,
	// else "closed"; absent when none has tried the endpoint yet.
	Breaker   string     `json:"breaker,omitempty"`
	Instances []Instance `json:"instances"`
}

// Instance is one instance's share of a Summary.
type Instance struct {
	Instance            string     `json:"instance"`
	InMemory            int64      `json:"in_memory"`
	InRetryTopic        int64      `json:"in_retry_topic"`
	Oldest              *time.Time `json:"oldest,omitempty"`
	DeliveriesPerSecond float64    `json:"deliveries_per_second"`
	Breaker             string     `json:"breaker,omitempty"`
	ReportedAt          time.Time  `json:"reported_at"`
}

// None reports whether nothing waits.
func (s Summary) None() bool { return len(s.Instances) == 0 }

// Waiting is every delivery the summary counts.
func (s Summary) Waiting() int64 { return s.InMemory + s.InRetryTopic }

// Text says the summary in one line for people: "none", or the counts,
// the oldest's age and the rate.
func (s Summary) Text() string {
	if s.None() {
		return "none"
	}
	parts := []string{fmt.Sprintf("%d waiting (%d in memory, %d in the retry topic)", s.Waiting(), s.InMemory, s.InRetryTopic)}
	if s.OldestAgeSeconds != nil {
		parts = append(parts, "oldest "+AgeText(*s.OldestAgeSeconds))
	}
	parts = append(parts, fmt.Sprintf("%.1f deliveries/s", s.DeliveriesPerSecond))
	names := make([]string, len(s.Instances))
	for i, in := range s.Instances {
		names[i] = in.Instance
	}
	return strings.Join(parts, ", ") + " on " + strings.Join(names, ", ")
}

// AgeText prints an age in seconds rounded to what a person reads: 850ms,
// 41s, 12m3s.
func AgeText(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// Summarize sums the fresh reports at now by subscription. Reports that
// are stale, or count nothing, are left out; so is a subscription left
// with none.
func Summarize(reports []Report, now time.Time) map[string]Summary {
	out := map[string]Summary{}
	for _, r := range reports {
		if !r.Fresh(now) || r.Waiting() == 0 {
			continue
		}
		s := out[r.Subscription]
		s.Subscription = r.Subscription
		s.InMemory += r.InMemory
		s.InRetryTopic += r.InRetryTopic
		s.DeliveriesPerSecond += r.PerSecond
		in := Instance{Instance: r.Instance, InMemory: r.InMemory, InRetryTopic: r.InRetryTopic,
			DeliveriesPerSecond: r.PerSecond, Breaker: r.Breaker, ReportedAt: r.ReportedAt.UTC()}
		if breakerRank[r.Breaker] > breakerRank[s.Breaker] {
			s.Breaker = r.Breaker
		}
		if !r.Oldest.IsZero() {
			o := r.Oldest.UTC()
			in.Oldest = &o
			if s.Oldest == nil || o.Before(*s.Oldest) {
				s.Oldest = &o
			}
		}
		s.Instances = append(s.Instances, in)
		out[r.Subscription] = s
	}
	for id, s := range out {
		slices.SortFunc(s.Instances, func(a, b Instance) int { return strings.Compare(a.Instance, b.Instance) })
		if s.Oldest != nil {
			age := max(now.Sub(*s.Oldest).Seconds(), 0)
			s.OldestAgeSeconds = &age
		}
		out[id] = s
	}
	return out
}

// breakerRank orders the breaker states a Summary takes the worst of.
var breakerRank = map[string]int{"closed": 1, "half-open": 2, "open": 3}

// Of is subscription's Summary at now: "none" (no instances) when no fresh
// report counts anything.
func Of(reports []Report, subscription string, now time.Time) Summary {
	mine := make([]Report, 0, 1)
	for _, r := range reports {
		if r.Subscription == subscription {
			mine = append(mine, r)
		}
	}
	s, ok := Summarize(mine, now)[subscription]
	if !ok {
		return Summary{Subscription: subscription, Instances: []Instance{}}
	}
	return s
}
