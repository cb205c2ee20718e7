package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/surgehq/surge/pkg/webhook/webhooktest"
)

// v1aReceiverKey reads a whpk_ public key the way a receiver would, from
// the Standard Webhooks text alone: "whpk_" and the standard base64 of 32
// bytes.
func v1aReceiverKey(t *testing.T, text string) ed25519.PublicKey {
	t.Helper()
	b64, ok := strings.CutPrefix(text, "whpk_")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(raw) != ed25519.PublicKeySize {
		t.Fatalf("public key %q is not whpk_ and the base64 of 32 bytes (%v)", text, err)
	}
	return ed25519.PublicKey(raw)
}

// verifyV1a is a receiver's check of a delivery with one trusted public
// key, written from the Standard Webhooks specification and not from
// Surge's signer: the webhook-timestamp must be Unix seconds within five
// minutes of now; webhook-signature is a space-delimited list of
// "<version>,<base64 signature>" entries, of which those of version v1a
// are Ed25519 signatures of "{webhook-id}.{webhook-timestamp}.{body}";
// other versions are skipped. It returns how many v1a entries the header
// carries and whether one of them verifies with pub.
func verifyV1a(pub ed25519.PublicKey, body []byte, h http.Header) (entries int, ok bool, err error) {
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if id == "" || ts == "" {
		return 0, false, errors.New("webhook-id or webhook-timestamp is missing")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("webhook-timestamp %q is not Unix seconds", ts)
	}
	if d := time.Since(time.Unix(secs, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return 0, false, fmt.Errorf("webhook-timestamp %s is %s away from now", ts, d)
	}
	content := []byte(id + "." + ts + "." + string(body))
	for _, entry := range strings.Split(h.Get("webhook-signature"), " ") {
		version, sig, found := strings.Cut(entry, ",")
		if !found || version != "v1a" {
			continue
		}
		entries++
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || len(raw) != ed25519.SignatureSize {
			return entries, false, fmt.Errorf("v1a entry %q is not the base64 of a 64-byte signature", entry)
		}
		if ed25519.Verify(pub, content, raw) {
			ok = true
		}
	}
	return entries, ok, nil
}

// TestV1aDeliveriesVerifyWithThePublicKeyAlone is issue 16's asymmetric
// signatures through surge dev, the CLI and a receiver that holds public
// keys only, checked with crypto/ed25519 (verifyV1a) rather than Surge's
// code:
//   - `subs create --signature v1a` prints a whpk_ public key; the first
//     delivery carries one v1a entry, which verifies with it;
//   - `rotate-secret` (default grace): the next delivery carries two v1a
//     entries, and each public key alone verifies it; an unrelated key and
//     a changed body do not;
//   - the admin API lists both public keys at any time and never a whsk_
//     signing key;
//   - `revoke-secret` with the old public key's fingerprint (computed here
//     from the public key): the next delivery verifies with the new key
//     only;
//   - no log line of the stack holds a signing key.
func TestV1aDeliveriesVerifyWithThePublicKeyAlone(t *testing.T) {
	dir := t.TempDir()
	core, logs := observer.New(zapcore.InfoLevel)
	logger := zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel), zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewTee(c, core)
	})))
	stack, err := startDev(context.Background(), testDevConfig(dir), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	waitConsuming(t, stack)

	cli := stackCLI(t, stack.AdminURL, dir)
	publicKeyOf := func(out string) string {
		t.Helper()
		var v struct {
			ID        string `json:"id"`
			Scheme    string `json:"signature_scheme"`
			Secret    string `json:"secret"`
			PublicKey string `json:"public_key"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.PublicKey == "" || v.Secret != "" || v.Scheme != "v1a" {
			t.Fatalf("want a v1a answer with a public key and no secret: %s (%v)", out, err)
		}
		return v.PublicKey
	}
	hooks := webhooktest.NewReceiver(t)
	created := cli("subs", "create", "--url", hooks.URL+"/v1a", "--event-type", "order.*", "--signature", "v1a", "--json")
	var sub struct{ ID string }
	if err := json.Unmarshal([]byte(created), &sub); err != nil {
		t.Fatal(err)
	}
	p0 := publicKeyOf(created)
	n := 0
	post := func() ([]byte, http.Header) {
		t.Helper()
		n++
		status, out := postEvent(t, stack.IngestURL, fmt.Sprintf(`{"type":"order.updated","entity":{"type":"order","id":"A-1"},"data":{"n":%d}}`, n), nil)
		if status != http.StatusAccepted {
			t.Fatalf("ingest answered %d: %v", status, out)
		}
		return deliveryOf(t, stack, hooks, out["id"].(string))
	}
	check := func(step string, pub string, body []byte, h http.Header, wantEntries int, wantOK bool) {
		t.Helper()
		entries, ok, err := verifyV1a(v1aReceiverKey(t, pub), body, h)
		if err != nil || entries != wantEntries || ok != wantOK {
			t.Fatalf("%s: with %s: %d v1a entries, verifies %v (%v); want %d entries, verifies %v\nwebhook-signature: %s",
				step, pub, entries, ok, err, wantEntries, wantOK, h.Get("webhook-signature"))
		}
	}

	body, h := post()
	check("the first delivery", p0, body, h, 1, true)
	if strings.Contains(h.Get("webhook-signature"), "v1,") {
		t.Fatalf("a v1a subscription's delivery carries a v1 entry: %s", h.Get("webhook-signature"))
	}

	// A rotation with the default grace: both keys sign.
	p1 := publicKeyOf(cli("subs", "rotate-secret", sub.ID, "--json"))
	if p1 == p0 {
		t.Fatal("the rotation answered the old public key")
	}
	body, h = post()
	check("during the grace", p0, body, h, 2, true)
	check("during the grace", p1, body, h, 2, true)
	unrelated, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	check("an unrelated key", "whpk_"+base64.StdEncoding.EncodeToString(unrelated), body, h, 2, false)
	check("a changed body", p1, append([]byte(nil), append(body, ' ')...), h, 2, false)

	// The public keys are readable at any time; no signing key is.
	got := adminCall(t, stack.AdminURL, adminToken(t, dir), http.MethodGet, "/v1/subscriptions/"+sub.ID, "")
	raw, _ := json.Marshal(got)
	if !strings.Contains(string(raw), p0) || !strings.Contains(string(raw), p1) || strings.Contains(string(raw), "whsk_") {
		t.Fatalf("GET /v1/subscriptions/%s: %s; want both public keys and no signing key", sub.ID, raw)
	}

	// Revoked by the old public key's fingerprint: the new key alone signs.
	sum := sha256.Sum256([]byte(p0))
	cli("subs", "revoke-secret", sub.ID, "sha256:"+hex.EncodeToString(sum[:])[:12])
	body, h = post()
	check("after revoking the old key", p1, body, h, 1, true)
	check("after revoking the old key", p0, body, h, 1, false)

	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		if strings.Contains(line, "whsk_") {
			t.Fatalf("a log line holds a signing key: %s", line)
		}
	}
}
