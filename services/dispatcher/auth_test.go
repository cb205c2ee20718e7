package dispatcher_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/oauth2test"
	"github.com/surgehq/surge/pkg/tlstest"
	"github.com/surgehq/surge/pkg/topics"
)

// attempts is the attempt log of sub so far.
func (h *harness) attempts(sub string) []event.DeliveryAttempt {
	h.t.Helper()
	topic := h.Topic(topics.DeliveryAttempts)
	codec := avroserde.NewDeliveryAttemptCodec(h.Registry, topic)
	var out []event.DeliveryAttempt
	for _, d := range kafkatest.DecodeAll(h.t, codec, h.ReadCommitted(h.t, topic)) {
		if d.Value.SubscriptionID == sub {
			out = append(out, d.Value)
		}
	}
	return out
}

// attemptSaying is the first attempt of sub whose error contains part.
func (h *harness) attemptSaying(sub, part string) (event.DeliveryAttempt, bool) {
	for _, a := range h.attempts(sub) {
		if strings.Contains(a.Error, part) {
			return a, true
		}
	}
	return event.DeliveryAttempt{}, false
}

// deliveries is n deliveries to sub over keys entity keys, versions in
// order per key after after, seq from first.
func deliveries(sub string, n, keys, first int, after int64) []event.Delivery {
	out := make([]event.Delivery, 0, n)
	for i := range n {
		out = append(out, delivery(sub, fmt.Sprintf("order:%d", i%keys), after+int64(i/keys+1), first+i))
	}
	return out
}

func TestBasicAuthThroughKafka(t *testing.T) {
	h := newHarness(t, 2)
	h.recv.setRespond(func(r received, _ int) (int, http.Header) {
		req := &http.Request{Header: r.header}
		if u, p, ok := req.BasicAuth(); !ok || u != "erp" || p != "right" {
			return http.StatusUnauthorized, nil
		}
		return http.StatusOK, nil
	})
	h.subscribe("sub_basic", func(s *event.Subscription) {
		s.Auth = &event.EndpointAuth{Basic: &event.BasicAuth{Username: "erp", Password: "right"}}
	})
	h.subscribe("sub_wrong", func(s *event.Subscription) {
		s.Auth = &event.EndpointAuth{Basic: &event.BasicAuth{Username: "erp", Password: "wrong"}}
	})
	h.start()
	h.produce(deliveries("sub_basic", 40, 4, 1, 0)...)
	h.produce(delivery("sub_wrong", "order:W", 1, 100))
	want := map[string]int64{}
	for i := range 4 {
		want[fmt.Sprintf("sub_basic/order:%d", i)] = 10
	}
	kafkatest.WaitFor(t, 30*time.Second, "40 deliveries with the right password", func() bool { return len(h.recv.delivered()) >= 40 })
	kafkatest.WaitFor(t, 30*time.Second, "the wrong password's 401 in the attempt log", func() bool {
		_, ok := h.attemptSaying("sub_wrong", "401")
		return ok
	})
	checkOrder(t, h.recv.delivered(), want)
	if bad := h.recv.badSignatures(); len(bad) > 0 {
		t.Fatalf("signatures that do not verify next to basic auth: %v", bad)
	}
	a, _ := h.attemptSaying("sub_wrong", "401")
	if a.StatusCode != http.StatusUnauthorized || a.Outcome != event.OutcomeDeadLettered {
		t.Fatalf("the 401 attempt: %+v", a)
	}
}

