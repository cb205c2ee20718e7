package webhooktest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Receiver is a test's webhook endpoint. It checks every request with the
// official Standard Webhooks library against the secret set for the
// request's path (never with Surge's own signer, so a bug there cannot
// hide itself), records every request it answers, and answers as the
// test scripts it (204 by default). It is safe for concurrent use.
type Receiver struct {
	// URL is the endpoint's base; a subscription's URL is URL+"/"+path.
	URL string

	mu       sync.Mutex
	secrets  map[string]string // by path
	got      []Arrival
	bad      []string       // signature (or body) failures
	attempts map[string]int // requests by webhook-id
	status   int
	gate     func(*http.Request) bool
	respond  func(Arrival) (int, http.Header)
}

// Arrival is one request the Receiver answered.
type Arrival struct {
	Path      string // the URL path without its leading "/"
	ID        string // webhook-id
	Timestamp string // webhook-timestamp
	Signature string // webhook-signature
	Header    http.Header
	Body      []byte
	At        time.Time // when it arrived
	Attempt   int       // the how-manyth request with this webhook-id
	Status    int       // what the Receiver answered

	// From the body as Surge's fanout writes it.
	EventID   string    // id
	EventTime time.Time // time
	Entity    string    // "<entity.type>:<entity.id>"
	Version   int64     // entity.version
}

// NewReceiver starts a Receiver, closed when t ends.
func NewReceiver(t testing.TB) *Receiver {
	rc := &Receiver{secrets: map[string]string{}, attempts: map[string]int{}, status: http.StatusNoContent}
	srv := httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

// SetSecret makes the Receiver check requests to path with secret.
func (rc *Receiver) SetSecret(path, secret string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secrets[path] = secret
}

// SetStatus sets the answer to requests Respond does not decide.
func (rc *Receiver) SetStatus(status int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.status = status
}

// Gate, when set, runs first on every request (a slow or hanging
// endpoint); false drops the request unanswered and unrecorded (the
// sender gave up on it).
func (rc *Receiver) Gate(f func(*http.Request) bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.gate = f
}

// Respond, when set, decides each answer: its status and extra headers.
// nil restores the status SetStatus gave.
func (rc *Receiver) Respond(f func(Arrival) (int, http.Header)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.respond = f
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	gate := rc.gate
	rc.mu.Unlock()
	if gate != nil && !gate(r) {
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	secret := rc.secrets[path]
	rc.mu.Unlock()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err == nil {
		err = wh.Verify(body, r.Header)
	}
	var b struct {
		ID     string    `json:"id"`
		Time   time.Time `json:"time"`
		Entity struct {
			Type, ID string
			Version  int64
		} `json:"entity"`
	}
	if jerr := json.Unmarshal(body, &b); jerr != nil && err == nil {
		err = jerr
	}
	a := Arrival{Path: path, ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"),
		Signature: r.Header.Get("webhook-signature"), Header: r.Header.Clone(), Body: body, At: time.Now(),
		EventID: b.ID, EventTime: b.Time, Entity: b.Entity.Type + ":" + b.Entity.ID, Version: b.Entity.Version}
	rc.mu.Lock()
	if err != nil {
		rc.bad = append(rc.bad, a.ID+": "+err.Error())
	}
	rc.attempts[a.ID]++
	a.Attempt = rc.attempts[a.ID]
	a.Status = rc.status
	respond := rc.respond
	rc.mu.Unlock()
	var header http.Header
	if respond != nil {
		a.Status, header = respond(a)
	}
	rc.mu.Lock()
	rc.got = append(rc.got, a)
	rc.mu.Unlock()
	for k, vs := range header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(a.Status)
}

// Arrivals returns every request answered so far, in the order the
// answers were decided.
func (rc *Receiver) Arrivals() []Arrival {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Arrival(nil), rc.got...)
}

// Answered returns the requests to path answered with status, in the
// order the answers were decided.
func (rc *Receiver) Answered(path string, status int) []Arrival {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []Arrival
	for _, a := range rc.got {
		if a.Path == path && a.Status == status {
			out = append(out, a)
		}
	}
	return out
}

// OfEvent returns the first request whose body's id is eventID, and
// whether one has arrived.
func (rc *Receiver) OfEvent(eventID string) (Arrival, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, a := range rc.got {
		if a.EventID == eventID {
			return a, true
		}
	}
	return Arrival{}, false
}

// Requests is the number of requests answered so far.
func (rc *Receiver) Requests() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// Distinct is the number of distinct webhook-ids that arrived so far.
func (rc *Receiver) Distinct() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.attempts)
}

// FirstArrivals is the first arrival time of every webhook-id.
func (rc *Receiver) FirstArrivals() map[string]time.Time {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]time.Time, len(rc.attempts))
	for _, a := range rc.got {
		if _, ok := out[a.ID]; !ok {
			out[a.ID] = a.At
		}
	}
	return out
}

// BadSignatures returns the requests that failed the official check (or
// whose body was not JSON), as "<webhook-id>: <reason>".
func (rc *Receiver) BadSignatures() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.bad...)
}

// CheckSignatures fails t if any request failed the official check.
func (rc *Receiver) CheckSignatures(t testing.TB) {
	t.Helper()
	if bad := rc.BadSignatures(); len(bad) > 0 {
		t.Fatalf("%d deliveries failed the official Standard Webhooks check, first: %s", len(bad), bad[0])
	}
}

// VerifiesWith reports whether the official Standard Webhooks library,
// given only secret, accepts a request with body and header. Any failure
// other than no matching signature (a timestamp or header problem, not
// the secret) fails t.
func VerifiesWith(t testing.TB, secret string, body []byte, header http.Header) bool {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	err = wh.Verify(body, header)
	if err != nil && !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Fatalf("verifying: %v", err)
	}
	return err == nil
}
