package main

import (
	"strings"
	"testing"

	"github.com/surgehq/surge/pkg/subscription"
)

func TestSubsRotateWithGraceAndRevoke(t *testing.T) {
	e := newSubsEnv(t)
	id := subIDRE.FindString(e.mustRun("create", "--url", "https://erp.example.com/a", "--event-type", "*"))
	first := e.stored(id).Secrets[0].Value

	// --grace 0s: the old secret stops at once.
	out := e.mustRun("rotate-secret", id, "--grace", "0s")
	s := e.stored(id)
	if len(s.Secrets) != 1 || s.Secrets[0].Value == first {
		t.Fatalf("after rotate-secret --grace 0s: %d secrets", len(s.Secrets))
	}
	if !strings.Contains(out, s.Secrets[0].Value) || !strings.Contains(out, "No previous secret signs") {
		t.Fatalf("rotate-secret --grace 0s printed:\n%s", out)
	}
	second := s.Secrets[0].Value

	// The default grace: both sign; get lists both fingerprints.
	e.mustRun("rotate-secret", id)
	third := e.stored(id).Secrets[0].Value
	out = e.mustRun("get", id)
	for _, sec := range []string{second, third} {
		if !strings.Contains(out, subscription.Fingerprint(sec)) {
			t.Fatalf("get does not show the fingerprint of a signing secret:\n%s", out)
		}
	}
	if strings.Contains(out, "whsec_") {
		t.Fatalf("get shows a secret:\n%s", out)
	}

	out = e.mustRun("revoke-secret", id, subscription.Fingerprint(second))
	s = e.stored(id)
	if len(s.Secrets) != 1 || s.Secrets[0].Value != third {
		t.Fatalf("after revoke-secret: %d secrets", len(s.Secrets))
	}
	if !strings.Contains(out, "Revoked "+subscription.Fingerprint(second)) || strings.Contains(out, subscription.Fingerprint(second)+"  created") {
		t.Fatalf("revoke-secret printed:\n%s", out)
	}

	if _, _, err := e.run("revoke-secret", id, subscription.Fingerprint(third)); err == nil || !strings.Contains(err.Error(), "grace of 0s") || !strings.Contains(err.Error(), "(field fingerprint)") {
		t.Fatalf("revoking the current secret: %v", err)
	}
	if _, _, err := e.run("revoke-secret", id, "sha256:000000000000"); err == nil || !strings.Contains(err.Error(), subscription.Fingerprint(third)) {
		t.Fatalf("revoking an unknown fingerprint: %v", err)
	}
	if _, _, err := e.run("rotate-secret", id, "--grace", "200h"); err == nil || !strings.Contains(err.Error(), "(field grace)") {
		t.Fatalf("a grace over the limit: %v", err)
	}
	if _, _, err := e.run("rotate-secret", id, "--grace", "-1s"); err == nil || !strings.Contains(err.Error(), "0s or more") {
		t.Fatalf("a negative grace: %v", err)
	}
}

// TestSubsV1aPrintsPublicKeys: `create --signature v1a` stores an Ed25519
// key and prints its public key, never the key; get lists the scheme and
// the public keys; rotate-secret prints the new public key; update has no
// --signature, and a scheme the API does not know is refused naming it.
func TestSubsV1aPrintsPublicKeys(t *testing.T) {
	e := newSubsEnv(t)
	out := e.mustRun("create", "--url", "https://erp.example.com/a", "--event-type", "*", "--signature", "v1a")
	id := subIDRE.FindString(out)
	s := e.stored(id)
	if s.SignatureScheme != subscription.SchemeV1a || len(s.Secrets) != 1 || !subscription.IsSigningKey(s.Secrets[0].Value) {
		t.Fatalf("stored scheme %q with %d secrets; want v1a with one whsk_ key", s.SignatureScheme, len(s.Secrets))
	}
	pub0, _ := subscription.PublicKeyOf(s.Secrets[0].Value)
	if !strings.Contains(out, "Public key: "+pub0) || strings.Contains(out, "whsk_") || strings.Contains(out, "Signing secret") {
		t.Fatalf("create --signature v1a printed:\n%s", out)
	}

	out = e.mustRun("rotate-secret", id)
	s = e.stored(id)
	pub1, _ := subscription.PublicKeyOf(s.Secrets[0].Value)
	if !strings.Contains(out, "New public key: "+pub1) || strings.Contains(out, "whsk_") {
		t.Fatalf("rotate-secret of a v1a subscription printed:\n%s", out)
	}
	out = e.mustRun("get", id)
	for _, want := range []string{"v1a (Ed25519", "public key " + pub0, "public key " + pub1, subscription.Fingerprint(pub0)} {
		if !strings.Contains(out, want) {
			t.Fatalf("get does not show %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "whsk_") {
		t.Fatalf("get shows a signing key:\n%s", out)
	}
	if _, _, err := e.run("update", id, "--signature", "v1"); err == nil || !strings.Contains(err.Error(), "unknown flag: --signature") {
		t.Fatalf("update --signature: %v; want an unknown flag", err)
	}
	if _, _, err := e.run("create", "--url", "https://erp.example.com/a", "--event-type", "*", "--signature", "v2"); err == nil || !strings.Contains(err.Error(), "(field signature_scheme)") {
		t.Fatalf("create --signature v2: %v", err)
	}
	if v1 := e.mustRun("get", subIDRE.FindString(e.mustRun("create", "--url", "https://erp.example.com/b", "--event-type", "*"))); !strings.Contains(v1, "v1 (HMAC-SHA256") {
		t.Fatalf("a create without --signature is not v1:\n%s", v1)
	}
}
