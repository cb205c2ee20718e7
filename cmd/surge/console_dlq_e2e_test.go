package main

import (
	"bufio"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/kafkatest"
)

// rejectingReceiver answers 400 with a reason phrase holding HTML (which
// the dispatcher puts in surge.dlq.error) until accept is set, then 200;
// it counts the 200s per entity.
type rejectingReceiver struct {
	*httptest.Server
	accept   atomic.Bool
	mu       sync.Mutex
	accepted map[string]int
}

const evilReason = `<script>alert("dlq")</script>`

func newRejectingReceiver(t *testing.T) *rejectingReceiver {
	rc := &rejectingReceiver{accepted: map[string]int{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		_, _ = bufio.NewReader(r.Body).WriteTo(&b)
		id := regexp.MustCompile(`"entity":\{"type":"order","id":"([^"]+)"`).FindStringSubmatch(b.String())
		if rc.accept.Load() {
			rc.mu.Lock()
			if id != nil {
				rc.accepted[id[1]]++
			}
			rc.mu.Unlock()
			w.WriteHeader(http.StatusOK)
			return
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 400 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", evilReason)
		_ = buf.Flush()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *rejectingReceiver) acceptedCount() (events, entities int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, n := range rc.accepted {
		events += n
	}
	return events, len(rc.accepted)
}

var (
	replayPath = regexp.MustCompile(`^/console/dlq/replays/(rpl_[0-9A-Za-z]+)$`)
	recordRow  = regexp.MustCompile(`<td>\d+/\d+</td><td>\d{4}-`)
)

// TestConsoleDeadLettersAndReplay is issue 15's page 5 on surge dev: a
// receiver that answers 400 gets its deliveries dead-lettered; the
// dead-letter page counts them by status and subscription and lists them
// with their surge.dlq.* headers as text; the wizard's dry run counts
// them, a bad filter comes back with its position; a replay started at
// 5/s reaches 100 % and the receiver, fixed, gets every event again; a
// slower replay stops and resumes from its page. Every new page refuses
// a missing session and every form a missing CSRF token.
func TestConsoleDeadLettersAndReplay(t *testing.T) {
	stack, dir := startTestDev(t, zap.ErrorLevel)
	token := adminToken(t, dir)
	rc := newRejectingReceiver(t)
	sub := adminCall(t, stack.AdminURL, token, "POST", "/v1/subscriptions", `{"url":"`+rc.URL+`/hook","event_types":["order.*"]}`)["id"].(string)

	routes := []struct{ method, path string }{
		{"GET", "/console/dlq"}, {"GET", "/console/dlq/replay"}, {"GET", "/console/dlq/replays"}, {"GET", "/console/dlq/replays/rpl_x"},
		{"POST", "/console/dlq/replay"}, {"POST", "/console/dlq/replays"}, {"POST", "/console/dlq/replays/rpl_x/stop"}, {"POST", "/console/dlq/replays/rpl_x/resume"},
	}
	for _, cookie := range []string{"", "forged-session"} {
		anon := &consoleClient{t: t, base: stack.AdminURL, cookie: cookie}
		for _, r := range routes {
			status, loc, _ := anon.do(r.method, r.path, url.Values{"csrf": {"x"}})
			if (r.method == "GET" && (status != http.StatusSeeOther || loc != "/console/login")) || (r.method == "POST" && status != http.StatusUnauthorized) {
				t.Errorf("%s %s with cookie %q: %d to %q, want the login page (GET) or 401 (POST)", r.method, r.path, cookie, status, loc)
			}
		}
	}
	c := &consoleClient{t: t, base: stack.AdminURL}
	if status, _, _ := c.do("POST", "/console/login", url.Values{"token": {token}}); status != http.StatusSeeOther {
		t.Fatalf("login: %d", status)
	}
	for _, r := range routes[4:] {
		if status, _, _ := c.do(r.method, r.path, url.Values{"subscription": {sub}}); status != http.StatusForbidden {
			t.Errorf("%s %s without the CSRF token: %d, want 403", r.method, r.path, status)
		}
	}

	const n = 6
	for i := range n {
		if status, out := postEvent(t, stack.IngestURL, fmt.Sprintf(`{"type":"order.updated","entity":{"type":"order","id":"D%d"},"data":{"n":%d}}`, i, i), nil); status != http.StatusAccepted {
			t.Fatalf("POST order: %d %v", status, out)
		}
	}
	var page string
	kafkatest.WaitFor(t, 90*time.Second, "6 dead letters on the page", func() bool {
		_, _, page = c.do("GET", "/console/dlq", nil)
		return strings.Contains(page, fmt.Sprintf(">%d dead letters<", n))
	})
	if !regexp.MustCompile(`(?s)id="by-status".*<td>400</td><td>6</td>`).MatchString(page) {
		t.Errorf("the by-status table lacks 400: 6:\n%s", tailOf(page, 4000))
	}
	if !regexp.MustCompile(`(?s)id="by-subscription".*>`+sub+`</a></td><td>6</td>`).MatchString(page) ||
		!strings.Contains(page, "/console/dlq/replay?topic=commerce.deliveries.dlq&amp;subscription="+sub) {
		t.Errorf("the by-subscription table lacks %s: 6 and its replay link", sub)
	}
	if !regexp.MustCompile(`(?s)id="by-class".*<td>rejected</td><td>6</td>`).MatchString(page) {
		t.Errorf("the by-class table lacks rejected: 6")
	}
	if got := len(recordRow.FindAllString(page, -1)); got != n {
		t.Errorf("the records table has %d rows, want %d", got, n)
	}
	if strings.Contains(page, evilReason) || !strings.Contains(page, "surge.dlq.error: endpoint answered 400 "+html.EscapeString(evilReason)) ||
		!strings.Contains(page, "<dt>surge.dlq.error-class</dt><dd>rejected</dd>") || !strings.Contains(page, "1 attempts") {
		t.Errorf("the records do not show their headers as text:\n%s", tailOf(page, 4000))
	}
	// One partition, paged from offset 0.
	part := regexp.MustCompile(`<td>(\d+)/\d+</td><td>\d{4}-`).FindStringSubmatch(page)[1]
	_, _, onePart := c.do("GET", "/console/dlq?topic=commerce.deliveries.dlq&partition="+part+"&from_offset=0", nil)
	rows := regexp.MustCompile(`<td>(\d+)/\d+</td><td>\d{4}-`).FindAllStringSubmatch(onePart, -1)
	if len(rows) == 0 || len(rows) > n {
		t.Errorf("partition %s from offset 0: %d rows", part, len(rows))
	}
	for _, r := range rows {
		if r[1] != part {
			t.Errorf("partition %s's page lists partition %s", part, r[1])
		}
	}
	if _, _, bad := c.do("GET", "/console/dlq?partition=x", nil); !strings.Contains(bad, `class="error"`) || !strings.Contains(bad, ">6 dead letters<") {
		t.Errorf("a bad partition: the records part should say why and the counts stay:\n%s", tailOf(bad, 1500))
	}

	// The wizard, prefilled from the subscription's link.
	_, _, wizard := c.do("GET", "/console/dlq/replay?topic=commerce.deliveries.dlq&subscription="+sub, nil)
	if !strings.Contains(wizard, `name="subscription" value="`+sub+`"`) {
		t.Fatalf("the wizard is not prefilled:\n%s", tailOf(wizard, 3000))
	}
	csrf := c.csrf("/console/dlq/replay")
	form := func(filter, rate string) url.Values {
		return url.Values{"csrf": {csrf}, "topic": {"commerce.deliveries.dlq"}, "subscription": {sub}, "filter": {filter}, "rate": {rate}}
	}
	status, _, planned := c.do("POST", "/console/dlq/replay", form(`data.n >`, "5"))
	if status != http.StatusUnprocessableEntity || !strings.Contains(planned, `id="filter-error"`) || !regexp.MustCompile(`line 1, column \d+`).MatchString(planned) ||
		!strings.Contains(planned, ">data.n &gt;</textarea>") || strings.Contains(planned, `id="plan-count"`) {
		t.Fatalf("plan with a bad filter: %d\n%s", status, tailOf(planned, 3000))
	}
	status, _, planned = c.do("POST", "/console/dlq/replay", form(`data.n >= 0`, "5"))
	if status != 200 || !strings.Contains(planned, fmt.Sprintf("<strong>%d records</strong> to replay", n)) || !strings.Contains(planned, "Start replay at 5/s") ||
		len(regexp.MustCompile(`<td><code>`+sub+`/order:D\d</code></td>`).FindAllString(planned, -1)) != n {
		t.Fatalf("plan: %d\n%s", status, tailOf(planned, 4000))
	}
	if !strings.Contains(planned, `name="filter" value="data.n &gt;= 0"`) {
		t.Errorf("the start form does not carry the filter")
	}

	rc.accept.Store(true)
	status, loc, _ := c.do("POST", "/console/dlq/replays", form(`data.n >= 0`, "5"))
	m := replayPath.FindStringSubmatch(loc)
	if status != http.StatusSeeOther || m == nil {
		t.Fatalf("start: %d to %q", status, loc)
	}
	id := m[1]
	var replay string
	kafkatest.WaitFor(t, 60*time.Second, "the replay at 100 %", func() bool {
		_, _, replay = c.do("GET", loc, nil)
		return strings.Contains(replay, `id="replay-percent">100 %`) && strings.Contains(replay, ">done<")
	})
	if !strings.Contains(replay, fmt.Sprintf(">%d of %d</span>", n, n)) || !strings.Contains(replay, "limit 5/s") || strings.Contains(replay, "data-refresh") {
		t.Errorf("the finished replay's page:\n%s", tailOf(replay, 3000))
	}
	kafkatest.WaitFor(t, 30*time.Second, "the receiver gets the 6 events again", func() bool {
		events, entities := rc.acceptedCount()
		return events >= n && entities == n
	})
	var listed struct {
		Replays []struct{ ID, State string } `json:"replays"`
	}
	getJSON(t, stack.AdminURL, token, "/v1/dlq/replays", &listed)
	if len(listed.Replays) != 1 || listed.Replays[0].ID != id || listed.Replays[0].State != "done" {
		t.Errorf("the API lists %+v, want %s done", listed.Replays, id)
	}

	// A slower replay of more dead letters: stop it, then resume it.
	rc.accept.Store(false)
	const more = 20
	for i := range more {
		if status, out := postEvent(t, stack.IngestURL, fmt.Sprintf(`{"type":"order.updated","entity":{"type":"order","id":"S%d"},"data":{"n":%d}}`, i, 100+i), nil); status != http.StatusAccepted {
			t.Fatalf("POST order: %d %v", status, out)
		}
	}
	kafkatest.WaitFor(t, 90*time.Second, "26 dead letters", func() bool {
		_, _, page = c.do("GET", "/console/dlq", nil)
		return strings.Contains(page, fmt.Sprintf(">%d dead letters<", n+more))
	})
	rc.accept.Store(true)
	status, loc, _ = c.do("POST", "/console/dlq/replays", form(`data.n >= 100`, "2"))
	if m = replayPath.FindStringSubmatch(loc); status != http.StatusSeeOther || m == nil {
		t.Fatalf("start the slow replay: %d to %q", status, loc)
	}
	slow := m[1]
	_, _, replay = c.do("GET", loc, nil)
	if !strings.Contains(replay, `data-refresh="5"`) || !strings.Contains(replay, "/"+slow+"/stop") || !strings.Contains(replay, fmt.Sprintf(" of %d</span>", more)) {
		t.Fatalf("the running replay's page:\n%s", tailOf(replay, 3000))
	}
	if status, _, _ := c.do("POST", "/console/dlq/replays/"+slow+"/stop", url.Values{}); status != http.StatusForbidden {
		t.Errorf("stop without the CSRF token: %d, want 403", status)
	}
	if status, _, _ := c.do("POST", "/console/dlq/replays/"+slow+"/stop", url.Values{"csrf": {csrf}}); status != http.StatusSeeOther {
		t.Fatalf("stop: %d", status)
	}
	_, _, replay = c.do("GET", loc, nil)
	if !strings.Contains(replay, ">stopped<") || !strings.Contains(replay, "/"+slow+"/resume") || strings.Contains(replay, "/"+slow+"/stop") ||
		strings.Contains(replay, `id="replay-percent">100 %`) {
		t.Fatalf("the stopped replay's page:\n%s", tailOf(replay, 3000))
	}
	if status, _, _ := c.do("POST", "/console/dlq/replays/"+slow+"/resume", url.Values{"csrf": {csrf}}); status != http.StatusSeeOther {
		t.Fatalf("resume: %d", status)
	}
	kafkatest.WaitFor(t, 60*time.Second, "the resumed replay at 100 %", func() bool {
		_, _, replay = c.do("GET", loc, nil)
		return strings.Contains(replay, `id="replay-percent">100 %`) && strings.Contains(replay, ">done<")
	})
	kafkatest.WaitFor(t, 30*time.Second, "the receiver gets the 20 events", func() bool {
		events, entities := rc.acceptedCount()
		return events >= n+more && entities == n+more
	})
	if _, _, list := c.do("GET", "/console/dlq/replays", nil); !strings.Contains(list, ">"+id+"</a>") || !strings.Contains(list, ">"+slow+"</a>") {
		t.Errorf("the replays list lacks %s or %s:\n%s", id, slow, tailOf(list, 2000))
	}
}
