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
