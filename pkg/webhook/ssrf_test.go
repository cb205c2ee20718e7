package webhook_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/webhook"
)

func TestSendRefusesPrivateTargetsAtDialTime(t *testing.T) {
	rcv := newReceiver(t, nil)
	_, port, _ := net.SplitHostPort(rcv.Listener.Addr().String())
	byIP := rcv.URL
	byName := "http://localhost:" + port
	strict := newSender(t, webhook.Config{})
	loopbackOK := newSender(t, webhook.Config{AllowLoopback: true})
	secret := current(t)

	tests := []struct {
		name         string
		sender       *webhook.Sender
		url          string
		allowPrivate bool
		want         webhook.Outcome
	}{
		{"loopback IP refused", strict, byIP, false, webhook.Refused},
		{"a name resolving to loopback refused", strict, byName, false, webhook.Refused},
		{"allow_private lets loopback through", strict, byIP, true, webhook.Delivered},
		{"allow_private lets a name resolving to loopback through", strict, byName, true, webhook.Delivered},
		{"a sender allowing loopback", loopbackOK, byName, false, webhook.Delivered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acceptedBefore, requestsBefore := rcv.accepted.Load(), len(rcv.got())
			res := tt.sender.Send(context.Background(), webhook.Request{
				URL: tt.url, ID: "msg_1", Body: []byte("{}"), Secrets: []event.Secret{secret}, AllowPrivate: tt.allowPrivate,
			})
			if res.Outcome != tt.want {
				t.Fatalf("Send = %v %v, want %v", res.Outcome, res.Err, tt.want)
			}
			if tt.want != webhook.Refused {
				return
			}
			var ae *subscription.AddrError
			if !errors.As(res.Err, &ae) || ae.Class != subscription.Loopback {
				t.Errorf("Err = %v, want a loopback *subscription.AddrError", res.Err)
			}
			if !strings.Contains(res.Err.Error(), "allow_private") {
				t.Errorf("Err = %q does not say how to allow the target", res.Err)
			}
			if res.Status != 0 {
				t.Errorf("Status = %d, want 0", res.Status)
			}
			// A connection that was opened would have been accepted
			// before any answer came back.
			if n := rcv.accepted.Load() - acceptedBefore; n != 0 {
				t.Errorf("the target accepted %d connections; the refusal must come before connect", n)
			}
			if n := len(rcv.got()) - requestsBefore; n != 0 {
				t.Errorf("the target got %d requests", n)
			}
		})
	}
}

// TestPooledPrivateConnectionNotReusedByStrictRequest: a connection kept
// alive after an allow_private request must not carry a request that does
// not allow private targets, though both go to the same host and port.
func TestPooledPrivateConnectionNotReusedByStrictRequest(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := newSender(t, webhook.Config{})
	secret := current(t)
	send := func(allowPrivate bool) webhook.Result {
		return s.Send(context.Background(), webhook.Request{URL: rcv.URL, ID: "msg_1", Body: []byte("{}"), Secrets: []event.Secret{secret}, AllowPrivate: allowPrivate})
	}
	if res := send(true); res.Outcome != webhook.Delivered {
		t.Fatalf("allow_private: Send = %v %v", res.Outcome, res.Err)
	}
	if res := send(false); res.Outcome != webhook.Refused {
		t.Errorf("strict after allow_private: Send = %v %v, want refused", res.Outcome, res.Err)
	}
	if res := send(true); res.Outcome != webhook.Delivered {
		t.Fatalf("allow_private again: Send = %v %v", res.Outcome, res.Err)
	}
	if n := rcv.accepted.Load(); n != 1 {
		t.Errorf("%d connections accepted, want 1 (the allow_private one, reused)", n)
	}
	if n := len(rcv.got()); n != 2 {
		t.Errorf("%d requests arrived, want 2", n)
	}
}
