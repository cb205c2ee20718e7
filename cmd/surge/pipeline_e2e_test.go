package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/webhook"
)

// getJSON sends an authenticated GET to the admin API and decodes a 200
// answer into out; it returns the status.
func getJSON(t testing.TB, adminURL, token, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, adminURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: decoding: %v", path, err)
		}
	}
	return resp.StatusCode
}

// pipelineAnswers are the shapes the test reads of the admin API's
// pipeline routes (what a client sees, not pkg/inspect's types).
type (
	attemptsAnswer struct {
		Attempts []struct {
			EntityKey       string            `json:"entity_key"`
			Status          int               `json:"status"`
			Outcome         string            `json:"outcome"`
			ResponseBody    string            `json:"response_body"`
			ResponseHeaders map[string]string `json:"response_headers"`
			NextAttemptAt   *time.Time        `json:"next_attempt_at"`
		} `json:"attempts"`
	}
	lanesAnswer struct {
		ParkedKeys int `json:"parked_keys"`
		Deliveries int `json:"deliveries"`
		Lanes      []struct {
			EntityKey     string     `json:"entity_key"`
			ParkedSince   *time.Time `json:"parked_since"`
			NextAttemptAt *time.Time `json:"next_attempt_at"`
			Waiting       int        `json:"waiting"`
			Head          struct {
				Attempts   int `json:"attempts"`
				LastStatus int `json:"last_status"`
			} `json:"head"`
		} `json:"lanes"`
	}
	stageLagAnswer struct {
		Stages []struct {
			Stage      string `json:"stage"`
			Topic      string `json:"topic"`
			Group      string `json:"group"`
			Lag        int64  `json:"lag"`
			Partitions []struct {
				Partition int32 `json:"partition"`
				Lag       int64 `json:"lag"`
			} `json:"partitions"`
		} `json:"stages"`
	}
)

