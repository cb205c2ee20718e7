package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/inspect"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
)

// TestConsoleTopicsStatsAndPaging is issue 15's pages 1, 2 and 6 on surge
// dev: a receiver fails a known share of the deliveries, and
// /v1/attempt-stats gives that success rate and the percentiles of the
// attempts' own durations; the overview counts events accepted and
// delivered in the last minute and lists the failing endpoint; the topics
// page has a table for every commerce.* topic with its partitions and the
// dispatcher's lag; and the list pages 151 subscriptions 100 at a time.
func TestConsoleTopicsStatsAndPaging(t *testing.T) {
	stack, dir := startTestDev(t, zap.ErrorLevel)
	token := adminToken(t, dir)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Entity struct{ ID string } `json:"entity"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		if strings.HasPrefix(b.Entity.ID, "fail") {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	created := adminCall(t, stack.AdminURL, token, "POST", "/v1/subscriptions",
		`{"url":"`+rc.URL+`/hook","event_types":["order.*"],"retry_schedule":["10m"]}`)
	sub, _ := created["id"].(string)
	if sub == "" {
		t.Fatalf("create: %v", created)
	}
	// 6 delivered, 2 failed (each parked for 10 minutes: one attempt each).
	for i, id := range []string{"ok-1", "ok-2", "fail-1", "ok-3", "ok-4", "fail-2", "ok-5", "ok-6"} {
		if status, out := postEvent(t, stack.IngestURL, fmt.Sprintf(`{"type":"order.updated","entity":{"type":"order","id":%q},"data":{"n":%d}}`, id, i), nil); status != http.StatusAccepted {
			t.Fatalf("POST %s: %d %v", id, status, out)
		}
	}
	var stats inspect.AttemptStatsReport
	var mine inspect.SubscriptionAttemptStats
	kafkatest.WaitFor(t, 60*time.Second, "8 attempts in the stats", func() bool {
		if getJSON(t, stack.AdminURL, token, "/v1/attempt-stats?window=5m", &stats) != 200 {
			return false
		}
		for _, s := range stats.Subscriptions {
			if s.Subscription == sub {
				mine = s
			}
		}
		return mine.Attempts == 8
	})
	if mine.Delivered != 6 || mine.Failed != 2 || mine.SuccessRate == nil || math.Abs(*mine.SuccessRate-0.75) > 1e-9 {
		t.Errorf("stats %+v: want 6 delivered, 2 failed, success rate 0.75", mine)
	}
	var attempts struct {
		Attempts []inspect.Attempt `json:"attempts"`
	}
	getJSON(t, stack.AdminURL, token, "/v1/subscriptions/"+sub+"/attempts", &attempts)
	var durations []float64
	for _, a := range attempts.Attempts {
		durations = append(durations, a.DurationMS)
	}
	slices.Sort(durations)
	if len(durations) != 8 || mine.P50MS == nil || mine.P99MS == nil ||
		*mine.P50MS != inspect.Percentile(durations, 50) || *mine.P99MS != inspect.Percentile(durations, 99) || *mine.P99MS != durations[7] {
		t.Errorf("p50 %v p99 %v, want the attempts' own %v", deref(mine.P50MS), deref(mine.P99MS), durations)
	}
	if f := mine.LastFailure; f == nil || f.Status != http.StatusServiceUnavailable {
		t.Errorf("last failure %+v, want the 503", f)
	}
	if stats.Totals.Delivered < 6 || stats.PerMinute[0].Delivered < 6 {
		t.Errorf("totals %+v, last minute %+v", stats.Totals, stats.PerMinute[0])
	}
	if status := getJSON(t, stack.AdminURL, token, "/v1/attempt-stats?window=7m", nil); status != http.StatusBadRequest {
		t.Errorf("window=7m: %d, want 400", status)
	}
	var raw inspect.TopicRecords
	if getJSON(t, stack.AdminURL, token, "/v1/topics/commerce.events.raw/records?window=1m", &raw); raw.Records < 8 || raw.Offsets < raw.Records {
		t.Errorf("commerce.events.raw in the last minute: %+v, want at least the 8 posted", raw)
	}

	c := &consoleClient{t: t, base: stack.AdminURL}
	if status, _, _ := c.do("POST", "/console/login", url.Values{"token": {token}}); status != http.StatusSeeOther {
		t.Fatalf("login: %d", status)
	}
	if status, loc, _ := (&consoleClient{t: t, base: stack.AdminURL}).do("GET", "/console/topics", nil); status != http.StatusSeeOther || loc != "/console/login" {
		t.Errorf("the topics page without a session: %d to %q", status, loc)
	}

	// The overview: the last minute's figures and the failing endpoint.
	_, _, over := c.do("GET", "/console/", nil)
	figure := func(id string) int {
		m := regexp.MustCompile(`<td id="` + id + `"><strong>(?:≈ )?(\d+)</strong> / min`).FindStringSubmatch(over)
		if m == nil {
			t.Errorf("the overview has no %s figure:\n%s", id, tailOf(over, 3000))
			return -1
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	if a, d := figure("accepted"), figure("delivered"); a < 8 || d < 6 {
		t.Errorf("overview: %d accepted, %d delivered per minute; want at least 8 and 6", a, d)
	}
	if figure("dead-lettered") != 0 {
		t.Errorf("overview: dead letters where there are none")
	}
	if !regexp.MustCompile(`(?s)<table id="failing">.*` + sub + `.*75\.0 %.*503`).MatchString(over) {
		t.Errorf("the overview does not list %s failing at 75.0 %% with its 503:\n%s", sub, tailOf(over, 3000))
	}

	// The topics page: a table per commerce.* topic, and the dispatcher's
	// lag on commerce.deliveries per partition.
	status, _, page := c.do("GET", "/console/topics", nil)
	if status != 200 || !strings.Contains(page, `aria-current="page">Topics</a>`) {
		t.Fatalf("topics page: %d %s", status, tailOf(page, 500))
	}
	var rep inspect.TopicReport
	getJSON(t, stack.AdminURL, token, "/v1/topics", &rep)
	for _, l := range topics.Layouts(topics.DefaultDedupWindow) {
		var d *inspect.TopicDetail
		for i := range rep.Topics {
			if rep.Topics[i].Name == l.Name {
				d = &rep.Topics[i]
			}
		}
		if d == nil || !d.Exists || d.Partitions == 0 || len(d.PartitionList) != d.Partitions {
			t.Errorf("GET /v1/topics: %s is %+v", l.Name, d)
			continue
		}
		section := regexp.MustCompile(`(?s)<h2 id="topic-` + regexp.QuoteMeta(l.Name) + `">.*?</section>`).FindString(page)
		want := fmt.Sprintf("%d partition", d.Partitions)
		rows := strings.Count(section, "<tr>") - 1 // the head's
		if section == "" || !strings.Contains(section, want) || rows != d.Partitions {
			t.Errorf("topics page: %s has %d partition rows, want %d (%q):\n%s", l.Name, rows, d.Partitions, want, tailOf(section, 1500))
		}
	}
	deliveries := regexp.MustCompile(`(?s)<h2 id="topic-commerce.deliveries">.*?</section>`).FindString(page)
	if !strings.Contains(deliveries, "Lag <code>surge-dispatcher</code>") || !strings.Contains(deliveries, "group <code>surge-dispatcher</code> (its stage)") {
		t.Errorf("commerce.deliveries shows no dispatcher lag:\n%s", deliveries)
	}

	// The list: stats columns, then 151 subscriptions paged 100 at a time.
	_, _, list := c.do("GET", "/console/subscriptions", nil)
	if !regexp.MustCompile(`(?s)` + sub + `.*?<td class="rate"><span class="status warn">75\.0 %</span> <span class="muted">of 8</span></td>`).MatchString(list) {
		t.Errorf("the list does not show %s at 75.0 %% of 8:\n%s", sub, tailOf(list, 3000))
	}
	for i := range 150 {
		adminCall(t, stack.AdminURL, token, "POST", "/v1/subscriptions", fmt.Sprintf(`{"url":"%s/%d","event_types":["product.*"]}`, rc.URL, i))
	}
	row := regexp.MustCompile(`<td><a href="/console/subscriptions/sub_[A-Za-z0-9]+">`)
	_, _, p1 := c.do("GET", "/console/subscriptions", nil)
	_, _, p2 := c.do("GET", "/console/subscriptions?page=2", nil)
	if n := len(row.FindAllString(p1, -1)); n != 100 || !strings.Contains(p1, "1–100 of 151") || !strings.Contains(p1, `href="/console/subscriptions?page=2"`) {
		t.Errorf("page 1: %d rows, count %q", n, regexp.MustCompile(`<p id="list-count">[^<]*`).FindString(p1))
	}
	if n := len(row.FindAllString(p2, -1)); n != 51 || !strings.Contains(p2, "101–151 of 151") || !strings.Contains(p2, `href="/console/subscriptions?page=1"`) {
		t.Errorf("page 2: %d rows, count %q", n, regexp.MustCompile(`<p id="list-count">[^<]*`).FindString(p2))
	}
	seen := map[string]bool{}
	for _, p := range []string{p1, p2} {
		for _, m := range row.FindAllString(p, -1) {
			if seen[m] {
				t.Errorf("%s on both pages", m)
			}
			seen[m] = true
		}
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}
