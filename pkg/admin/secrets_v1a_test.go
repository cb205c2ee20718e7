package admin_test

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/admin"
	"github.com/surgehq/surge/pkg/subscription"
)

// publicKeys lists a subscription response's secrets' public keys, newest
// first.
func publicKeys(t *testing.T, r response) []string {
	t.Helper()
	var out []string
	for _, s := range r.json(t)["secrets"].([]any) {
		pk, _ := s.(map[string]any)["public_key"].(string)
		out = append(out, pk)
	}
	return out
}

// TestV1aSubscriptionShowsPublicKeysOnly: a v1a subscription is created
// with an Ed25519 signing key that no response or log line holds; the
// create, every read and a rotation show the whpk_ public keys, which
// verify what the stored keys sign; revocation takes a public key's
// fingerprint; the scheme cannot be patched.
func TestV1aSubscriptionShowsPublicKeysOnly(t *testing.T) {
	e := newEnv(t, admin.Config{SecretGrace: time.Hour})
	r := e.do("POST", "/v1/subscriptions", `{"url":"https://hooks.example.com/","event_types":["*"],"signature_scheme":"v1a"}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	created := r.json(t)
	id := created["id"].(string)
	if _, ok := created["secret"]; ok || created["signature_scheme"] != "v1a" {
		t.Fatalf("a v1a create answered a secret or another scheme: %s", r.body)
	}
	pub0, _ := created["public_key"].(string)
	if got := publicKeys(t, r); len(got) != 1 || got[0] != pub0 || !strings.HasPrefix(pub0, "whpk_") {
		t.Fatalf("public_key %q, secrets' public keys %v", pub0, got)
	}

	stored, _ := e.subs.Get(id)
	if len(stored.Secrets) != 1 || !subscription.IsSigningKey(stored.Secrets[0].Value) || stored.SignatureScheme != "v1a" {
		t.Fatalf("stored: scheme %q, %d secrets; want one whsk_ key", stored.SignatureScheme, len(stored.Secrets))
	}
	key0 := stored.Secrets[0].Value
	verifies := func(pubText, keyText string) bool {
		t.Helper()
		pub, err := subscription.ParsePublicKey(pubText)
		if err != nil {
			t.Fatal(err)
		}
		key, err := subscription.ParseSigningKey(keyText)
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte("msg_1.1767225600.{}")
		return ed25519.Verify(pub, msg, ed25519.Sign(key, msg))
	}
	if !verifies(pub0, key0) {
		t.Fatal("the public key answered does not verify the stored key's signature")
	}

	got := e.do("GET", "/v1/subscriptions/"+id, nil)
	if pks := publicKeys(t, got); len(pks) != 1 || pks[0] != pub0 {
		t.Fatalf("GET shows public keys %v, want [%s]", pks, pub0)
	}

	e.clock.Advance(time.Minute)
	rot := e.do("POST", "/v1/subscriptions/"+id+"/rotate-secret", nil)
	if rot.status != 200 {
		t.Fatalf("rotate: %d %s", rot.status, rot.body)
	}
	pub1, _ := rot.json(t)["public_key"].(string)
	if pks := publicKeys(t, rot); len(pks) != 2 || pks[0] != pub1 || pks[1] != pub0 || pub1 == pub0 {
		t.Fatalf("after a rotation public keys %v, new %q; want the new then the old", pks, pub1)
	}
	stored, _ = e.subs.Get(id)
	if len(stored.Secrets) != 2 || !verifies(pub1, stored.Secrets[0].Value) || !subscription.IsSigningKey(stored.Secrets[0].Value) {
		t.Fatal("the rotation did not store a new v1a key matching the public key it answered")
	}
	fps := fingerprints(t, rot)
	if fps[1] != subscription.Fingerprint(pub0) {
		t.Fatalf("the old key's fingerprint %s is not its public key's, %s", fps[1], subscription.Fingerprint(pub0))
	}

	rev := e.do("POST", "/v1/subscriptions/"+id+"/revoke-secret", `{"fingerprint":"`+subscription.Fingerprint(pub0)+`"}`)
	if rev.status != 200 {
		t.Fatalf("revoke: %d %s", rev.status, rev.body)
	}
	if pks := publicKeys(t, rev); len(pks) != 1 || pks[0] != pub1 {
		t.Fatalf("after revoking the old key: %v", pks)
	}

	e.do("PATCH", "/v1/subscriptions/"+id, `{"signature_scheme":"v1"}`).wantError(t, 422, "invalid", "signature_scheme", "chosen at creation")
	e.do("POST", "/v1/subscriptions", `{"url":"https://hooks.example.com/","event_types":["*"],"signature_scheme":"ed25519"}`).
		wantError(t, 400, "invalid", "signature_scheme", "v1a")
	e.do("PATCH", "/v1/subscriptions/"+id, `{"signature_scheme":""}`).wantError(t, 400, "invalid", "signature_scheme", "leave it out")
	if r := e.do("PATCH", "/v1/subscriptions/"+id, `{"signature_scheme":"v1a","description":"same scheme"}`); r.status != 200 {
		t.Fatalf("a PATCH repeating the scheme: %d %s", r.status, r.body)
	}
	if s, _ := e.subs.Get(id); s.SignatureScheme != "v1a" {
		t.Fatalf("a refused patch changed the scheme to %q", s.SignatureScheme)
	}

	for _, k := range []string{key0, stored.Secrets[0].Value} {
		body := strings.TrimPrefix(k, "whsk_")
		for _, resp := range []response{r, got, rot, rev} {
			if strings.Contains(string(resp.body), body) || strings.Contains(string(resp.body), "whsk_") {
				t.Fatalf("a response holds a signing key: %s", resp.body)
			}
		}
		e.assertLogsHoldNo(body)
	}
	e.assertLogsHoldNo("whsk_")
}
