package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/surgehq/surge/pkg/inspect"
)

// The overview's per-minute figures: events accepted (the records
// commerce.events.raw took in the last minute), delivered (the attempts
// of the last minute that delivered, from GET /v1/attempt-stats) and
// dead-lettered (the records both DLQ topics took in the last minute),
// and the endpoints failing over the stats window.

// rawTopic is the topic ingest writes what it accepts to, without the
// prefix; the stage lag names it with the prefix, which gives the prefix.
const rawTopic = "commerce.events.raw"

// rateFigure is one per-minute figure, or why it is not known.
type rateFigure struct {
	Records   int64
	Estimated bool // counted from a sample and scaled: "≈"
	Error     string
}

// maxFailing is how many failing endpoints the overview lists.
const maxFailing = 20

// ratesData is the overview's per-minute figures and failing endpoints.
type ratesData struct {
	Accepted, Delivered, DeadLettered rateFigure
	// Failing are the subscriptions with a failed attempt in the stats
	// window, the lowest success rate first, at most maxFailing of them;
	// FailingMore counts the rest.
	Failing     []failingView
	FailingMore int
	StatsWindow string
	StatsError  string
}

type failingView struct {
	ID, Target string
	Stats      *statsView
}

// topicPrefix is the topic prefix the stage lag shows, "" if it does not
// name commerce.events.raw.
func topicPrefix(lag *inspect.StageLagReport) string {
	if lag != nil {
		for _, s := range lag.Stages {
			if strings.HasSuffix(s.Topic, rawTopic) {
				return strings.TrimSuffix(s.Topic, rawTopic)
			}
		}
	}
	return ""
}

// records counts the records topics took in the last minute, summed.
func (c *Console) records(ctx context.Context, topics ...string) rateFigure {
	var f rateFigure
	for _, t := range topics {
		var tr inspect.TopicRecords
		if err := c.call(ctx, http.MethodGet, "/v1/topics/"+url.PathEscape(t)+"/records?window=1m", nil, &tr); err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
				continue // not created yet: nothing in it
			}
			return rateFigure{Error: err.Error()}
		}
		f.Records += tr.Records
		f.Estimated = f.Estimated || tr.Estimated
	}
	return f
}

// rates reads the overview's figures; subs names the subscriptions.
func (c *Console) rates(ctx context.Context, lag *inspect.StageLagReport, subs []subscriptionView) ratesData {
	prefix := topicPrefix(lag)
	d := ratesData{StatsWindow: statsWindow}
	d.Accepted = c.records(ctx, prefix+rawTopic)
	var dlqs []string
	for _, t := range dlqTopics {
		dlqs = append(dlqs, prefix+t)
	}
	d.DeadLettered = c.records(ctx, dlqs...)
	rep, stats, errText := c.attemptStats(ctx, statsWindow)
	if errText != "" {
		d.StatsError, d.Delivered.Error = errText, errText
		return d
	}
	if len(rep.PerMinute) > 0 {
		d.Delivered.Records = int64(rep.PerMinute[0].Delivered)
	}
	d.Delivered.Estimated = rep.Truncated
	for _, s := range subs {
		if st := stats[s.ID]; st.Failing() {
			d.Failing = append(d.Failing, failingView{ID: s.ID, Target: s.Target(), Stats: st})
		}
	}
	slices.SortStableFunc(d.Failing, func(a, b failingView) int {
		ra, rb := rateOf(a.Stats), rateOf(b.Stats)
		switch {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(d.Failing) > maxFailing {
		d.Failing, d.FailingMore = d.Failing[:maxFailing], len(d.Failing)-maxFailing
	}
	return d
}

func rateOf(s *statsView) float64 {
	if s.SuccessRate == nil {
		return 0
	}
	return *s.SuccessRate
}
