package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/webhook"
)

func ExampleSign() {
	sig, err := webhook.Sign("msg_2pQ4golden", time.Unix(1767225600, 0),
		[]byte(`{"type":"order.placed","entity":{"type":"order","id":"100012"}}`),
		[]string{
			"whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=", // the new secret
			"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", // the old one, in its grace period
		})
	if err != nil {
		panic(err)
	}
	fmt.Println(sig)
	// Output:
	// v1,5pyJlZwNkp0SjO4+7HkotMHAv8rnKFDmQSeMvNS5i8I= v1,TcOFuW1qcIM3KSwKTxyzYqZiACUD78oo3WbyNS16FM4=
}

func ExampleSender_Send() {
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer endpoint.Close()

	// Loopback is allowed here because the endpoint is a local test server.
	sender := webhook.NewSender(webhook.Config{AllowLoopback: true})
	res := sender.Send(context.Background(), webhook.Request{
		URL:     endpoint.URL,
		ID:      "msg_2pQ4",
		Body:    []byte(`{"type":"order.placed"}`),
		Secrets: []event.Secret{{Value: "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}},
	})
	fmt.Println(res.Outcome, res.Status, res.RetryAfter)

	// The schedule says 5s ±20% before the first retry; the endpoint's
	// Retry-After is longer and wins.
	wait, ok := webhook.NextWait(webhook.DefaultSchedule, 1, res.RetryAfter, nil)
	fmt.Println(wait, ok)
	// Output:
	// retry 503 2m0s
	// 2m0s true
}

func ExampleParseSchedule() {
	s, err := webhook.ParseSchedule([]string{"5s", "2m", "1h30m"})
	fmt.Println(s, err)
	_, err = webhook.ParseSchedule([]string{"5s", "soon"})
	fmt.Println(err)
	// Output:
	// [5s 2m0s 1h30m0s] <nil>
	// retry_schedule[1]: "soon" is not a Go duration such as "5s", "2m" or "1h30m"
}
