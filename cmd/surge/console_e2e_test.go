package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/console"
	"github.com/surgehq/surge/pkg/kafkatest"
)

// consoleClient is a browser's view of the console: its session cookie,
// sent by hand (a Secure cookie over loopback http, as browsers treat
// loopback as secure), and no redirects followed.
type consoleClient struct {
	t      *testing.T
	base   string
	cookie string
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends method path with form values and returns the status, the
// Location and the body.
func (c *consoleClient) do(method, path string, form url.Values) (int, string, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: console.CookieName, Value: c.cookie})
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.Name == console.CookieName {
			if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" {
				c.t.Errorf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path=/console/", ck)
			}
			c.cookie = ck.Value
		}
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the page at path.
func (c *consoleClient) csrf(path string) string {
	c.t.Helper()
	status, _, body := c.do("GET", path, nil)
	m := csrfInput.FindStringSubmatch(body)
	if status != 200 || m == nil {
		c.t.Fatalf("GET %s: %d, no CSRF token in %s", path, status, tailOf(body, 300))
	}
	return html.UnescapeString(m[1])
}

// TestConsoleThroughKafka is issue 15's console on surge dev, as a browser
// uses it: every page refuses a missing or wrong session and every action
// a missing CSRF token; logging in takes the admin token and sets the
// session cookie; a filter that does not compile is shown with its
// position, a good subscription shows its secret once and never again;
// the detail page shows the parked key and a receiver's <script> answer
// as text; pause, resume and delete (after confirmation) change the
// subscription through the admin API.
func TestConsoleThroughKafka(t *testing.T) {
	stack, dir := startTestDev(t, zap.ErrorLevel)
	token := adminToken(t, dir)
	const failBody = `<script>alert("pwned")</script>`
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Entity struct{ ID string } `json:"entity"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		if b.Entity.ID == "P" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, failBody)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)

	// Refused without a session, or with a made-up one.
	routes := []struct{ method, path string }{
		{"GET", "/console/"}, {"GET", "/console/subscriptions"}, {"GET", "/console/subscriptions/sub_x"},
		{"GET", "/console/subscriptions/sub_x/delete"}, {"POST", "/console/subscriptions"},
		{"POST", "/console/subscriptions/sub_x/pause"}, {"POST", "/console/subscriptions/sub_x/resume"},
		{"POST", "/console/subscriptions/sub_x/delete"}, {"POST", "/console/subscriptions/sub_x/rotate-secret"},
		{"POST", "/console/logout"}, {"GET", "/console/nope"},
	}
	for _, cookie := range []string{"", "forged-session"} {
		anon := &consoleClient{t: t, base: stack.AdminURL, cookie: cookie}
		for _, r := range routes {
			status, loc, body := anon.do(r.method, r.path, url.Values{"csrf": {"x"}})
			switch {
			case r.method == "GET" && (status != http.StatusSeeOther || loc != "/console/login"):
				t.Errorf("%s %s with cookie %q: %d to %q, want a 303 to the login page", r.method, r.path, cookie, status, loc)
			case r.method == "POST" && status != http.StatusUnauthorized:
				t.Errorf("%s %s with cookie %q: %d, want 401", r.method, r.path, cookie, status)
			case strings.Contains(body, "csrf"):
				t.Errorf("%s %s with cookie %q rendered a form: %s", r.method, r.path, cookie, tailOf(body, 200))
			}
		}
	}

	c := &consoleClient{t: t, base: stack.AdminURL}
	if status, _, body := c.do("GET", "/console/login", nil); status != 200 || !strings.Contains(body, `name="token"`) {
		t.Fatalf("login page: %d %s", status, tailOf(body, 200))
	}
	if status, _, body := c.do("POST", "/console/login", url.Values{"token": {"wrong-token-0123456789"}}); status != http.StatusUnauthorized || c.cookie != "" ||
		!strings.Contains(body, "not the admin token") {
		t.Fatalf("login with a wrong token: %d, cookie %q", status, c.cookie)
	}
	status, loc, _ := c.do("POST", "/console/login", url.Values{"token": {token}})
	if status != http.StatusSeeOther || loc != "/console/" || c.cookie == "" || strings.Contains(loc, token) {
		t.Fatalf("login: %d to %q, cookie %q", status, loc, c.cookie)
	}

	csrf := c.csrf("/console/subscriptions")
	create := func(filter, csrf string) (int, string) {
		status, _, body := c.do("POST", "/console/subscriptions", url.Values{"csrf": {csrf}, "url": {rc.URL + "/hook"},
			"event_types": {"order.*"}, "filter": {filter}, "retry_schedule": {"10m"}})
		return status, body
	}
	if status, _ := create("", ""); status != http.StatusForbidden {
		t.Errorf("create without the CSRF token: %d, want 403", status)
	}
	if status, _ := create("", "forged"+csrf); status != http.StatusForbidden {
		t.Errorf("create with a wrong CSRF token: %d, want 403", status)
	}
	status, body := create(`type == "order.placed" &&`, csrf)
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, `id="filter-error"`) || !regexp.MustCompile(`line 1, column \d+`).MatchString(body) ||
		!strings.Contains(body, "^") || !strings.Contains(body, html.EscapeString(`type == "order.placed" &&`)) {
		t.Fatalf("create with a bad filter: %d %s", status, tailOf(body, 1500))
	}
	var listed struct {
		Subscriptions []any `json:"subscriptions"`
	}
	if getJSON(t, stack.AdminURL, token, "/v1/subscriptions", &listed); len(listed.Subscriptions) != 0 {
		t.Fatalf("a refused create stored %d subscriptions", len(listed.Subscriptions))
	}
	status, body = create(`entity.type == "order"`, csrf)
	secret := regexp.MustCompile(`whsec_[A-Za-z0-9+/]{43}=`).FindString(html.UnescapeString(body))
	sub := regexp.MustCompile(`sub_[A-Za-z0-9]+`).FindString(body)
	if status != http.StatusCreated || secret == "" || sub == "" {
		t.Fatalf("create: %d %s", status, tailOf(body, 800))
	}

	for _, n := range []int{1, 2} {
		if status, out := postEvent(t, stack.IngestURL, fmt.Sprintf(`{"type":"order.updated","entity":{"type":"order","id":"P"},"data":{"n":%d}}`, n), nil); status != http.StatusAccepted {
			t.Fatalf("POST order: %d %v", status, out)
		}
	}
	var detail string
	kafkatest.WaitFor(t, 60*time.Second, "order:P parked on the detail page", func() bool {
		_, _, detail = c.do("GET", "/console/subscriptions/"+sub, nil)
		return strings.Contains(detail, `<td><code>order:P</code></td>`) && strings.Contains(detail, "alert")
	})
	var parked struct {
		ParkedKeys    int `json:"parked_keys"`
		Deliveries    int `json:"deliveries"`
		Subscriptions []struct {
			Subscription string `json:"subscription"`
			ParkedKeys   int    `json:"parked_keys"`
			Deliveries   int    `json:"deliveries"`
		} `json:"subscriptions"`
	}
	kafkatest.WaitFor(t, 30*time.Second, "GET /v1/lanes counts order:P and the delivery behind it", func() bool {
		getJSON(t, stack.AdminURL, token, "/v1/lanes", &parked)
		return parked.ParkedKeys == 1 && parked.Deliveries == 2 && len(parked.Subscriptions) == 1 && parked.Subscriptions[0].Subscription == sub
	})
	if _, _, over := c.do("GET", "/console/", nil); !regexp.MustCompile(`Parked entity keys: <span class="status warn">1</span>, with 2 deliveries`).MatchString(over) {
		t.Errorf("the overview does not count the parked key:\n%s", tailOf(over, 3000))
	}
	if strings.Contains(detail, failBody) || !strings.Contains(detail, html.EscapeString(failBody)) {
		t.Errorf("the receiver's <script> answer is not shown escaped:\n%s", tailOf(detail, 3000))
	}
	for _, path := range []string{"/console/", "/console/subscriptions", "/console/subscriptions/" + sub, "/console/subscriptions/" + sub + "/delete"} {
		status, _, body := c.do("GET", path, nil)
		if status != 200 || strings.Contains(html.UnescapeString(body), secret) {
			t.Errorf("GET %s: %d; shows the secret: %v", path, status, strings.Contains(body, secret))
		}
	}
	if _, _, over := c.do("GET", "/console/", nil); !strings.Contains(over, "surge-dispatcher") || !strings.Contains(over, "commerce.deliveries.dlq") {
		t.Errorf("overview lacks the stages or the DLQs:\n%s", tailOf(over, 2000))
	}

	paused := func() bool {
		var s struct {
			Paused bool `json:"paused"`
		}
		getJSON(t, stack.AdminURL, token, "/v1/subscriptions/"+sub, &s)
		return s.Paused
	}
	if status, _, _ := c.do("POST", "/console/subscriptions/"+sub+"/pause", url.Values{}); status != http.StatusForbidden || paused() {
		t.Errorf("pause without the CSRF token: %d, paused %v", status, paused())
	}
	if status, _, _ := c.do("POST", "/console/subscriptions/"+sub+"/pause", url.Values{"csrf": {csrf}}); status != http.StatusSeeOther || !paused() {
		t.Errorf("pause: %d, paused %v", status, paused())
	}
	if status, _, _ := c.do("POST", "/console/subscriptions/"+sub+"/resume", url.Values{"csrf": {csrf}}); status != http.StatusSeeOther || paused() {
		t.Errorf("resume: %d, paused %v", status, paused())
	}
	if status, _, body := c.do("POST", "/console/subscriptions/"+sub+"/rotate-secret", url.Values{"csrf": {csrf}}); status != 200 ||
		!regexp.MustCompile(`whsec_[A-Za-z0-9+/]{43}=`).MatchString(html.UnescapeString(body)) || strings.Contains(html.UnescapeString(body), secret) {
		t.Errorf("rotate: %d, a new secret shown once and not the old one", status)
	}
	// Deleting needs the confirmation.
	if status, loc, _ := c.do("POST", "/console/subscriptions/"+sub+"/delete", url.Values{"csrf": {csrf}}); status != http.StatusSeeOther || !strings.HasSuffix(loc, "/delete") {
		t.Errorf("delete without confirming: %d to %q, want the confirmation page", status, loc)
	}
	if getJSON(t, stack.AdminURL, token, "/v1/subscriptions/"+sub, nil) != 200 {
		t.Fatal("an unconfirmed delete deleted")
	}
	confirm := c.csrf("/console/subscriptions/" + sub + "/delete")
	if status, _, _ := c.do("POST", "/console/subscriptions/"+sub+"/delete", url.Values{"csrf": {confirm}, "confirm": {sub}}); status != http.StatusSeeOther {
		t.Errorf("delete: %d", status)
	}
	if got := getJSON(t, stack.AdminURL, token, "/v1/subscriptions/"+sub, nil); got != http.StatusNotFound {
		t.Errorf("after delete: GET %d, want 404", got)
	}

	// A v1a subscription made on the form: its public key is shown, its
	// signing key never; the page names the scheme and lists the key.
	status, _, body = c.do("POST", "/console/subscriptions", url.Values{"csrf": {csrf}, "url": {rc.URL + "/v1a"},
		"event_types": {"product.*"}, "signature_scheme": {"v1a"}})
	publicKey := regexp.MustCompile(`whpk_[A-Za-z0-9+/]{43}=`).FindString(html.UnescapeString(body))
	v1a := regexp.MustCompile(`sub_[A-Za-z0-9]+`).FindString(body)
	if status != http.StatusCreated || publicKey == "" || v1a == "" || strings.Contains(body, "whsk_") {
		t.Fatalf("create v1a: %d %s", status, tailOf(body, 800))
	}
	if _, _, page := c.do("GET", "/console/subscriptions/"+v1a, nil); !strings.Contains(page, "v1a (Ed25519") ||
		!strings.Contains(html.UnescapeString(page), publicKey) || strings.Contains(page, "whsk_") {
		t.Errorf("the v1a subscription's page:\n%s", tailOf(page, 2000))
	}
	// An SQS subscription (made through the API) is listed by its queue.
	const queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo"
	adminCall(t, stack.AdminURL, token, "POST", "/v1/subscriptions",
		`{"event_types":["product.*"],"destination":{"sqs":{"queue_url":"`+queue+`","region":"eu-west-1"}}}`)
	if _, _, list := c.do("GET", "/console/subscriptions", nil); !strings.Contains(list, "<code>"+queue+"</code>") {
		t.Errorf("the list does not name the SQS subscription's queue:\n%s", tailOf(list, 2000))
	}

	session := c.cookie
	if status, loc, _ := c.do("POST", "/console/logout", url.Values{"csrf": {csrf}}); status != http.StatusSeeOther || loc != "/console/login" || c.cookie != "" {
		t.Errorf("logout: %d to %q, cookie left %q", status, loc, c.cookie)
	}
	old := &consoleClient{t: t, base: stack.AdminURL, cookie: session}
	if status, loc, _ := old.do("GET", "/console/", nil); status != http.StatusSeeOther || loc != "/console/login" {
		t.Errorf("the logged-out session still opens the overview: %d to %q", status, loc)
	}
}
