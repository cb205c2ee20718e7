package console

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/segmentio/ksuid"

	"github.com/surgehq/surge/pkg/trace"
)

// Search kinds of the trace page: what its q names.
const (
	searchEvent   = "event"   // a Surge event id, or a sender's id
	searchEntity  = "entity"  // an entity key, type:id
	searchWebhook = "webhook" // a delivery's webhook-id
)

var (
	// webhookIDPattern is event.DeliveryID's form: "msg_" and 32 hex digits.
	webhookIDPattern = regexp.MustCompile(`^msg_[0-9a-f]{32}$`)
	// entityKeyPattern is an entity key whose type is an entity type's
	// name (lower case), so a sender's id like "urn:uuid:…" is still an id.
	entityKeyPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]*:\S+$`)
)

// searchKind decides what q names: a ksuid is an event id, msg_<hex> a
// webhook-id, type:id an entity key, anything else a sender's id (which
// the admin API looks up as it does an event id).
func searchKind(q string) string {
	if _, err := ksuid.Parse(q); err == nil {
		return searchEvent
	}
	if webhookIDPattern.MatchString(q) {
		return searchWebhook
	}
	if entityKeyPattern.MatchString(q) && trace.ValidEntityKey(q) {
		return searchEntity
	}
	return searchEvent
}

// traceAnswer is GET /v1/trace's answer.
type traceAnswer struct {
	Trace  *trace.Trace        `json:"trace"`
	Entity *trace.EntityEvents `json:"entity"`
}

// traceData is the trace page: the search, and the trace or the entity
// key's events it found.
type traceData struct {
	Q       string
	Kind    string
	Trace   *traceView
	Entity  *trace.EntityEvents
	Missing string // why nothing is shown (not found, ambiguous, refused)
}

// traceView is a trace as the page shows it.
type traceView struct {
	*trace.Trace
	Rows []stepView
	Sums []stepView
}

// stepView is one step with what its row shows.
type stepView struct {
	trace.Step
}

// Where is the step's topic/partition@offset.
func (s stepView) Where() string {
	if s.Topic == "" || s.Partition == nil || s.Offset == nil {
		return ""
	}
	return s.Topic + "/" + strconv.Itoa(int(*s.Partition)) + "@" + strconv.FormatInt(*s.Offset, 10)
}

// Headers are a header map as "Name: value" lines, sorted by name.
func headerLines(h map[string]string) string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k + ": " + h[k] + "\n")
	}
	return b.String()
}

// RequestLines and ResponseLines are the attempt's headers, one a line.
func (s stepView) RequestLines() string  { return headerLines(s.RequestHeaders) }
func (s stepView) ResponseLines() string { return headerLines(s.ResponseHeaders) }

// ResultText is a summary's result in words; ResultClass its colour.
func (s stepView) ResultText() string { return trace.HumanResult(s.Result) }
func (s stepView) ResultClass() string {
	switch s.Result {
	case trace.ResultDelivered:
		return "good"
	case trace.ResultDeadLettered:
		return "bad"
	}
	return "warn"
}

func viewOf(t *trace.Trace) *traceView {
	v := &traceView{Trace: t}
	for _, s := range t.Steps {
		v.Rows = append(v.Rows, stepView{s})
	}
	for _, s := range t.Summary {
		v.Sums = append(v.Sums, stepView{s})
	}
	return v
}

// tracePage is GET /console/trace?q=: the search form, and what the admin
// API's GET /v1/trace found for q.
func (c *Console) tracePage(w http.ResponseWriter, r *http.Request, _ session) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := traceData{Q: q}
	title := "Event trace"
	if q == "" {
		return c.render(w, r, http.StatusOK, "trace", page{Title: title, Nav: "trace", Data: d})
	}
	d.Kind = searchKind(q)
	param := map[string]string{searchEvent: "id", searchEntity: "entity", searchWebhook: "webhook_id"}[d.Kind]
	var ans traceAnswer
	err := c.call(r.Context(), http.MethodGet, "/v1/trace?"+url.Values{param: {q}}.Encode(), nil, &ans)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusUnauthorized:
		d.Missing = ae.Error()
		return c.render(w, r, ae.Status, "trace", page{Title: title, Nav: "trace", Data: d})
	case err != nil:
		return err
	}
	switch {
	case ans.Trace != nil:
		d.Trace = viewOf(ans.Trace)
		title = "Event " + ans.Trace.EventID
	case ans.Entity != nil:
		d.Entity = ans.Entity
		title = "Events of " + ans.Entity.EntityKey
	}
	return c.render(w, r, http.StatusOK, "trace", page{Title: title, Nav: "trace", Data: d})
}
