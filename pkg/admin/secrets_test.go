package admin_test

import (
	"slices"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/admin"
	"github.com/surgehq/surge/pkg/subscription"
)

// fingerprints lists a subscription response's secrets, newest first.
func fingerprints(t *testing.T, r response) []string {
	t.Helper()
	var out []string
	for _, s := range r.json(t)["secrets"].([]any) {
		out = append(out, s.(map[string]any)["fingerprint"].(string))
	}
	return out
}

// TestRotateSecretTakesAGrace: {"grace":"0s"} replaces the secret at once
// (before, the body was ignored and the old secret signed for 24 h); a
// grace shortens every previous secret's; a bad one is a 400 naming grace;
// no body keeps the configured default.
func TestRotateSecretTakesAGrace(t *testing.T) {
	e := newEnv(t, admin.Config{SecretGrace: 6 * time.Hour})
	created := e.create(validCreate)
	id, first := created["id"].(string), created["secret"].(string)
	rotate := func(body any) response {
		t.Helper()
		e.clock.Advance(time.Minute)
		r := e.do("POST", "/v1/subscriptions/"+id+"/rotate-secret", body)
		if r.status != 200 {
			t.Fatalf("rotating with %v: %d %s", body, r.status, r.body)
		}
		return r
	}

	r := rotate(nil) // the default: 6 h
	second := r.json(t)["secret"].(string)
	prev := r.json(t)["secrets"].([]any)[1].(map[string]any)
	if prev["fingerprint"] != subscription.Fingerprint(first) || prev["expires_at"] != "2026-03-01T18:01:00Z" {
		t.Fatalf("without a body the previous secret %v: want the default grace of 6 h", prev)
	}
	r = rotate(`{"grace":"30m"}`)
	third := r.json(t)["secret"].(string)
	for i, s := range r.json(t)["secrets"].([]any)[1:] {
		if got := s.(map[string]any)["expires_at"]; got != "2026-03-01T12:32:00Z" {
			t.Errorf("previous secret %d expires at %v, want 30 minutes after the rotation", i+1, got)
		}
	}

	// Twice with 0s: only the newest secret is left.
	for range 2 {
		r = rotate(`{"grace":"0s"}`)
	}
	newest := r.json(t)["secret"].(string)
	s, _ := e.subs.Get(id)
	if len(s.Secrets) != 1 || s.Secrets[0].Value != newest {
		t.Fatalf("after rotating with grace 0s: %d stored secrets, want only the newest", len(s.Secrets))
	}
	if fps := fingerprints(t, r); len(fps) != 1 || fps[0] != subscription.Fingerprint(newest) {
		t.Fatalf("secrets answered %v", fps)
	}
	for _, old := range []string{first, second, third} {
		e.assertLogsHoldNo(old)
	}

	for body, field := range map[string]string{`{"grace":"soon"}`: "grace", `{"grace":"-1s"}`: "grace", `{"grace":"200h"}`: "grace"} {
		e.do("POST", "/v1/subscriptions/"+id+"/rotate-secret", body).wantError(t, 422, "invalid", field, "")
	}
	e.do("POST", "/v1/subscriptions/"+id+"/rotate-secret", `{"grace_s":0}`).wantError(t, 400, "malformed", "grace_s", "unknown field")
	if s2, _ := e.subs.Get(id); len(s2.Secrets) != 1 || s2.Secrets[0].Value != newest {
		t.Fatal("a refused rotation changed the secrets")
	}
}

// TestRotationsKeepAtMostAFewPreviousSecrets: after 26 rotations with the
// default grace, 1 + subscription.MaxPreviousSecrets secrets are stored,
// not 27.
func TestRotationsKeepAtMostAFewPreviousSecrets(t *testing.T) {
	e := newEnv(t, admin.Config{})
	id := e.create(validCreate)["id"].(string)
	var last []string
	for range 26 {
		e.clock.Advance(time.Minute)
		r := e.do("POST", "/v1/subscriptions/"+id+"/rotate-secret", nil)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		last = append(last, subscription.Fingerprint(r.json(t)["secret"].(string)))
	}
	got := fingerprints(t, e.do("GET", "/v1/subscriptions/"+id, nil))
	want := []string{last[25], last[24], last[23], last[22]}
	if len(got) != 1+subscription.MaxPreviousSecrets || !slices.Equal(got, want) {
		t.Fatalf("secrets after 26 rotations %v, want the newest %v", got, want)
	}
}

// TestRevokeSecretByFingerprint: a previous secret named by its
// fingerprint is removed; the current one cannot be (409, saying to
// rotate with 0s); unknown or malformed fingerprints are refused.
func TestRevokeSecretByFingerprint(t *testing.T) {
	e := newEnv(t, admin.Config{})
	created := e.create(validCreate)
	id, first := created["id"].(string), created["secret"].(string)
	e.clock.Advance(time.Minute)
	second := e.do("POST", "/v1/subscriptions/"+id+"/rotate-secret", nil).json(t)["secret"].(string)

	path := "/v1/subscriptions/" + id + "/revoke-secret"
	r := e.do("POST", path, map[string]string{"fingerprint": subscription.Fingerprint(first)})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if fps := fingerprints(t, r); len(fps) != 1 || fps[0] != subscription.Fingerprint(second) {
		t.Fatalf("secrets after the revocation %v, want only %s", fps, subscription.Fingerprint(second))
	}
	if _, ok := r.json(t)["secret"]; ok {
		t.Fatalf("a revocation answered a secret: %s", r.body)
	}
	s, _ := e.subs.Get(id)
	if len(s.Secrets) != 1 || s.Secrets[0].Value != second {
		t.Fatalf("stored %d secrets", len(s.Secrets))
	}
	if e.logs.FilterMessage("subscription secret revoked").Len() != 1 {
		t.Fatal("the revocation was not logged")
	}
	e.assertLogsHoldNo(first)
	e.assertLogsHoldNo(second)

	e.do("POST", path, map[string]string{"fingerprint": subscription.Fingerprint(first)}).wantError(t, 422, "invalid", "fingerprint", subscription.Fingerprint(second))
	e.do("POST", path, map[string]string{"fingerprint": subscription.Fingerprint(second)}).wantError(t, 409, "conflict", "fingerprint", "grace of 0s")
	e.do("POST", path, map[string]string{"fingerprint": second}).wantError(t, 400, "invalid", "fingerprint", "not a secret's fingerprint")
	e.do("POST", path, `{}`).wantError(t, 400, "invalid", "fingerprint", "required")
	e.do("POST", "/v1/subscriptions/sub_missing/revoke-secret", map[string]string{"fingerprint": subscription.Fingerprint(first)}).wantError(t, 404, "not_found", "", "sub_missing")
}