func TestOAuth2ThroughKafka(t *testing.T) {
	h := newHarness(t, 2)
	ts := oauth2test.NewServer(t, "surge", "client-secret", 3600)
	h.recv.setRespond(func(r received, _ int) (int, http.Header) {
		if !ts.Check(&http.Request{Header: r.header}) {
			return http.StatusUnauthorized, nil
		}
		return http.StatusOK, nil
	})
	h.subscribe("sub_oauth", func(s *event.Subscription) {
		s.Auth = &event.EndpointAuth{OAuth2: &event.OAuth2ClientCredentials{TokenURL: ts.TokenURL(), ClientID: "surge", ClientSecret: "client-secret"}}
		s.RetrySchedule = []string{"1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"}
	})
	h.start()
	h.produce(deliveries("sub_oauth", 500, 25, 1, 0)...)
	kafkatest.WaitFor(t, 60*time.Second, "500 deliveries", func() bool { return len(h.recv.delivered()) >= 500 })
	if n := ts.Requests(); n != 1 {
		t.Fatalf("%d token requests for 500 deliveries, want 1", n)
	}

	// The endpoint stops taking the token: one refresh, nothing refused
	// for good.
	ts.RevokeAll()
	h.produce(deliveries("sub_oauth", 100, 25, 501, 20)...)
	kafkatest.WaitFor(t, 60*time.Second, "100 more deliveries", func() bool { return len(h.recv.delivered()) >= 600 })
	if n := ts.Requests(); n != 2 {
		t.Fatalf("%d token requests after the endpoint refused the token, want 2", n)
	}

	// The token endpoint fails: the attempts fail as retryable, and order
	// per key holds once it is back.
	ts.RevokeAll()
	ts.Fail(true)
	h.produce(deliveries("sub_oauth", 50, 5, 601, 24)...)
	kafkatest.WaitFor(t, 30*time.Second, "a failed token request in the attempt log", func() bool {
		a, ok := h.attemptSaying("sub_oauth", "token endpoint: ")
		return ok && a.Outcome == event.OutcomeRetry
	})
	kafkatest.WaitFor(t, 30*time.Second, "a key's second failed token attempt", func() bool {
		n := 0
		for _, a := range h.attempts("sub_oauth") {
			if a.EntityKey == "order:0" && strings.Contains(a.Error, "token endpoint: ") {
				n++
			}
		}
		return n >= 2
	})
	ts.Fail(false)
	// Backed off on the schedule (1 s, jittered): no key retried at once.
	last := map[string]time.Time{}
	for _, a := range h.attempts("sub_oauth") {
		if !strings.Contains(a.Error, "token endpoint: ") {
			continue
		}
		if a.NextAttemptAt == nil || a.NextAttemptAt.Sub(a.StartedAt) < 500*time.Millisecond {
			t.Fatalf("a failed token attempt not backed off: %+v", a)
		}
		if prev, ok := last[a.EntityKey]; ok && a.StartedAt.Sub(prev) < 500*time.Millisecond {
			t.Fatalf("%s retried %s after its failed token attempt", a.EntityKey, a.StartedAt.Sub(prev))
		}
		last[a.EntityKey] = a.StartedAt
	}
	kafkatest.WaitFor(t, 60*time.Second, "the 50 after the token endpoint recovered", func() bool { return len(h.recv.delivered()) >= 650 })
	want := map[string]int64{}
	for i := range 25 {
		want[fmt.Sprintf("sub_oauth/order:%d", i)] = 24
	}
	for i := range 5 {
		want[fmt.Sprintf("sub_oauth/order:%d", i)] = 24 + 10
	}
	checkOrder(t, h.recv.delivered(), want)
}

func TestMutualTLSThroughKafka(t *testing.T) {
	h := newHarness(t, 1)
	ca := tlstest.NewCA(t, "endpoint CA")
	var delivered atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { delivered.Add(1) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server().TLS}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := ca.Client("surge")
	h.subscribe("sub_mtls", func(s *event.Subscription) {
		s.URL = srv.URL + "/sub_mtls"
		s.Auth = &event.EndpointAuth{MTLS: &event.MutualTLS{ClientCertPEM: client.CertPEM, ClientKeyPEM: client.KeyPEM, CAPEM: ca.PEM}}
	})
	stranger := tlstest.NewCA(t, "another CA").Client("stranger")
	h.subscribe("sub_nocert", func(s *event.Subscription) {
		s.URL = srv.URL + "/sub_nocert"
		s.Auth = &event.EndpointAuth{MTLS: &event.MutualTLS{ClientCertPEM: stranger.CertPEM, ClientKeyPEM: stranger.KeyPEM, CAPEM: ca.PEM}}
		s.RetrySchedule = []string{"1s"}
	})
	h.start()
	h.produce(deliveries("sub_mtls", 20, 2, 1, 0)...)
	h.produce(delivery("sub_nocert", "order:N", 1, 100))
	kafkatest.WaitFor(t, 30*time.Second, "20 deliveries over mTLS", func() bool { return delivered.Load() >= 20 })
	kafkatest.WaitFor(t, 30*time.Second, "the refused handshake in the attempt log", func() bool {
		_, ok := h.attemptSaying("sub_nocert", "TLS handshake error")
		return ok
	})
	if n := delivered.Load(); n != 20 {
		t.Fatalf("%d deliveries reached the endpoint, want 20 (none without the certificate)", n)
	}
	a, _ := h.attemptSaying("sub_nocert", "TLS handshake error")
	t.Logf("attempt without the certificate: %s", a.Error)
}
