package console

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// createForm is the create form's fields, and the API's refusal of them.
type createForm struct {
	URL           string
	EventTypes    string // comma separated
	Filter        string
	RetrySchedule string // comma separated Go durations
	Signature     string // "v1" or "v1a"; empty is the API's default, v1
	Error         string
	Field         string
	// Line and Column are where a filter does not compile (1-based), and
	// Caret is the filter's line up to there, for the marker under it.
	Line, Column int
	FilterLine   string
	Caret        string
}

// filterPosition reads "line L, column C: ..." from the API's message of
// a filter that does not compile.
var filterPosition = regexp.MustCompile(`^line (\d+), column (\d+): `)

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *Console) createSubscription(w http.ResponseWriter, r *http.Request, _ session) error {
	f := createForm{URL: strings.TrimSpace(r.PostFormValue("url")), EventTypes: r.PostFormValue("event_types"),
		Filter: r.PostFormValue("filter"), RetrySchedule: r.PostFormValue("retry_schedule"), Signature: r.PostFormValue("signature_scheme")}
	in := map[string]any{"url": f.URL, "event_types": splitList(f.EventTypes)}
	if f.Signature != "" {
		in["signature_scheme"] = f.Signature
	}
	if f.Filter != "" {
		in["filter"] = f.Filter
	}
	if rs := splitList(f.RetrySchedule); len(rs) > 0 {
		in["retry_schedule"] = rs
	}
	var created subscriptionView
	err := c.call(r.Context(), http.MethodPost, "/v1/subscriptions", in, &created)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusUnauthorized {
		f.Error, f.Field = ae.Message, ae.Field
		if ae.Field == "filter" {
			f.position(ae.Message)
		}
		return c.subscriptionsPage(w, r, ae.Status, f, "")
	}
	if err != nil {
		return err
	}
	return c.render(w, r, http.StatusCreated, "secret", page{Title: "Subscription created", Nav: "subscriptions", Data: created})
}

// position sets the marker of a filter error at msg's line and column.
func (f *createForm) position(msg string) {
	m := filterPosition.FindStringSubmatch(msg)
	if m == nil {
		return
	}
	f.Line, _ = strconv.Atoi(m[1])
	f.Column, _ = strconv.Atoi(m[2])
	lines := strings.Split(f.Filter, "\n")
	if f.Line < 1 || f.Line > len(lines) {
		return
	}
	f.FilterLine = lines[f.Line-1]
	col := min(max(f.Column, 1), len([]rune(f.FilterLine))+1)
	f.Caret = strings.Repeat(" ", col-1) + "^"
}

func (c *Console) patchPaused(w http.ResponseWriter, r *http.Request, paused bool) error {
	id := r.PathValue("id")
	if err := c.call(r.Context(), http.MethodPatch, "/v1/subscriptions/"+url.PathEscape(id), map[string]any{"paused": paused}, nil); err != nil {
		return err
	}
	http.Redirect(w, r, backTo(r, id), http.StatusSeeOther)
	return nil
}

// backTo is where an action returns: the page its form named, when that
// is the list or the subscription's own page.
func backTo(r *http.Request, id string) string {
	if r.PostFormValue("back") == "detail" {
		return "/console/subscriptions/" + url.PathEscape(id)
	}
	return "/console/subscriptions"
}

func (c *Console) pauseSubscription(w http.ResponseWriter, r *http.Request, _ session) error {
	return c.patchPaused(w, r, true)
}

func (c *Console) resumeSubscription(w http.ResponseWriter, r *http.Request, _ session) error {
	return c.patchPaused(w, r, false)
}

func (c *Console) confirmDelete(w http.ResponseWriter, r *http.Request, _ session) error {
	var s subscriptionView
	if err := c.call(r.Context(), http.MethodGet, "/v1/subscriptions/"+url.PathEscape(r.PathValue("id")), nil, &s); err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "confirm-delete", page{Title: "Delete " + s.ID + "?", Nav: "subscriptions", Data: s})
}

// deleteSubscription deletes only when the form confirms with the
// subscription's id, as the confirmation page sends it.
func (c *Console) deleteSubscription(w http.ResponseWriter, r *http.Request, _ session) error {
	id := r.PathValue("id")
	if r.PostFormValue("confirm") != id {
		http.Redirect(w, r, "/console/subscriptions/"+url.PathEscape(id)+"/delete", http.StatusSeeOther)
		return nil
	}
	if err := c.call(r.Context(), http.MethodDelete, "/v1/subscriptions/"+url.PathEscape(id), nil, nil); err != nil {
		return err
	}
	http.Redirect(w, r, "/console/subscriptions", http.StatusSeeOther)
	return nil
}

func (c *Console) rotateSecret(w http.ResponseWriter, r *http.Request, _ session) error {
	var s subscriptionView
	if err := c.call(r.Context(), http.MethodPost, "/v1/subscriptions/"+url.PathEscape(r.PathValue("id"))+"/rotate-secret", nil, &s); err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "secret", page{Title: "Secret rotated", Nav: "subscriptions", Data: s})
}
