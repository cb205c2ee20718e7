package main

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/kafkatest"
)

// TestConsoleTraceThroughKafka is the console's Event trace page on surge
// dev: a receiver answers 503 with an HTML body once and 200 after; the
// page for the event id shows ingest, enrich's version and changes, the
// delivery with its body, both attempts with their status and the
// escaped HTML answer, and the summary; the entity key lists the event,
// the webhook-id finds it; the page refuses without a session and
// GET /v1/trace without the right token.
func TestConsoleTraceThroughKafka(t *testing.T) {
	stack, dir := startTestDev(t, zap.ErrorLevel)
	token := adminToken(t, dir)
	const busy = `<h1>Busy</h1><script>alert("pwned")</script>`
	var mu sync.Mutex
	var hookIDs []string
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		hookIDs = append(hookIDs, r.Header.Get("webhook-id"))
		if len(hookIDs) == 1 {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, busy)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)

	// Refused without a session, and the API without the right token.
	anon := &consoleClient{t: t, base: stack.AdminURL}
	if status, loc, _ := anon.do("GET", "/console/trace?q=order:1", nil); status != http.StatusSeeOther || loc != "/console/login" {
		t.Errorf("trace page without a session: %d to %q, want a 303 to the login page", status, loc)
	}
	for _, tok := range []string{"", "wrong-token"} {
		if status := getJSON(t, stack.AdminURL, tok, "/v1/trace?id=x", nil); status != http.StatusUnauthorized {
			t.Errorf("GET /v1/trace with token %q: %d, want 401", tok, status)
		}
	}

	created := adminCall(t, stack.AdminURL, token, "POST", "/v1/subscriptions",
		`{"url":"`+rc.URL+`/hook","event_types":["order.*"],"retry_schedule":["1s"],"headers":{"X-Shop":"s1"}}`)
	sub, _ := created["id"].(string)
	status, out := postEvent(t, stack.IngestURL, `{"type":"order.placed","entity":{"type":"order","id":"TR-1"},"data":{"total":42.5,"note":"<b>gift</b>"}}`, nil)
	if status != http.StatusAccepted {
		t.Fatalf("POST /v1/events: %d %v", status, out)
	}
	id, _ := out["id"].(string)

	c := &consoleClient{t: t, base: stack.AdminURL}
	if status, _, _ := c.do("POST", "/console/login", url.Values{"token": {token}}); status != http.StatusSeeOther {
		t.Fatalf("login: %d", status)
	}
	var page string
	kafkatest.WaitFor(t, 60*time.Second, "the trace page showing the delivered attempt", func() bool {
		_, _, page = c.do("GET", "/console/trace?q="+id, nil)
		return strings.Contains(page, ">HTTP 200<") && strings.Contains(page, ">delivered<")
	})
	mu.Lock()
	webhookID := hookIDs[0]
	mu.Unlock()
	steps := sectionOf(t, page, `<table id="trace-steps">`, `</table>`)
	text := html.UnescapeString(steps)
	// One row each, in this order.
	want := []string{
		"ingest", "accepted order.placed of order:TR-1 from source default",
		"enrich", "version 1, changed",
		"fanout", "delivery to " + sub + ", webhook-id " + webhookID,
		"attempt 1 to " + rc.URL + "/hook:", "HTTP 503", "retry in",
		"attempt 2 to " + rc.URL + "/hook:", "HTTP 200", "delivered in",
	}
	plain := regexp.MustCompile(`<[^>]+>`).ReplaceAllString(steps, "")
	plain = regexp.MustCompile(`\s+`).ReplaceAllString(html.UnescapeString(plain), " ")
	at := 0
	for _, w := range want {
		i := strings.Index(plain[at:], w)
		if i < 0 {
			t.Fatalf("the journey lacks %q after position %d:\n%s", w, at, plain)
		}
		at += i + len(w)
	}
	if n := strings.Count(steps, `<tr class="step-attempt">`); n != 2 {
		t.Errorf("%d attempt rows, want 2", n)
	}
	for _, f := range []string{"note", "total"} {
		if !regexp.MustCompile(`<span class="changes">[^<]*\b` + f + `\b`).MatchString(steps) {
			t.Errorf("enrich's changed fields lack %s:\n%s", f, steps)
		}
	}
	// The delivered body, and the 503's HTML answer, as text.
	if !strings.Contains(text, `"total":42.5`) || !strings.Contains(steps, `<pre class="body delivered">`) {
		t.Errorf("the delivered body is not shown:\n%s", steps)
	}
	if strings.Contains(page, busy) || strings.Contains(page, "<b>gift</b>") || !strings.Contains(page, html.EscapeString(busy)) {
		t.Errorf("the receiver's HTML answer or the event's HTML is not escaped:\n%s", steps)
	}
	for _, h := range []string{"webhook-id: " + webhookID, "X-Shop: s1", "Content-Type: application/json", "content-type: text/html"} {
		if !strings.Contains(text, h) { // the dispatcher logs response headers in lower case
			t.Errorf("the attempts' headers lack %q:\n%s", h, text)
		}
	}
	summary := html.UnescapeString(sectionOf(t, page, `<table id="trace-summary">`, `</table>`))
	if !strings.Contains(summary, sub) || !strings.Contains(summary, `<span class="status good">delivered</span>`) ||
		!strings.Contains(summary, webhookID) || !strings.Contains(summary, "HTTP 200 on attempt 2") {
		t.Errorf("summary:\n%s", summary)
	}

	// The entity key lists the event, linked to its trace.
	status, _, ent := c.do("GET", "/console/trace?q=order:TR-1", nil)
	if status != 200 || !strings.Contains(ent, `<table id="entity-events">`) || !strings.Contains(ent, `href="/console/trace?q=`+id+`"`) ||
		!strings.Contains(ent, "order.placed") {
		t.Errorf("entity key search: %d\n%s", status, tailOf(ent, 2000))
	}
	// The webhook-id finds the event.
	status, _, byHook := c.do("GET", "/console/trace?q="+webhookID, nil)
	if status != 200 || !strings.Contains(byHook, "Event "+id) || !strings.Contains(byHook, `<table id="trace-steps">`) {
		t.Errorf("webhook-id search: %d\n%s", status, tailOf(byHook, 2000))
	}
	// An unknown id is said so.
	status, _, none := c.do("GET", "/console/trace?q=2vN3qLmO5yH0fX8pU1sKc9dTz4e", nil)
	if status != http.StatusNotFound || !strings.Contains(none, `id="trace-missing"`) || !strings.Contains(none, "no record of event") {
		t.Errorf("unknown event: %d\n%s", status, tailOf(none, 1000))
	}
	// The subscription page links its attempts to their trace, and the
	// nav links the page.
	if _, _, detail := c.do("GET", "/console/subscriptions/"+sub, nil); !strings.Contains(detail, `href="/console/trace?q=`+id+`"`) ||
		!strings.Contains(detail, `href="/console/trace"`) {
		t.Errorf("the subscription page does not link the attempts' trace:\n%s", tailOf(detail, 2000))
	}

	// The API answers the same as JSON.
	var ans struct {
		Trace struct {
			EventID string `json:"event_id"`
			Steps   []struct {
				Stage        string `json:"stage"`
				Status       int    `json:"status"`
				ResponseBody string `json:"response_body"`
			} `json:"steps"`
			Summary []struct {
				Result string `json:"result"`
			} `json:"summary"`
		} `json:"trace"`
	}
	if status := getJSON(t, stack.AdminURL, token, "/v1/trace?webhook_id="+webhookID, &ans); status != 200 || ans.Trace.EventID != id ||
		len(ans.Trace.Summary) != 1 || ans.Trace.Summary[0].Result != "delivered" {
		t.Errorf("GET /v1/trace?webhook_id=: %d %+v", status, ans)
	}
	if status := getJSON(t, stack.AdminURL, token, "/v1/trace?id=2vN3qLmO5yH0fX8pU1sKc9dTz4e", nil); status != http.StatusNotFound {
		t.Errorf("GET /v1/trace of an unknown event: %d, want 404", status)
	}
}

// sectionOf is the part of s from the first start to the end after it.
func sectionOf(t *testing.T, s, start, end string) string {
	t.Helper()
	i := strings.Index(s, start)
	if i < 0 {
		t.Fatalf("no %s in\n%s", start, tailOf(s, 2000))
	}
	j := strings.Index(s[i:], end)
	if j < 0 {
		t.Fatalf("no %s after %s", end, start)
	}
	return s[i : i+j+len(end)]
}
