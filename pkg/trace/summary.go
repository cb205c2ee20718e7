package trace

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/webhook"
)

// result orders the steps, decodes the state of the subscriptions they
// name and adds the summary lines.
func (t *matcher) result(ctx context.Context, adm *kadm.Client) *Trace {
	res := &Trace{EventID: t.id, Steps: []Step{}, Summary: []Step{}}
	steps := slices.Clone(t.steps)
	sortSteps(steps)
	if len(steps) == 0 {
		return res
	}
	subs := map[string]subState{}
	for _, s := range steps {
		if s.SubscriptionID == "" {
			continue
		}
		if _, done := subs[s.SubscriptionID]; done {
			continue
		}
		st := subState{}
		if v, ok := t.subs[s.SubscriptionID]; ok {
			st.Found = true
			if v == nil {
				st.Deleted = true
			} else if sub, err := t.subCodec.Decode(ctx, v); err == nil {
				st.Enabled, st.Paused, st.URL, st.DisabledReason, st.Headers = sub.Enabled, sub.Paused, sub.URL, sub.DisabledReason, sub.Headers
			} else {
				st.Found = false
			}
		}
		subs[s.SubscriptionID] = st
	}
	if t.details {
		for i := range steps {
			if steps[i].Kind == KindAttempt && steps[i].ValueError == "" {
				steps[i].RequestHeaders = requestHeaders(steps[i], subs[steps[i].SubscriptionID])
			}
		}
	}
	summary := summarize(steps, subs)
	if len(summary) == 0 {
		summary = []Step{t.noDeliveries(ctx, adm, steps)}
	}
	res.Steps, res.Summary = steps, summary
	return res
}

// sortSteps orders steps by time, then pipeline stage, then attempt
// number and position in the log.
func sortSteps(steps []Step) {
	slices.SortStableFunc(steps, func(a, b Step) int {
		return cmp.Or(
			a.Time.Compare(b.Time),
			cmp.Compare(stageRank[a.Stage], stageRank[b.Stage]),
			cmp.Compare(a.Attempt, b.Attempt),
			strings.Compare(a.Topic, b.Topic),
			cmp.Compare(derefOffset(a.Offset), derefOffset(b.Offset)),
		)
	})
}

func derefOffset(o *int64) int64 {
	if o == nil {
		return 0
	}
	return *o
}

// summarize gives one line per subscription the steps name, in order of
// first appearance: what became of the event's delivery to it. steps must
// be sorted.
func summarize(steps []Step, subs map[string]subState) []Step {
	type acc struct {
		sum    Step
		last   *Step // the latest attempt or dead letter
		parked *Step // the latest parked copy
	}
	var order []string
	accs := map[string]*acc{}
	for i := range steps {
		s := &steps[i]
		if s.SubscriptionID == "" || s.Stage == StageSummary {
			continue
		}
		a, ok := accs[s.SubscriptionID]
		if !ok {
			a = &acc{sum: Step{Stage: StageSummary, SubscriptionID: s.SubscriptionID}}
			accs[s.SubscriptionID] = a
			order = append(order, s.SubscriptionID)
		}
		if a.sum.DeliveryID == "" {
			a.sum.DeliveryID = s.DeliveryID
		}
		if s.URL != "" {
			a.sum.URL = s.URL
		}
		a.sum.Time = s.Time
		a.sum.Attempts = max(a.sum.Attempts, s.Attempt, s.Attempts)
		switch {
		case s.Kind == KindAttempt && s.ValueError == "":
			a.last = s
		case s.Kind == KindDeadLetter:
			a.last = s
		case s.Kind == KindParked:
			a.parked = s
		}
	}
	out := make([]Step, 0, len(order))
	for _, id := range order {
		a := accs[id]
		sum := a.sum
		st := subs[id]
		if st.URL != "" {
			sum.URL = st.URL
		}
		sum.Result = ResultPending
		if l := a.last; l != nil {
			switch {
			case l.Kind == KindDeadLetter || l.Outcome == event.OutcomeDeadLettered:
				sum.Result = ResultDeadLettered
				if dl := l.DeadLetter; dl != nil {
					sum.Detail = strings.TrimSpace(fmt.Sprintf("class %s %s", dl.Class, httpStatus(dl.HTTPStatus)))
					sum.Error = dl.Error
				} else {
					sum.Detail = fmt.Sprintf("attempt %d %s", l.Attempt, httpStatusN(l.Status))
					sum.Error = l.Error
				}
			case l.Outcome == event.OutcomeDelivered:
				sum.Result = ResultDelivered
				sum.Status = l.Status
				sum.Detail = fmt.Sprintf("HTTP %d on attempt %d at %s", l.Status, l.Attempt, FormatTime(l.Time))
			case l.Outcome == event.OutcomeHeld:
				sum.Result = ResultHeld
				sum.Status = l.Status
				sum.Detail = fmt.Sprintf("attempt %d got HTTP %d: the subscription was disabled", l.Attempt, l.Status)
			case l.Outcome == event.OutcomeRetry:
				sum.Result = ResultRetrying
				sum.Status, sum.Error = l.Status, l.Error
				next := l.NextAttemptAt
				if p := a.parked; p != nil && p.NextAttemptAt != nil && (next == nil || p.NextAttemptAt.After(*next)) {
					next = p.NextAttemptAt
				}
				sum.NextAttemptAt = next
				sum.Detail = fmt.Sprintf("attempt %d %s", l.Attempt, httpStatusN(l.Status))
				if next != nil {
					sum.Detail += ", next attempt at " + FormatTime(*next)
				}
			}
		}
		// A subscription paused or disabled now holds what is not finished.
		if (sum.Result == ResultPending || sum.Result == ResultRetrying) && st.Found && !st.Deleted && (st.Paused || !st.Enabled) {
			sum.Result = ResultHeld
			switch {
			case !st.Enabled && st.DisabledReason != "":
				sum.Detail = "subscription disabled: " + st.DisabledReason
			case !st.Enabled:
				sum.Detail = "subscription disabled"
			default:
				sum.Detail = "subscription paused"
			}
		}
		if sum.Result == ResultPending {
			switch {
			case st.Deleted:
				sum.Detail = "the subscription was deleted; the dispatcher dead-letters its deliveries"
			case a.parked != nil:
				sum.Detail = "parked on " + a.parked.Topic + ", waiting its turn"
			default:
				sum.Detail = "waiting for the dispatcher"
			}
		}
		out = append(out, sum)
	}
	return out
}

