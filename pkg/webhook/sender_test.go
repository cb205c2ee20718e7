package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/webhook"
)

// receiver is an httptest server that records every request it gets and
// counts the connections it accepts.
type receiver struct {
	*httptest.Server
	accepted atomic.Int32
	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	header http.Header
	body   []byte
}

func newReceiver(t testing.TB, h http.HandlerFunc) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, recorded{req.Header.Clone(), body})
		r.mu.Unlock()
		if h != nil {
			h(w, req)
		}
	}))
	r.Listener = &countingListener{Listener: r.Listener, n: &r.accepted}
	r.Start()
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.requests...)
}

type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func newSender(t testing.TB, cfg webhook.Config) *webhook.Sender {
	t.Helper()
	s := webhook.NewSender(cfg)
	t.Cleanup(s.CloseIdleConnections)
	return s
}

func current(t testing.TB) event.Secret {
	t.Helper()
	s, err := subscription.NewSecret(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSendSignedAndVerifiedByTheOfficialLibrary(t *testing.T) {
	now := time.Now()
	recent := current(t)
	previous := current(t)
	expired := current(t)
	inGrace, gone := now.Add(time.Hour), now.Add(-time.Minute)
	previous.ExpiresAt, expired.ExpiresAt = &inGrace, &gone

	// 27 secrets, as a subscription rotated 26 times before the cap was
	// stored them (newest first, all in their grace): only the newest
	// 1+MaxPreviousSecrets sign.
	var many []event.Secret
	for i := range 27 {
		sec := current(t)
		sec.CreatedAt = now.Add(-time.Duration(i) * time.Minute)
		if i > 0 {
			sec.ExpiresAt = &inGrace
		}
		many = append(many, sec)
	}
	var manySign, manyNot []string
	for i, sec := range many {
		if i <= subscription.MaxPreviousSecrets {
			manySign = append(manySign, sec.Value)
		} else {
			manyNot = append(manyNot, sec.Value)
		}
	}

	tests := []struct {
		name    string
		secrets []event.Secret
		verify  []string // each must verify the delivery alone
		fail    []string // each must not
	}{
		{"27 stored secrets: the newest four sign", many, manySign, manyNot},
		{"one secret", []event.Secret{recent}, []string{recent.Value}, []string{previous.Value}},
		{
			"rotation: current and in-grace secrets both sign, the expired one does not",
			[]event.Secret{recent, previous, expired},
			[]string{recent.Value, previous.Value},
			[]string{expired.Value},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, nil)
			s := newSender(t, webhook.Config{AllowLoopback: true})
			body := []byte(`{"id":"2pQ4","type":"order.placed","data":{"total":"59.90"}}`)
			res := s.Send(context.Background(), webhook.Request{
				URL:     rcv.URL + "/hook",
				ID:      "msg_2pQ4",
				Body:    body,
				Secrets: tt.secrets,
				Headers: map[string]string{
					"X-Api-Key":  "k1",
					"User-Agent": "spoofed", // reserved: ignored
					"webhook-id": "spoofed",
				},
			})
			if res.Outcome != webhook.Delivered || res.Err != nil {
				t.Fatalf("Send = %v, %v; want delivered", res.Outcome, res.Err)
			}
			reqs := rcv.got()
			if len(reqs) != 1 {
				t.Fatalf("receiver got %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if !bytes.Equal(got.body, body) {
				t.Errorf("body = %q, want %q", got.body, body)
			}
			for name, want := range map[string]string{
				"Content-Type": "application/json",
				"User-Agent":   webhook.UserAgent,
				"X-Api-Key":    "k1",
				"Webhook-Id":   "msg_2pQ4",
			} {
				if v := got.header.Values(name); len(v) != 1 || v[0] != want {
					t.Errorf("%s = %q, want %q", name, v, want)
				}
			}
			if n := len(strings.Fields(got.header.Get(webhook.HeaderSignature))); n != len(tt.verify) {
				t.Errorf("%d signatures, want %d", n, len(tt.verify))
			}
			for i, secret := range tt.verify {
				if err := verify(secret, got.body, got.header); err != nil {
					t.Errorf("verifying with secret %d alone: %v", i, err)
				}
			}
			for i, secret := range tt.fail {
				if err := verify(secret, got.body, got.header); err == nil {
					t.Errorf("secret %d verified the delivery; it must not", i)
				}
			}
			tampered := bytes.Replace(got.body, []byte("59.90"), []byte("0.01"), 1)
			if err := verify(tt.verify[0], tampered, got.header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
				t.Errorf("a tampered body: err = %v, want no matching signature", err)
			}
		})
	}
}

func TestSendTimestamp(t *testing.T) {
	rcv := newReceiver(t, nil)
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := newSender(t, webhook.Config{AllowLoopback: true, Now: func() time.Time { return clock }})
	secret := current(t)
	send := func(ts time.Time) string {
		res := s.Send(context.Background(), webhook.Request{URL: rcv.URL, ID: "msg_1", Timestamp: ts, Body: []byte("{}"), Secrets: []event.Secret{secret}})
		if res.Outcome != webhook.Delivered {
			t.Fatalf("Send: %v %v", res.Outcome, res.Err)
		}
		reqs := rcv.got()
		return reqs[len(reqs)-1].header.Get(webhook.HeaderTimestamp)
	}
	if got, want := send(time.Time{}), strconv.FormatInt(clock.Unix(), 10); got != want {
		t.Errorf("zero Timestamp: webhook-timestamp = %s, want the clock's %s", got, want)
	}
	if got, want := send(clock.Add(-time.Minute)), strconv.FormatInt(clock.Unix()-60, 10); got != want {
		t.Errorf("webhook-timestamp = %s, want %s", got, want)
	}
}

func TestSendOutcomes(t *testing.T) {
	retryAt := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return retryAt.Add(-90 * time.Second) }

	var redirectTargetHits atomic.Int32
	redirectTarget := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirectTargetHits.Add(1)
	}))
	t.Cleanup(redirectTarget.Close)

	status := func(code int, header ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.WriteHeader(code)
			io.WriteString(w, `{"status":`+strconv.Itoa(code)+`}`)
		}
	}
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		want       webhook.Outcome
		wantStatus int
		retryAfter time.Duration
	}{
		{"200", status(200), webhook.Delivered, 200, 0},
		{"204", status(204), webhook.Delivered, 204, 0},
		{"301 is not followed", status(301, "Location", redirectTarget.URL), webhook.Reject, 301, 0},
		{"307 is not followed", status(307, "Location", redirectTarget.URL), webhook.Reject, 307, 0},
		{"400", status(400), webhook.Reject, 400, 0},
		{"401", status(401), webhook.Reject, 401, 0},
		{"404", status(404), webhook.Reject, 404, 0},
		{"408", status(408), webhook.Retry, 408, 0},
		{"410", status(410), webhook.Gone, 410, 0},
		{"413", status(413), webhook.Reject, 413, 0},
		{"425", status(425), webhook.Retry, 425, 0},
		{"429 Retry-After seconds", status(429, "Retry-After", "120"), webhook.Retry, 429, 2 * time.Minute},
		{"429 Retry-After HTTP-date", status(429, "Retry-After", retryAt.Format(http.TimeFormat)), webhook.Retry, 429, 90 * time.Second},
		{"429 Retry-After above the cap", status(429, "Retry-After", "86400"), webhook.Retry, 429, time.Hour},
		{"429 Retry-After 0 is 1s", status(429, "Retry-After", "0"), webhook.Retry, 429, time.Second},
		{"429 Retry-After in the past is 1s", status(429, "Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"), webhook.Retry, 429, time.Second},
		{"429 Retry-After garbage is ignored", status(429, "Retry-After", "soon"), webhook.Retry, 429, 0},
		{"500", status(500), webhook.Retry, 500, 0},
		{"503 Retry-After", status(503, "Retry-After", "7"), webhook.Retry, 503, 7 * time.Second},
		{"400 Retry-After is not a retry", status(400, "Retry-After", "7"), webhook.Reject, 400, 0},
	}
	s := newSender(t, webhook.Config{AllowLoopback: true, Now: now})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, tt.handler)
			res := s.Send(context.Background(), webhook.Request{URL: rcv.URL, ID: "msg_1", Body: []byte("{}"), Secrets: []event.Secret{current(t)}})
			if res.Outcome != tt.want || res.Status != tt.wantStatus {
				t.Errorf("Send = %v %d, want %v %d (err %v)", res.Outcome, res.Status, tt.want, tt.wantStatus, res.Err)
			}
			if (res.Err == nil) != (res.Outcome == webhook.Delivered) {
				t.Errorf("Err = %v with outcome %v; want nil exactly when delivered", res.Err, res.Outcome)
			}
			if res.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", res.RetryAfter, tt.retryAfter)
			}
			if tt.wantStatus != 204 {
				if want := `{"status":` + strconv.Itoa(tt.wantStatus) + `}`; res.Body != want {
					t.Errorf("Body = %q, want %q", res.Body, want)
				}
			}
			if tt.wantStatus >= 300 && tt.wantStatus < 400 {
				if res.Header["location"] != redirectTarget.URL {
					t.Errorf("Header[location] = %q, want %q", res.Header["location"], redirectTarget.URL)
				}
			}
		})
	}
	if n := redirectTargetHits.Load(); n != 0 {
		t.Errorf("the redirect target was hit %d times; redirects must not be followed", n)
	}
}

func TestSendConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := newSender(t, webhook.Config{AllowLoopback: true})
	res := s.Send(context.Background(), webhook.Request{URL: "http://" + addr, ID: "msg_1", Body: []byte("{}"), Secrets: []event.Secret{current(t)}})
	if res.Outcome != webhook.Retry || res.Status != 0 || res.Err == nil {
		t.Fatalf("Send = %v %d %v, want retry, no status, an error", res.Outcome, res.Status, res.Err)
	}
	if errors.Is(res.Err, webhook.ErrTimeout) || errors.Is(res.Err, webhook.ErrCanceled) {
		t.Errorf("Err = %v: a refused connection is neither a timeout nor a cancellation", res.Err)
	}
}

func TestSendTimeouts(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	hangInBody := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		hang(w, r)
	}
	s := newSender(t, webhook.Config{AllowLoopback: true, DefaultTimeout: 150 * time.Millisecond})

	t.Run("no response headers within the default timeout", func(t *testing.T) {
		rcv := newReceiver(t, hang)
		res := s.Send(context.Background(), webhook.Request{URL: rcv.URL, ID: "msg_1", Body: []byte("{}"), Secrets: []event.Secret{current(t)}})
		if res.Outcome != webhook.Retry || !errors.Is(res.Err, webhook.ErrTimeout) {
			t.Errorf("Send = %v %v, want retry with ErrTimeout", res.Outcome, res.Err)
		}
	})
	t.Run("the request's timeout wins over the default", func(t *testing.T) {
		rcv := newReceiver(t, hang)
		s := newSender(t, webhook.Config{AllowLoopback: true, DefaultTimeout: time.Hour})
		res := s.Send(context.Background(), webhook.Request{URL: rcv.URL, ID: "msg_1", Body: []byte("{}"), Secrets: []event.Secret{current(t)}, Timeout: 100 * time.Millisecond})
		if res.Outcome != webhook.Retry || !errors.Is(res.Err, webhook.ErrTimeout) {
			t.Errorf("Send = %v %v, want retry with ErrTimeout", res.Outcome, res.Err)
		}
	})
	t.Run("a body that never ends is cut by the timeout", func(t *testing.T) {
		rcv := newReceiver(t, hangInBody)
		res := s.Send(context.Background(), webhook.Request{URL: rcv.URL, ID: "msg_1", Body: []byte("{}"), Secrets: []event.Secret{current(t)}})
		if res.Outcome != webhook.Delivered || res.Body != "partial" {
			t.Errorf("Send = %v %q, want delivered (the status decides) with the partial body", res.Outcome, res.Body)
		}
	})
	t.Run("the caller's context ends first", func(t *testing.T) {
		rcv := newReceiver(t, hang)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		s := newSender(t, webhook.Config{AllowLoopback: true, DefaultTimeout: time.Hour})
		res := s.Send(ctx, webhook.Request{URL: rcv.URL, ID: "msg_1", Body: []byte("{}"), Secrets: []event.Secret{current(t)}})
		if res.Outcome != webhook.Retry || !errors.Is(res.Err, webhook.ErrCanceled) || errors.Is(res.Err, webhook.ErrTimeout) {
			t.Errorf("Send = %v %v, want retry with ErrCanceled", res.Outcome, res.Err)
		}
	})
}

