package console

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/surgehq/surge/pkg/dlq"
)

// defaultReplayRate is the wizard's rate until one is typed: gentle on
// a receiver that has just recovered.
const defaultReplayRate = "100"

// replayForm is the replay wizard's fields as typed, and the refusal of
// them (by the form's own checks or the admin API).
type replayForm struct {
	Topic        string
	Partitions   string // comma separated
	FromOffset   string
	ToOffset     string
	Since        string
	Until        string
	Subscription string
	Filter       string
	Rate         string // records per second, or "max"
	Error        string
	Field        string
	// Line, Column, FilterLine and Caret mark where a filter does not
	// compile, as on the create-subscription form.
	Line, Column int
	FilterLine   string
	Caret        string
}

// wizardData is the wizard's page: the form, and the dry run's plan once
// planned.
type wizardData struct {
	Form   replayForm
	Topics []string
	Plan   *dryRunView
}

// dryRunView is the admin API's answer to a dry run.
type dryRunView struct {
	Plan      *dlq.Plan     `json:"plan"`
	Records   []dlq.Planned `json:"records"`
	Truncated bool          `json:"truncated"`
}

// Keys counts the distinct keys of the records listed.
func (d dryRunView) Keys() int {
	seen := map[string]bool{}
	for _, r := range d.Records {
		seen[r.Key] = true
	}
	return len(seen)
}

func formOf(v url.Values) replayForm {
	f := replayForm{Topic: dlqTopic(v), Partitions: v.Get("partitions"), FromOffset: v.Get("from_offset"), ToOffset: v.Get("to_offset"),
		Since: v.Get("since"), Until: v.Get("until"), Subscription: strings.TrimSpace(v.Get("subscription")), Filter: v.Get("filter"),
		Rate: strings.TrimSpace(v.Get("rate"))}
	if f.Rate == "" {
		f.Rate = defaultReplayRate
	}
	return f
}

// timeLayouts are the times the wizard takes: RFC 3339, and what a
// datetime-local field or a person types (UTC).
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}

func parseTime(s string) (*time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			t = t.UTC()
			return &t, nil
		}
	}
	return nil, errors.New("must be a time such as 2026-03-01T12:00:00Z (UTC when no zone is given)")
}

func parseOffset(s string) (*int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return nil, errors.New("must be an offset (a number from 0)")
	}
	return &n, nil
}

// selection is the form as a dlq.Selection; a field that does not parse
// is an *apiError naming it, as the API would answer.
func (f replayForm) selection() (dlq.Selection, error) {
	sel := dlq.Selection{Topic: f.Topic, Subscription: f.Subscription, Filter: f.Filter}
	bad := func(field string, err error) error {
		return &apiError{Status: http.StatusUnprocessableEntity, Field: field, Message: err.Error()}
	}
	for _, p := range splitList(f.Partitions) {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil || n < 0 {
			return sel, bad("partitions", fmt.Errorf("%q is not a partition number; give them comma separated", p))
		}
		sel.Partitions = append(sel.Partitions, int32(n))
	}
	var err error
	if s := strings.TrimSpace(f.FromOffset); s != "" {
		if sel.FromOffset, err = parseOffset(s); err != nil {
			return sel, bad("from_offset", err)
		}
	}
	if s := strings.TrimSpace(f.ToOffset); s != "" {
		if sel.ToOffset, err = parseOffset(s); err != nil {
			return sel, bad("to_offset", err)
		}
	}
	if s := strings.TrimSpace(f.Since); s != "" {
		if sel.Since, err = parseTime(s); err != nil {
			return sel, bad("since", err)
		}
	}
	if s := strings.TrimSpace(f.Until); s != "" {
		if sel.Until, err = parseTime(s); err != nil {
			return sel, bad("until", err)
		}
	}
	if f.Rate != "max" {
		r, err := strconv.ParseFloat(f.Rate, 64)
		if err != nil || r <= 0 || math.IsInf(r, 0) {
			return sel, bad("rate", errors.New(`must be a positive number of records per second, or "max"`))
		}
		sel.Rate = r
	}
	return sel, nil
}

// RateText is the form's rate in words, for the start button.
func (f replayForm) RateText() string {
	if f.Rate == "max" {
		return "as fast as Kafka takes them"
	}
	return "at " + f.Rate + "/s"
}

// refuse keeps err's message and field in the form, with the filter's
// error position, when err is the API's (or the form's) refusal; ok is
// false for any other error.
func (f *replayForm) refuse(err error) (status int, ok bool) {
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status >= 500 || ae.Status == http.StatusUnauthorized {
		return 0, false
	}
	f.Error, f.Field = ae.Message, ae.Field
	if ae.Field == "filter" {
		m := createForm{Filter: f.Filter}
		m.position(strings.TrimPrefix(ae.Message, "filter: "))
		f.Line, f.Column, f.FilterLine, f.Caret = m.Line, m.Column, m.FilterLine, m.Caret
	}
	return ae.Status, true
}

func (c *Console) renderWizard(w http.ResponseWriter, r *http.Request, status int, d wizardData) error {
	d.Topics = dlqTopics
	return c.render(w, r, status, "replay-wizard", page{Title: "Replay dead letters", Nav: "dlq", Data: d})
}