// TestPipelineRoutesThroughKafka is issue 15's admin routes on surge dev:
// a receiver answers 503 (with an HTML body) for order:P and 200 for
// order:OK; the subscription's attempts show both, the 503's body and its
// next attempt; its lanes show order:P parked, with its next attempt and
// the two later deliveries of the key waiting behind it, and not order:OK;
// each stage's lag is listed per partition and drains to 0 upstream of
// the dispatcher; after five failures in a row the subscription's backlog
// says its breaker is open. Every route refuses a missing or wrong token.
func TestPipelineRoutesThroughKafka(t *testing.T) {
	stack, dir := startTestDev(t, zap.ErrorLevel)
	token := adminToken(t, dir)

	const failBody = `<script>alert("x")</script> down`
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Entity struct{ ID string } `json:"entity"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		if strings.HasPrefix(b.Entity.ID, "P") {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, failBody)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	sub := adminCall(t, stack.AdminURL, token, "POST", "/v1/subscriptions",
		fmt.Sprintf(`{"url":%q,"event_types":["order.*"],"retry_schedule":["10m"]}`, rc.URL+"/hook"))["id"].(string)

	post := func(id string, n int) {
		status, body := postEvent(t, stack.IngestURL, fmt.Sprintf(`{"type":"order.updated","entity":{"type":"order","id":%q},"data":{"n":%d}}`, id, n), nil)
		if status != http.StatusAccepted {
			t.Fatalf("POST order %s: %d %v", id, status, body)
		}
	}
	post("P", 1)
	post("OK", 1)
	post("P", 2)
	post("P", 3)

	var lanes lanesAnswer
	kafkatest.WaitFor(t, 60*time.Second, "order:P parked with two deliveries behind it", func() bool {
		lanes = lanesAnswer{}
		return getJSON(t, stack.AdminURL, token, "/v1/subscriptions/"+sub+"/lanes", &lanes) == 200 &&
			len(lanes.Lanes) == 1 && lanes.Lanes[0].Waiting == 2
	})
	l := lanes.Lanes[0]
	if l.EntityKey != "order:P" || lanes.ParkedKeys != 1 || lanes.Deliveries != 3 || l.Head.LastStatus != 503 || l.Head.Attempts != 1 {
		t.Errorf("lanes: %+v", lanes)
	}
	// The schedule's 10m, varied by webhook.Jitter either way.
	lo, hi := time.Duration(float64(10*time.Minute)*(1-webhook.Jitter))-time.Second, time.Duration(float64(10*time.Minute)*(1+webhook.Jitter))+time.Second
	if l.ParkedSince == nil || l.NextAttemptAt == nil || l.NextAttemptAt.Sub(*l.ParkedSince) < lo || l.NextAttemptAt.Sub(*l.ParkedSince) > hi {
		t.Errorf("lane order:P: parked since %v, next attempt %v; want the next 10m ±%.0f%% after the failure", l.ParkedSince, l.NextAttemptAt, 100*webhook.Jitter)
	}

	var attempts attemptsAnswer
	kafkatest.WaitFor(t, 30*time.Second, "the 503 and the 200 in the attempts", func() bool {
		attempts = attemptsAnswer{}
		return getJSON(t, stack.AdminURL, token, "/v1/subscriptions/"+sub+"/attempts", &attempts) == 200 && len(attempts.Attempts) >= 2
	})
	var saw503, saw200 bool
	for _, a := range attempts.Attempts {
		switch {
		case a.EntityKey == "order:P" && a.Status == 503:
			saw503 = true
			if a.Outcome != "retry" || a.ResponseBody != failBody || a.NextAttemptAt == nil || !strings.HasPrefix(a.ResponseHeaders["content-type"], "text/html") {
				t.Errorf("the 503 attempt: %+v", a)
			}
		case a.EntityKey == "order:OK" && a.Status == 200:
			saw200 = a.Outcome == "delivered"
		}
	}
	if !saw503 || !saw200 {
		t.Errorf("attempts: want order:P's 503 and order:OK's delivered 200, got %+v", attempts.Attempts)
	}
	// Five more keys failing (order:OK's success came between): five
	// failures in a row open the endpoint's breaker, which the dispatcher
	// reports with the backlog.
	for i := 1; i <= 5; i++ {
		post(fmt.Sprintf("P%d", i), 1)
	}
	kafkatest.WaitFor(t, 30*time.Second, "the breaker reported open", func() bool {
		var s struct {
			Backlog struct {
				Breaker string `json:"breaker"`
			} `json:"backlog"`
		}
		return getJSON(t, stack.AdminURL, token, "/v1/subscriptions/"+sub, &s) == 200 && s.Backlog.Breaker == "open"
	})
	var list struct {
		Subscriptions []struct {
			ID      string `json:"id"`
			Backlog struct {
				Breaker string `json:"breaker"`
			} `json:"backlog"`
		} `json:"subscriptions"`
	}
	if getJSON(t, stack.AdminURL, token, "/v1/subscriptions", &list); len(list.Subscriptions) != 1 || list.Subscriptions[0].Backlog.Breaker != "open" {
		t.Errorf("the list's backlog: %+v, want the breaker open", list)
	}
	// The console's overview names the endpoint.
	c := &consoleClient{t: t, base: stack.AdminURL}
	c.do("POST", "/console/login", url.Values{"token": {token}})
	if _, _, over := c.do("GET", "/console/", nil); !strings.Contains(over, `<ul id="breaker-open"><li><a href="/console/subscriptions/`+sub+`">`) {
		t.Errorf("the overview does not list %s with its breaker open:\n%s", sub, tailOf(over, 1500))
	}

	var limited attemptsAnswer
	if getJSON(t, stack.AdminURL, token, "/v1/subscriptions/"+sub+"/attempts?limit=1", &limited); len(limited.Attempts) != 1 {
		t.Errorf("attempts?limit=1 gave %d", len(limited.Attempts))
	}

	var lag stageLagAnswer
	kafkatest.WaitFor(t, 30*time.Second, "enrich and fanout drained", func() bool {
		lag = stageLagAnswer{}
		if getJSON(t, stack.AdminURL, token, "/v1/stages/lag", &lag) != 200 {
			return false
		}
		drained := map[string]bool{}
		for _, s := range lag.Stages {
			if len(s.Partitions) == 0 {
				t.Fatalf("stage %s on %s lists no partitions", s.Stage, s.Topic)
			}
			if s.Stage != "dispatcher" {
				drained[s.Stage] = s.Lag == 0
			}
		}
		return drained["enrich"] && drained["fanout"]
	})
	var topicsSeen []string
	for _, s := range lag.Stages {
		topicsSeen = append(topicsSeen, s.Stage+"@"+s.Topic+"/"+s.Group)
	}
	if want := "enrich@commerce.events.raw/surge-enrich fanout@commerce.events.enriched/surge-fanout dispatcher@commerce.deliveries/surge-dispatcher dispatcher@commerce.deliveries.retry/surge-dispatcher"; strings.Join(topicsSeen, " ") != want {
		t.Errorf("stages\n got %s\nwant %s", strings.Join(topicsSeen, " "), want)
	}

	for _, path := range []string{"/v1/stages/lag", "/v1/subscriptions/" + sub + "/attempts", "/v1/subscriptions/" + sub + "/lanes"} {
		for _, tok := range []string{"", "wrong-token-0123456789"} {
			if got := getJSON(t, stack.AdminURL, tok, path, nil); got != http.StatusUnauthorized {
				t.Errorf("GET %s with token %q: %d, want 401", path, tok, got)
			}
		}
	}
	if got := getJSON(t, stack.AdminURL, token, "/v1/subscriptions/sub_nope/lanes", nil); got != http.StatusNotFound {
		t.Errorf("lanes of an unknown subscription: %d, want 404", got)
	}
}
