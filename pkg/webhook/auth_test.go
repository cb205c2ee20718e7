package webhook_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/oauth2test"
	"github.com/surgehq/surge/pkg/tlstest"
	"github.com/surgehq/surge/pkg/webhook"
)

func authRequest(t testing.TB, url string, auth *event.EndpointAuth) webhook.Request {
	return webhook.Request{URL: url, ID: "msg_auth", Body: []byte(`{"type":"order.placed"}`),
		Secrets: []event.Secret{current(t)}, SubscriptionID: "sub_auth", Auth: auth}
}

func TestSendBasicAuth(t *testing.T) {
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "erp" || p != "right" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	s := newSender(t, webhook.Config{AllowLoopback: true})
	req := authRequest(t, rcv.URL, &event.EndpointAuth{Basic: &event.BasicAuth{Username: "erp", Password: "right"}})
	req.Headers = map[string]string{"Authorization": "Bearer custom"}
	res := s.Send(context.Background(), req)
	if res.Outcome != webhook.Delivered {
		t.Fatalf("right password: %v %v", res.Outcome, res.Err)
	}
	got := rcv.got()[0].header
	if got.Get(webhook.HeaderSignature) == "" || got.Get(webhook.HeaderID) != "msg_auth" || len(got.Values("Authorization")) != 1 {
		t.Fatalf("headers %v", got)
	}

	// A changed config takes effect on the next attempt.
	req.Auth = &event.EndpointAuth{Basic: &event.BasicAuth{Username: "erp", Password: "wrong"}}
	res = s.Send(context.Background(), req)
	if res.Outcome != webhook.Reject || res.Status != 401 || !strings.Contains(res.Err.Error(), "401") {
		t.Fatalf("wrong password: %v %d %v", res.Outcome, res.Status, res.Err)
	}
}

// oauthEndpoint is a webhook endpoint behind ts's tokens, counting the
// deliveries it accepts.
func oauthEndpoint(t testing.TB, ts *oauth2test.Server) (*httptest.Server, *atomic.Int64) {
	var delivered atomic.Int64
	srv := httptest.NewServer(ts.Protect(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { delivered.Add(1) })))
	t.Cleanup(srv.Close)
	return srv, &delivered
}

func oauthConfig(ts *oauth2test.Server) *event.EndpointAuth {
	return &event.EndpointAuth{OAuth2: &event.OAuth2ClientCredentials{TokenURL: ts.TokenURL(), ClientID: ts.ClientID,
		ClientSecret: ts.ClientSecret, Scopes: []string{"orders.write", "refunds.write"}, Audience: "https://erp.example.com"}}
}

// sendConcurrently sends n deliveries of req from workers goroutines and
// returns how many were not delivered, with one of their errors.
func sendConcurrently(s *webhook.Sender, req webhook.Request, n, workers int) (int64, error) {
	var failed atomic.Int64
	var firstErr atomic.Value
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if res := s.Send(context.Background(), req); res.Outcome != webhook.Delivered {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, res.Err)
				}
			}
		}()
	}
	wg.Wait()
	err, _ := firstErr.Load().(error)
	return failed.Load(), err
}

func TestOAuth2OneTokenForManyConcurrentDeliveries(t *testing.T) {
	ts := oauth2test.NewServer(t, "surge", "client-secret", 3600)
	srv, delivered := oauthEndpoint(t, ts)
	s := newSender(t, webhook.Config{AllowLoopback: true})
	const n = 10000
	failed, err := sendConcurrently(s, authRequest(t, srv.URL, oauthConfig(ts)), n, 64)
	if failed != 0 {
		t.Fatalf("%d of %d not delivered: %v", failed, n, err)
	}
	if delivered.Load() != n || ts.Requests() != 1 {
		t.Fatalf("%d delivered with %d token requests, want %d with 1", delivered.Load(), ts.Requests(), n)
	}
	scopes, audiences := ts.Requested()
	if scopes[0] != "orders.write refunds.write" || audiences[0] != "https://erp.example.com" {
		t.Fatalf("token request scope %q audience %q", scopes[0], audiences[0])
	}
}

func TestOAuth2OneTokenPerExpiryPeriod(t *testing.T) {
	// Tokens valid 2 s are replaced a quarter of their life early: one
	// fetch per 1.5 s however many deliveries run.
	ts := oauth2test.NewServer(t, "surge", "client-secret", 2)
	srv, _ := oauthEndpoint(t, ts)
	s := newSender(t, webhook.Config{AllowLoopback: true})
	req := authRequest(t, srv.URL, oauthConfig(ts))
	start := time.Now()
	var sent int
	for time.Since(start) < 4*time.Second {
		failed, err := sendConcurrently(s, req, 200, 16)
		if failed != 0 {
			t.Fatalf("%d not delivered: %v", failed, err)
		}
		sent += 200
	}
	periods := time.Since(start).Seconds() / 1.5
	if got := float64(ts.Requests()); got < 2 || got > periods+2 {
		t.Fatalf("%d token requests for %d deliveries in %s, want 2 to %.0f", ts.Requests(), sent, time.Since(start), periods+2)
	}
}

