package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/webhook"
)

// BenchmarkSendLocal POSTs signed 600-byte bodies to a fast receiver on
// loopback from parallel goroutines and reports requests per second.
// Run it as: go test -run '^$' -bench SendLocal -cpu 2 -count 5 ./webhook/
func BenchmarkSendLocal(b *testing.B) {
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	s := webhook.NewSender(webhook.Config{AllowLoopback: true})
	defer s.CloseIdleConnections()
	secret := current(b)

	const head, tail = `{"id":"2pQ4","type":"order.placed","entity":{"type":"order","id":"100012","version":1},"data":{"total":"59.90","note":"`, `"}}`
	body := []byte(head + strings.Repeat("x", 600-len(head)-len(tail)) + tail)
	req := webhook.Request{
		URL:     rcv.URL + "/hook",
		ID:      "msg_2pQ4",
		Body:    body,
		Secrets: []event.Secret{secret},
		Headers: map[string]string{"X-Api-Key": "k1"},
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.SetParallelism(32) // 64 requests in flight with -cpu 2, as a dispatcher has
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res := s.Send(context.Background(), req); res.Outcome != webhook.Delivered {
				b.Errorf("Send = %v %v", res.Outcome, res.Err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkPlainNetHTTPLocal is the yardstick for BenchmarkSendLocal: the
// same receiver and body POSTed by a bare http.Client (no signing, no
// checks, no body kept), so the two medians' ratio is Sender's overhead.
// Run it as: go test -run '^$' -bench 'Local$' -cpu 2 -count 5 ./webhook/
func BenchmarkPlainNetHTTPLocal(b *testing.B) {
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	defer cl.CloseIdleConnections()
	body := strings.Repeat("x", 600)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.SetParallelism(32) // 64 requests in flight with -cpu 2, as a dispatcher has
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := cl.Post(rcv.URL+"/hook", "application/json", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