// noDeliveries is the summary of an event no subscription has a delivery
// of: dead-lettered before fanout, filtered out, or not processed yet
// (asked of the stage's consumer group).
func (t *matcher) noDeliveries(ctx context.Context, adm *kadm.Client, steps []Step) Step {
	sum := Step{Stage: StageSummary, Result: ResultNoDeliveries, Time: steps[len(steps)-1].Time}
	for _, s := range steps {
		if s.Kind == KindDeadLetter && s.DeadLetter != nil {
			sum.Result = ResultDeadLettered
			sum.Detail = fmt.Sprintf("by %s before any delivery (class %s)", s.DeadLetter.Stage, s.DeadLetter.Class)
			sum.Error = s.DeadLetter.Error
			return sum
		}
	}
	past := func(group string, r *kgo.Record) (bool, bool) {
		offs, err := adm.FetchOffsets(ctx, t.names.Prefix+group)
		if err != nil {
			return false, false
		}
		o, ok := offs.Lookup(r.Topic, r.Partition)
		if !ok || o.Err != nil {
			return false, true
		}
		return o.At > r.Offset, true
	}
	switch {
	case t.enrichedRec != nil:
		if read, known := past(topics.GroupFanout, t.enrichedRec); read {
			sum.Detail = "no subscription matched it (fanout has read past it)"
		} else if known {
			sum.Detail = "fanout has not processed it yet"
		} else {
			sum.Detail = "no subscription matched it, or fanout has not processed it yet"
		}
	case t.raw != nil:
		if read, _ := past(topics.GroupEnrich, t.raw); read {
			sum.Detail = "enrich has read past it, but no enriched record was found"
		} else {
			sum.Detail = "enrich has not processed it yet"
		}
	default:
		sum.Detail = "no delivery found"
	}
	return sum
}

// requestHeaders are the headers the dispatcher sent with attempt a, as
// far as the records tell: the subscription's custom headers as it is
// now, and the ones every webhook carries (pkg/webhook). The signature
// and any authorization are not recorded; webhook-timestamp is the
// second the attempt started, which the signing time falls in.
func requestHeaders(a Step, st subState) map[string]string {
	h := map[string]string{}
	if st.Found && !st.Deleted {
		for k, v := range st.Headers {
			if !slices.Contains(subscription.ReservedHeaders, strings.ToLower(k)) {
				h[k] = v
			}
		}
	}
	h["Content-Type"] = "application/json"
	h["User-Agent"] = webhook.UserAgent
	h[webhook.HeaderID] = a.DeliveryID
	h[webhook.HeaderTimestamp] = strconv.FormatInt(a.Time.Unix(), 10)
	return h
}