// replayWizard is the wizard's form, prefilled from the query (the
// dead-letter page links here with a partition or a subscription).
func (c *Console) replayWizard(w http.ResponseWriter, r *http.Request, _ session) error {
	return c.renderWizard(w, r, http.StatusOK, wizardData{Form: formOf(r.URL.Query())})
}

// planReplay is the wizard's "Plan": the dry run of the form's selection.
func (c *Console) planReplay(w http.ResponseWriter, r *http.Request, _ session) error {
	d := wizardData{Form: formOf(r.PostForm)}
	sel, err := d.Form.selection()
	if err == nil {
		var plan dryRunView
		err = c.call(r.Context(), http.MethodPost, "/v1/dlq/replays", struct {
			dlq.Selection
			DryRun bool `json:"dry_run"`
		}{sel, true}, &plan)
		if err == nil {
			d.Plan = &plan
			return c.renderWizard(w, r, http.StatusOK, d)
		}
	}
	if status, ok := d.Form.refuse(err); ok {
		return c.renderWizard(w, r, status, d)
	}
	return err
}

// startReplay starts the replay of the form's selection, as planned, and
// goes to its page.
func (c *Console) startReplay(w http.ResponseWriter, r *http.Request, _ session) error {
	d := wizardData{Form: formOf(r.PostForm)}
	sel, err := d.Form.selection()
	if err == nil {
		var st dlq.Status
		if err = c.call(r.Context(), http.MethodPost, "/v1/dlq/replays", sel, &st); err == nil {
			http.Redirect(w, r, "/console/dlq/replays/"+url.PathEscape(st.ID), http.StatusSeeOther)
			return nil
		}
	}
	if status, ok := d.Form.refuse(err); ok {
		return c.renderWizard(w, r, status, d)
	}
	return err
}

// replayView is a replay as its pages show it.
type replayView struct {
	dlq.Status
}

// Percent is how much of the replay is written, 0 to 100.
func (v replayView) Percent() int {
	if v.Total <= 0 {
		if v.State == dlq.StateDone {
			return 100
		}
		return 0
	}
	return int(min(100, v.Replayed*100/v.Total))
}

// ETA is the time left at the measured rate, in words.
func (v replayView) ETA() string {
	if v.ETASeconds == nil {
		return "-"
	}
	return (time.Duration(*v.ETASeconds * float64(time.Second))).Round(time.Second).String()
}

// Rate is the measured rate and the limit, in words.
func (v replayView) Rate() string {
	limit := "no limit"
	if v.Selection.Rate > 0 {
		limit = "limit " + strconv.FormatFloat(v.Selection.Rate, 'f', -1, 64) + "/s"
	}
	if v.Running {
		return fmt.Sprintf("%.1f records/s (%s)", v.RatePerSecond, limit)
	}
	return limit
}

// CanResume says whether Resume applies: stopped, failed, or running
// with no process running it here (its process died).
func (v replayView) CanResume() bool {
	return v.State == dlq.StateStopped || v.State == dlq.StateFailed || (v.State == dlq.StateRunning && !v.Running)
}

// StateClass colours the state; the word carries it too.
func (v replayView) StateClass() string {
	switch v.State {
	case dlq.StateDone:
		return "good"
	case dlq.StateFailed:
		return "bad"
	}
	return "warn"
}

func (c *Console) replays(w http.ResponseWriter, r *http.Request, _ session) error {
	var list struct {
		Replays []replayView `json:"replays"`
	}
	if err := c.call(r.Context(), http.MethodGet, "/v1/dlq/replays", nil, &list); err != nil {
		return err
	}
	refresh := false
	for _, v := range list.Replays {
		refresh = refresh || v.Running
	}
	return c.render(w, r, http.StatusOK, "replays", page{Title: "Replays", Nav: "dlq", Refresh: refresh, Data: list.Replays})
}

func (c *Console) replayDetail(w http.ResponseWriter, r *http.Request, _ session) error {
	var v replayView
	if err := c.call(r.Context(), http.MethodGet, "/v1/dlq/replays/"+url.PathEscape(r.PathValue("id")), nil, &v); err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "replay", page{Title: "Replay " + v.ID, Nav: "dlq", Refresh: v.State == dlq.StateRunning, Data: v})
}

// replayAction posts stop or resume of the replay to the API and goes
// back to its page.
func (c *Console) replayAction(w http.ResponseWriter, r *http.Request, action string) error {
	id := r.PathValue("id")
	if err := c.call(r.Context(), http.MethodPost, "/v1/dlq/replays/"+url.PathEscape(id)+"/"+action, nil, nil); err != nil {
		return err
	}
	http.Redirect(w, r, "/console/dlq/replays/"+url.PathEscape(id), http.StatusSeeOther)
	return nil
}

func (c *Console) stopReplay(w http.ResponseWriter, r *http.Request, _ session) error {
	return c.replayAction(w, r, "stop")
}

func (c *Console) resumeReplay(w http.ResponseWriter, r *http.Request, _ session) error {
	return c.replayAction(w, r, "resume")
}