func TestSendHugeBodyKeepsMemoryBounded(t *testing.T) {
	const size = 10 << 20
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 2048) // 32 KiB
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for written := 0; written < size; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	s := newSender(t, webhook.Config{AllowLoopback: true})
	secret := current(t)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res := s.Send(context.Background(), webhook.Request{URL: rcv.URL, ID: "msg_1", Body: []byte("{}"), Secrets: []event.Secret{secret}})
	runtime.ReadMemStats(&after)

	if res.Outcome != webhook.Delivered {
		t.Fatalf("Send = %v %v", res.Outcome, res.Err)
	}
	if len(res.Body) != webhook.MaxBodyKept || res.Body != string(chunk[:webhook.MaxBodyKept]) {
		t.Errorf("Body is %d bytes, want the first %d", len(res.Body), webhook.MaxBodyKept)
	}
	// Reading the whole body would allocate at least its 10 MiB.
	// About 100 KiB in practice.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
		t.Errorf("Send allocated %d bytes for a 10 MiB response; want under 2 MiB", alloc)
	}
}

func TestSendHeadersBounded(t *testing.T) {
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for i := range 30 {
			h.Set("X-Extra-"+strconv.Itoa(i), strings.Repeat("v", 1000))
		}
		h.Set("Set-Cookie", "session=secret")
		h.Set("X-Request-Id", "req-1")
		h.Set("Retry-After", "5")
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(503)
	})
	s := newSender(t, webhook.Config{AllowLoopback: true})
	res := s.Send(context.Background(), webhook.Request{URL: rcv.URL, ID: "msg_1", Body: []byte("{}"), Secrets: []event.Secret{current(t)}})
	if len(res.Header) != webhook.MaxHeadersKept {
		t.Errorf("%d headers kept, want %d", len(res.Header), webhook.MaxHeadersKept)
	}
	for name, v := range res.Header {
		if name != strings.ToLower(name) {
			t.Errorf("header name %q is not lower case", name)
		}
		if len(v) > webhook.MaxHeaderValueKept {
			t.Errorf("%s is %d bytes, want at most %d", name, len(v), webhook.MaxHeaderValueKept)
		}
	}
	for name, want := range map[string]string{"x-request-id": "req-1", "retry-after": "5", "content-type": "text/plain; charset=utf-8"} {
		if res.Header[name] != want {
			t.Errorf("Header[%s] = %q, want %q", name, res.Header[name], want)
		}
	}
	if _, ok := res.Header["set-cookie"]; ok {
		t.Error("Set-Cookie was kept")
	}
}

