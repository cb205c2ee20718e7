package console

import (
	"net/http"
	"net/url"

	"github.com/surgehq/surge/pkg/inspect"
)

// dlqTopics are the dead-letter topics the overview counts.
var dlqTopics = []string{"commerce.deliveries.dlq", "commerce.events.dlq"}

// overviewData is the overview: each stage's lag, the subscriptions by
// state, and the dead letters per topic. A part whose route failed says
// why instead.
type overviewData struct {
	Lag        *inspect.StageLagReport
	LagError   string
	States     map[string]int
	Subs       int
	SubsError  string
	DLQ        []dlqStats
	DLQError   string
	StalledAny bool
	// BreakerOpen are the subscriptions whose endpoint's breaker an
	// instance has open; Held sums what the dispatchers report holding in
	// memory.
	BreakerOpen []subscriptionView
	Held        int64
	// Parked counts the parked entity keys from the retry topic
	// (GET /v1/lanes).
	Parked      *inspect.ParkedSummary
	ParkedError string
	// Rates are the per-minute figures and the failing endpoints
	// (rates.go).
	Rates ratesData
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, _ session) error {
	d := overviewData{States: map[string]int{"active": 0, "paused": 0, "disabled": 0}}
	var lag inspect.StageLagReport
	if err := c.call(r.Context(), http.MethodGet, "/v1/stages/lag", nil, &lag); err != nil {
		d.LagError = err.Error()
	} else {
		d.Lag = &lag
		for _, s := range lag.Stages {
			d.StalledAny = d.StalledAny || s.Stalled > 0
		}
	}
	var subs subscriptionList
	if err := c.call(r.Context(), http.MethodGet, "/v1/subscriptions", nil, &subs); err != nil {
		d.SubsError = err.Error()
	} else {
		d.Subs = len(subs.Subscriptions)
		for _, s := range subs.Subscriptions {
			d.States[s.State()]++
			if b := s.Backlog; b != nil {
				d.Held += b.InMemory
				if b.Breaker == "open" {
					d.BreakerOpen = append(d.BreakerOpen, s)
				}
			}
		}
	}
	d.Parked, d.ParkedError = c.parked(r)
	d.Rates = c.rates(r.Context(), d.Lag, subs.Subscriptions)
	for _, t := range dlqTopics {
		var st dlqStats
		if err := c.call(r.Context(), http.MethodGet, "/v1/dlq/stats?topic="+t, nil, &st); err != nil {
			d.DLQError = err.Error()
			break
		}
		d.DLQ = append(d.DLQ, st)
	}
	return c.render(w, r, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview", Refresh: true, Data: d})
}

// subscriptionsData is the subscriptions page: the list and the create
// form, refilled with what was typed when the API refused it.
type subscriptionsData struct {
	Subscriptions []subscriptionView
	Form          createForm
	// Stats are the subscriptions' attempts over the stats window by id
	// (stats.go); Paging says which page of the list this is.
	Stats map[string]*statsView
	// Parked are the subscriptions' parked keys by id (GET /v1/lanes).
	Parked map[string]inspect.ParkedCount
	Paging listPage
}

func (c *Console) subscriptions(w http.ResponseWriter, r *http.Request, _ session) error {
	return c.subscriptionsPage(w, r, http.StatusOK, createForm{}, "")
}

func (c *Console) subscriptionsPage(w http.ResponseWriter, r *http.Request, status int, f createForm, notice string) error {
	var subs subscriptionList
	if err := c.call(r.Context(), http.MethodGet, "/v1/subscriptions", nil, &subs); err != nil {
		return err
	}
	paging, lo, hi := pageOf(r, len(subs.Subscriptions))
	parked, parkedErr := c.parked(r)
	paging.ParkedError = parkedErr
	rep, stats, statsErr := c.attemptStats(r.Context(), statsWindow)
	paging.StatsWindow, paging.StatsError = statsWindow, statsErr
	paging.StatsTruncated = rep != nil && rep.Truncated
	return c.render(w, r, status, "subscriptions", page{Title: "Subscriptions", Nav: "subscriptions", Notice: notice,
		Data: subscriptionsData{Subscriptions: subs.Subscriptions[lo:hi], Form: f, Stats: stats, Paging: paging, Parked: parkedBySubscription(parked)}})
}

// detailData is a subscription's page.
type detailData struct {
	Sub           subscriptionView
	Stats         *statsView // nil: no attempt in the stats window
	StatsError    string
	Attempts      []inspect.Attempt
	AttemptsError string
	Lanes         *inspect.LaneReport
	LanesError    string
}

func (c *Console) subscriptionDetail(w http.ResponseWriter, r *http.Request, _ session) error {
	id := r.PathValue("id")
	var d detailData
	if err := c.call(r.Context(), http.MethodGet, "/v1/subscriptions/"+url.PathEscape(id), nil, &d.Sub); err != nil {
		return err
	}
	var al attemptList
	if err := c.call(r.Context(), http.MethodGet, "/v1/subscriptions/"+url.PathEscape(id)+"/attempts", nil, &al); err != nil {
		d.AttemptsError = err.Error()
	}
	d.Attempts = al.Attempts
	_, stats, statsErr := c.attemptStats(r.Context(), statsWindow)
	d.Stats, d.StatsError = stats[id], statsErr
	var lanes inspect.LaneReport
	if err := c.call(r.Context(), http.MethodGet, "/v1/subscriptions/"+url.PathEscape(id)+"/lanes", nil, &lanes); err != nil {
		d.LanesError = err.Error()
	} else {
		d.Lanes = &lanes
	}
	return c.render(w, r, http.StatusOK, "subscription", page{Title: "Subscription " + id, Nav: "subscriptions", Refresh: true, Data: d})
}

// parked is every subscription's parked keys (GET /v1/lanes), or why not.
func (c *Console) parked(r *http.Request) (*inspect.ParkedSummary, string) {
	var p inspect.ParkedSummary
	if err := c.call(r.Context(), http.MethodGet, "/v1/lanes", nil, &p); err != nil {
		return nil, err.Error()
	}
	return &p, ""
}

// parkedBySubscription indexes p by subscription; nil p gives nil.
func parkedBySubscription(p *inspect.ParkedSummary) map[string]inspect.ParkedCount {
	if p == nil {
		return nil
	}
	out := make(map[string]inspect.ParkedCount, len(p.Subscriptions))
	for _, c := range p.Subscriptions {
		out[c.Subscription] = c
	}
	return out
}
