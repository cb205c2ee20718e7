package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/console"
)

const token = "console-test-token-0123456789"

// fakeAPI answers the admin routes the subscriptions page calls, with a
// subscription whose fields hold HTML, and records what it was sent.
type fakeAPI struct {
	mu   sync.Mutex
	auth []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/v1/subscriptions":
		io.WriteString(w, `{"subscriptions":[{"id":"sub_1","url":"https://x.example/<b>hi</b>","event_types":["<img src=x onerror=alert(1)>"],"enabled":true,"paused":false,"filter":"\"<script>\" in data"}]}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"code":"not_found","message":"no <route>"}}`)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func setup(t *testing.T) (*httptest.Server, *fakeAPI, *clock) {
	t.Helper()
	api := &fakeAPI{}
	clk := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	c, err := console.New(console.Config{Token: token, API: api, SessionTTL: time.Hour, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, api, clk
}

var client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t *testing.T, srv *httptest.Server, method, path, cookie string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: console.CookieName, Value: cookie})
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func login(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	resp, _ := do(t, srv, "POST", "/console/login", "", url.Values{"token": {token}})
	for _, ck := range resp.Cookies() {
		if ck.Name == console.CookieName {
			return ck.Value
		}
	}
	t.Fatalf("login set no session cookie: %d", resp.StatusCode)
	return ""
}

func TestConsoleEscapesWhatTheAPIAnswers(t *testing.T) {
	srv, api, _ := setup(t)
	resp, body := do(t, srv, "GET", "/console/subscriptions", login(t, srv), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("subscriptions: %d %s", resp.StatusCode, body)
	}
	for _, raw := range []string{"<b>hi</b>", "<img src=x", "<script>"} {
		if strings.Contains(body, raw) {
			t.Errorf("the page holds %q unescaped", raw)
		}
	}
	for _, escaped := range []string{"&lt;b&gt;hi&lt;/b&gt;", "&lt;img src=x onerror=alert(1)&gt;", "&lt;script&gt;"} {
		if !strings.Contains(body, escaped) {
			t.Errorf("the page lacks %q", escaped)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	for _, a := range api.auth {
		if a != "Bearer "+token {
			t.Errorf("the console called the API with Authorization %q", a)
		}
	}
}

func TestConsoleSessionEndsAfterItsTTL(t *testing.T) {
	srv, _, clk := setup(t)
	cookie := login(t, srv)
	if resp, _ := do(t, srv, "GET", "/console/subscriptions", cookie, nil); resp.StatusCode != 200 {
		t.Fatalf("a fresh session: %d", resp.StatusCode)
	}
	clk.add(time.Hour)
	if resp, _ := do(t, srv, "GET", "/console/subscriptions", cookie, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
		t.Errorf("a session past its TTL: %d to %q, want the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestConsoleCSRFTokenIsBoundToTheSession(t *testing.T) {
	srv, _, _ := setup(t)
	a, b := login(t, srv), login(t, srv)
	_, page := do(t, srv, "GET", "/console/subscriptions", a, nil)
	i := strings.Index(page, `name="csrf" value="`)
	if i < 0 {
		t.Fatal("no CSRF token on the page")
	}
	csrfA := page[i+len(`name="csrf" value="`):]
	csrfA = csrfA[:strings.IndexByte(csrfA, '"')]
	if resp, _ := do(t, srv, "POST", "/console/logout", b, url.Values{"csrf": {csrfA}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("session b with session a's CSRF token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := do(t, srv, "POST", "/console/logout", a, url.Values{"csrf": {csrfA}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("session a with its own CSRF token: %d, want 303", resp.StatusCode)
	}
}

// TestEveryRouteNeedsASessionAndEveryFormItsCSRFToken walks every route
// Mount registered behind the session: without a session, or with a
// made-up one, a GET goes to the login page and a POST is a 401, and
// neither reaches the admin API; with a session, a POST without its CSRF
// token, or with another's, is a 403.
func TestEveryRouteNeedsASessionAndEveryFormItsCSRFToken(t *testing.T) {
	api := &fakeAPI{}
	c, err := console.New(console.Config{Token: token, API: api})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	routes := c.Routes()
	if len(routes) < 20 {
		t.Fatalf("Routes lists %d routes: %v", len(routes), routes)
	}
	cookie := login(t, srv)
	posts := 0
	for _, route := range routes {
		method, pattern, _ := strings.Cut(route, " ")
		path := strings.NewReplacer("{id}", "x1", "{$}", "").Replace(pattern)
		for _, forged := range []string{"", "forged-session"} {
			resp, body := do(t, srv, method, path, forged, url.Values{"csrf": {"x"}})
			switch {
			case method == "GET" && (resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login"):
				t.Errorf("%s %s with cookie %q: %d, want a 303 to the login page", method, path, forged, resp.StatusCode)
			case method == "POST" && resp.StatusCode != http.StatusUnauthorized:
				t.Errorf("%s %s with cookie %q: %d, want 401", method, path, forged, resp.StatusCode)
			case strings.Contains(body, `name="csrf"`):
				t.Errorf("%s %s with cookie %q rendered a form", method, path, forged)
			}
		}
		if method != "POST" {
			continue
		}
		posts++
		for _, csrf := range []url.Values{{}, {"csrf": {"forged"}}} {
			if resp, _ := do(t, srv, method, path, cookie, csrf); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s with a session and CSRF %v: %d, want 403", method, path, csrf, resp.StatusCode)
			}
		}
	}
	if posts < 10 {
		t.Errorf("only %d POST routes checked", posts)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.auth) != 0 {
		t.Errorf("refused requests reached the admin API %d times", len(api.auth))
	}
}
