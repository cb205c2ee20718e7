package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/surgehq/surge/pkg/subscription"
)

// signedHooks is an endpoint that keeps every request (body and headers),
// by the event id in its body, and answers 204.
type signedHooks struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string]*http.Request
	raw map[string][]byte
}

func newSignedHooks(t *testing.T) *signedHooks {
	h := &signedHooks{got: map[string]*http.Request{}, raw: map[string][]byte{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(body, &b)
		h.mu.Lock()
		h.got[b.ID], h.raw[b.ID] = r, body
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// delivery waits for the webhook of event id and returns its body and
// headers.
func (h *signedHooks) delivery(t *testing.T, id string) ([]byte, http.Header) {
	t.Helper()
	var (
		body []byte
		hdr  http.Header
	)
	waitUntil(t, 30*time.Second, "the webhook of event "+id, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		if r, ok := h.got[id]; ok {
			body, hdr = h.raw[id], r.Header
			return true
		}
		return false
	})
	return body, hdr
}

// verifiesWith reports whether the official Standard Webhooks library,
// given only secret, accepts the delivery.
func verifiesWith(t *testing.T, secret string, body []byte, h http.Header) bool {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	err = wh.Verify(body, h)
	if err != nil && !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Fatalf("verifying: %v", err) // a timestamp or header problem, not the secret
	}
	return err == nil
}

// TestSecretsStopSigningWhenRotatedAtOnceOrRevoked is issue 19's secrets
// case through surge dev, the CLI and a receiver that checks with the
// official Standard Webhooks library against one secret at a time:
//   - two `rotate-secret --grace 0s`: the next delivery carries one
//     signature, the newest secret's; neither older secret verifies it;
//   - a rotation with the default grace signs with both; `surge subs get`
//     shows both fingerprints; `revoke-secret ID FINGERPRINT` of the older:
//     the next delivery is signed by the newest alone.
func TestSecretsStopSigningWhenRotatedAtOnceOrRevoked(t *testing.T) {
	dir := t.TempDir()
	stack, err := startDev(context.Background(), testDevConfig(dir), zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	adminAddr := strings.TrimPrefix(stack.AdminURL, "http://")
	cli := func(args ...string) string {
		t.Helper()
		out, err := runCLI(t, append(args, "--admin-addr", adminAddr, "--data-dir", dir)...)
		if err != nil {
			t.Fatalf("surge %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	secretOf := func(out string) string {
		t.Helper()
		var v subscription.View
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.Secret == "" {
			t.Fatalf("no secret in %s (%v)", out, err)
		}
		return v.Secret
	}
	hooks := newSignedHooks(t)
	created := cli("subs", "create", "--url", hooks.srv.URL+"/hook", "--event-type", "order.*", "--json")
	var v subscription.View
	if err := json.Unmarshal([]byte(created), &v); err != nil {
		t.Fatal(err)
	}
	id, s0 := v.ID, v.Secret
	n := 0
	post := func() ([]byte, http.Header) {
		t.Helper()
		n++
		status, out := postEvent(t, stack.IngestURL, fmt.Sprintf(`{"type":"order.updated","entity":{"type":"order","id":"R-1"},"data":{"n":%d}}`, n), nil)
		if status != http.StatusAccepted {
			t.Fatalf("ingest answered %d: %v", status, out)
		}
		return hooks.delivery(t, out["id"].(string))
	}
	signatures := func(h http.Header) int { return len(strings.Fields(h.Get("webhook-signature"))) }

	body, h := post()
	if signatures(h) != 1 || !verifiesWith(t, s0, body, h) {
		t.Fatalf("the first delivery: %d signatures; want one, by the first secret", signatures(h))
	}

	// Two rotations with grace 0s.
	s1 := secretOf(cli("subs", "rotate-secret", id, "--grace", "0s", "--json"))
	s2 := secretOf(cli("subs", "rotate-secret", id, "--grace", "0s", "--json"))
	body, h = post()
	if got := signatures(h); got != 1 {
		t.Fatalf("after two rotations with grace 0s the delivery carries %d signatures (%s), want 1", got, h.Get("webhook-signature"))
	}
	if !verifiesWith(t, s2, body, h) {
		t.Fatal("the newest secret does not verify the delivery")
	}
	for i, old := range []string{s0, s1} {
		if verifiesWith(t, old, body, h) {
			t.Fatalf("secret %d, rotated out with grace 0s, still verifies a delivery", i)
		}
	}

	// A rotation with the default grace: both sign.
	s3 := secretOf(cli("subs", "rotate-secret", id, "--json"))
	body, h = post()
	if signatures(h) != 2 || !verifiesWith(t, s3, body, h) || !verifiesWith(t, s2, body, h) {
		t.Fatalf("during a default grace: %d signatures; want the new and the previous secret", signatures(h))
	}
	got := cli("subs", "get", id)
	for _, s := range []string{s3, s2} {
		if !strings.Contains(got, subscription.Fingerprint(s)) {
			t.Fatalf("surge subs get does not list %s:\n%s", subscription.Fingerprint(s), got)
		}
	}

	// Revoked by fingerprint: only the newest signs.
	cli("subs", "revoke-secret", id, subscription.Fingerprint(s2))
	body, h = post()
	if signatures(h) != 1 || !verifiesWith(t, s3, body, h) || verifiesWith(t, s2, body, h) {
		t.Fatalf("after revoking the previous secret: %d signatures (%s); want the newest secret's only", signatures(h), h.Get("webhook-signature"))
	}
	if strings.Contains(cli("subs", "get", id), subscription.Fingerprint(s2)) {
		t.Fatal("surge subs get still lists the revoked secret")
	}
}
