package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/webhook/webhooktest"
)

// deliveryOf waits for the webhook of event id at rc and returns its
// body and headers; when it does not come, it prints where the event is
// on stack (devDiagnosis).
func deliveryOf(t *testing.T, stack *devStack, rc *webhooktest.Receiver, id string) ([]byte, http.Header) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if a, ok := rc.OfEvent(id); ok {
			return a.Body, a.Header
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 30s waiting for the webhook of event %s; where it is:\n%s", id, devDiagnosis(t, stack, id))
		}
	}
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
	stack, dir := startTestDev(t, zap.WarnLevel)
	cli := stackCLI(t, stack.AdminURL, dir)
	secretOf := func(out string) string {
		t.Helper()
		var v subscription.View
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.Secret == "" {
			t.Fatalf("no secret in %s (%v)", out, err)
		}
		return v.Secret
	}
	hooks := webhooktest.NewReceiver(t)
	created := cli("subs", "create", "--url", hooks.URL+"/hook", "--event-type", "order.*", "--json")
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
		return deliveryOf(t, stack, hooks, out["id"].(string))
	}
	signatures := func(h http.Header) int { return len(strings.Fields(h.Get("webhook-signature"))) }

	body, h := post()
	if signatures(h) != 1 || !webhooktest.VerifiesWith(t, s0, body, h) {
		t.Fatalf("the first delivery: %d signatures; want one, by the first secret", signatures(h))
	}

	// Two rotations with grace 0s.
	s1 := secretOf(cli("subs", "rotate-secret", id, "--grace", "0s", "--json"))
	s2 := secretOf(cli("subs", "rotate-secret", id, "--grace", "0s", "--json"))
	body, h = post()
	if got := signatures(h); got != 1 {
		t.Fatalf("after two rotations with grace 0s the delivery carries %d signatures (%s), want 1", got, h.Get("webhook-signature"))
	}
	if !webhooktest.VerifiesWith(t, s2, body, h) {
		t.Fatal("the newest secret does not verify the delivery")
	}
	for i, old := range []string{s0, s1} {
		if webhooktest.VerifiesWith(t, old, body, h) {
			t.Fatalf("secret %d, rotated out with grace 0s, still verifies a delivery", i)
		}
	}

	// A rotation with the default grace: both sign.
	s3 := secretOf(cli("subs", "rotate-secret", id, "--json"))
	body, h = post()
	if signatures(h) != 2 || !webhooktest.VerifiesWith(t, s3, body, h) || !webhooktest.VerifiesWith(t, s2, body, h) {
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
	if signatures(h) != 1 || !webhooktest.VerifiesWith(t, s3, body, h) || webhooktest.VerifiesWith(t, s2, body, h) {
		t.Fatalf("after revoking the previous secret: %d signatures (%s); want the newest secret's only", signatures(h), h.Get("webhook-signature"))
	}
	if strings.Contains(cli("subs", "get", id), subscription.Fingerprint(s2)) {
		t.Fatal("surge subs get still lists the revoked secret")
	}
}