func TestSendReusesConnections(t *testing.T) {
	var n atomic.Int32
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		// Alternate a short answer and one longer than what Body keeps,
		// which must be drained for the connection to be reused.
		if n.Add(1)%2 == 0 {
			w.WriteHeader(400)
			w.Write(bytes.Repeat([]byte("x"), 20<<10))
		}
	})
	s := newSender(t, webhook.Config{AllowLoopback: true})
	secret := current(t)
	for range 20 {
		res := s.Send(context.Background(), webhook.Request{URL: rcv.URL, ID: "msg_1", Body: []byte("{}"), Secrets: []event.Secret{secret}})
		if res.Outcome != webhook.Delivered && res.Outcome != webhook.Reject {
			t.Fatalf("Send = %v %v", res.Outcome, res.Err)
		}
	}
	if got := rcv.accepted.Load(); got != 1 {
		t.Errorf("20 sequential sends opened %d connections, want 1", got)
	}
}

func TestSendBadRequestsAreRejected(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := newSender(t, webhook.Config{AllowLoopback: true})
	secret := current(t)
	expired := current(t)
	past := time.Now().Add(-time.Second)
	expired.ExpiresAt = &past
	tests := []struct {
		name string
		req  webhook.Request
		is   error
	}{
		{"no secret", webhook.Request{URL: rcv.URL}, webhook.ErrNoSecret},
		{"only expired secrets", webhook.Request{URL: rcv.URL, Secrets: []event.Secret{expired}}, webhook.ErrNoSecret},
		{"not http", webhook.Request{URL: "ftp://" + rcv.Listener.Addr().String(), Secrets: []event.Secret{secret}}, nil},
		{"no host", webhook.Request{URL: "http:///hook", Secrets: []event.Secret{secret}}, nil},
		{"not a URL", webhook.Request{URL: "http://[::1", Secrets: []event.Secret{secret}}, nil},
		{"header value splits the request", webhook.Request{URL: rcv.URL, Secrets: []event.Secret{secret}, Headers: map[string]string{"X-A": "a\r\nX-B: b"}}, nil},
		{"header name", webhook.Request{URL: rcv.URL, Secrets: []event.Secret{secret}, Headers: map[string]string{"X A": "a"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.ID, tt.req.Body = "msg_1", []byte("{}")
			res := s.Send(context.Background(), tt.req)
			if res.Outcome != webhook.Reject || res.Err == nil {
				t.Errorf("Send = %v %v, want reject with an error", res.Outcome, res.Err)
			}
			if tt.is != nil && !errors.Is(res.Err, tt.is) {
				t.Errorf("Err = %v, want %v", res.Err, tt.is)
			}
		})
	}
	if n := len(rcv.got()); n != 0 {
		t.Errorf("the receiver got %d requests, want none", n)
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[webhook.Outcome]string{
		0: "none", webhook.Delivered: "delivered", webhook.Retry: "retry",
		webhook.Gone: "gone", webhook.Reject: "reject", webhook.Refused: "refused", 99: "outcome(99)",
	} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", o, got, want)
		}
	}
}