func TestOAuth2A401RefreshesTheTokenOnce(t *testing.T) {
	ts := oauth2test.NewServer(t, "surge", "client-secret", 3600)
	srv, delivered := oauthEndpoint(t, ts)
	s := newSender(t, webhook.Config{AllowLoopback: true})
	req := authRequest(t, srv.URL, oauthConfig(ts))
	if res := s.Send(context.Background(), req); res.Outcome != webhook.Delivered {
		t.Fatalf("first: %v %v", res.Outcome, res.Err)
	}
	// The endpoint stops taking the cached token: the deliveries in
	// flight share one new one.
	ts.RevokeAll()
	if failed, err := sendConcurrently(s, req, 500, 32); failed != 0 {
		t.Fatalf("%d not delivered after the revocation: %v", failed, err)
	}
	if ts.Requests() != 2 || delivered.Load() != 501 {
		t.Fatalf("%d token requests, %d delivered; want 2 and 501", ts.Requests(), delivered.Load())
	}
	// An endpoint that refuses the new token too: one refresh, then the
	// 401 stands.
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	defer refusing.Close()
	req.URL = refusing.URL
	before := ts.Requests()
	res := s.Send(context.Background(), req)
	if res.Outcome != webhook.Reject || res.Status != 401 || ts.Requests() != before+1 {
		t.Fatalf("refused twice: %v %d %v, %d token requests (want 1)", res.Outcome, res.Status, res.Err, ts.Requests()-before)
	}
}

func TestOAuth2FailingTokenEndpointIsRetryable(t *testing.T) {
	ts := oauth2test.NewServer(t, "surge", "client-secret", 3600)
	srv, delivered := oauthEndpoint(t, ts)
	s := newSender(t, webhook.Config{AllowLoopback: true})
	ts.Fail(true)
	res := s.Send(context.Background(), authRequest(t, srv.URL, oauthConfig(ts)))
	if res.Outcome != webhook.Retry || !strings.HasPrefix(res.Err.Error(), "token endpoint: ") || delivered.Load() != 0 {
		t.Fatalf("failing token endpoint: %v %v (%d delivered)", res.Outcome, res.Err, delivered.Load())
	}
	// A wrong client secret is a failed attempt as well, not a webhook 401.
	bad := oauthConfig(ts)
	bad.OAuth2.ClientSecret = "wrong"
	ts.Fail(false)
	res = s.Send(context.Background(), authRequest(t, srv.URL, bad))
	if res.Outcome != webhook.Retry || !strings.Contains(res.Err.Error(), "token endpoint: ") || !strings.Contains(res.Err.Error(), "invalid_client") {
		t.Fatalf("wrong client secret: %v %v", res.Outcome, res.Err)
	}
	if res := s.Send(context.Background(), authRequest(t, srv.URL, oauthConfig(ts))); res.Outcome != webhook.Delivered {
		t.Fatalf("after recovery: %v %v", res.Outcome, res.Err)
	}
}

func TestOAuth2TokenEndpointUnderTheSSRFRules(t *testing.T) {
	ts := oauth2test.NewServer(t, "surge", "client-secret", 3600)
	s := newSender(t, webhook.Config{}) // loopback refused
	res := s.Send(context.Background(), authRequest(t, "https://hooks.example.com/", oauthConfig(ts)))
	if res.Outcome != webhook.Refused || !strings.Contains(res.Err.Error(), "token endpoint: refusing to connect to 127.0.0.1") || ts.Requests() != 0 {
		t.Fatalf("loopback token endpoint: %v %v (%d token requests)", res.Outcome, res.Err, ts.Requests())
	}
}

func TestSendMutualTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "endpoint CA")
	server := ca.Server()
	var seen atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		seen.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{server.TLS}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s := newSender(t, webhook.Config{AllowLoopback: true})
	client := ca.Client("surge-dispatcher")
	auth := &event.EndpointAuth{MTLS: &event.MutualTLS{ClientCertPEM: client.CertPEM, ClientKeyPEM: client.KeyPEM, CAPEM: ca.PEM}}
	for i := range 3 {
		if res := s.Send(context.Background(), authRequest(t, srv.URL, auth)); res.Outcome != webhook.Delivered {
			t.Fatalf("attempt %d with the certificate: %v %v", i, res.Outcome, res.Err)
		}
	}
	if seen.Load() != "surge-dispatcher" {
		t.Fatalf("the endpoint saw client %v", seen.Load())
	}

	// Without the certificate, with one the endpoint does not trust, or
	// not trusting the endpoint: the handshake fails and says so.
	other := tlstest.NewCA(t, "another CA").Client("stranger")
	for name, a := range map[string]*event.EndpointAuth{
		"no auth":            nil,
		"untrusted cert":     {MTLS: &event.MutualTLS{ClientCertPEM: other.CertPEM, ClientKeyPEM: other.KeyPEM, CAPEM: ca.PEM}},
		"endpoint untrusted": {MTLS: &event.MutualTLS{ClientCertPEM: client.CertPEM, ClientKeyPEM: client.KeyPEM, CAPEM: tlstest.NewCA(t, "x").PEM}},
	} {
		req := authRequest(t, srv.URL, a)
		req.SubscriptionID = "sub_" + strings.ReplaceAll(name, " ", "_")
		res := s.Send(context.Background(), req)
		if res.Outcome != webhook.Retry || !strings.Contains(res.Err.Error(), "TLS handshake error") {
			t.Fatalf("%s: %v %v", name, res.Outcome, res.Err)
		}
		t.Logf("%s: %v", name, res.Err)
	}
}

func TestSendAuthConfigChangeReplacesCredentials(t *testing.T) {
	ts := oauth2test.NewServer(t, "surge", "client-secret", 3600)
	srv, _ := oauthEndpoint(t, ts)
	s := newSender(t, webhook.Config{AllowLoopback: true})
	for i := range 3 {
		// A new pointer with the same contents keeps the token; a new
		// scope is a new config and fetches again.
		a := oauthConfig(ts)
		if i == 2 {
			a.OAuth2.Scopes = []string{"other"}
		}
		if res := s.Send(context.Background(), authRequest(t, srv.URL, a)); res.Outcome != webhook.Delivered {
			t.Fatalf("%d: %v %v", i, res.Outcome, res.Err)
		}
	}
	if ts.Requests() != 2 {
		t.Fatalf("%d token requests, want 2", ts.Requests())
	}
}
