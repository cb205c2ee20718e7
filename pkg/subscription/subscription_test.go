package subscription

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/surgehq/surge/pkg/event"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func TestNewID(t *testing.T) {
	a, b := NewID(), NewID()
	if !strings.HasPrefix(a, "sub_") || len(a) != len("sub_")+27 {
		t.Fatalf("id %q is not sub_ + a 27-character ksuid", a)
	}
	if a == b {
		t.Fatal("two ids are equal")
	}
}

func TestNewSecretIsStandardWebhooks(t *testing.T) {
	s, err := NewSecret(t0)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := strings.CutPrefix(s.Value, "whsec_")
	if !ok {
		t.Fatalf("secret does not start with whsec_")
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(raw) != 32 {
		t.Fatalf("key is not base64 of 32 bytes: %d bytes, %v", len(raw), err)
	}
	if !s.CreatedAt.Equal(Timestamp(t0)) || s.ExpiresAt != nil {
		t.Fatalf("created %v expires %v", s.CreatedAt, s.ExpiresAt)
	}
	other, _ := NewSecret(t0)
	if other.Value == s.Value {
		t.Fatal("two secrets are equal")
	}
}

func TestNewSecretRandomFailure(t *testing.T) {
	boom := errors.New("no entropy")
	if _, err := newSecret(iotest.ErrReader(boom), t0); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the reader's error", err)
	}
	// A fixed reader gives the exact Standard Webhooks text.
	s, err := newSecret(bytes.NewReader(make([]byte, 32)), t0)
	if err != nil {
		t.Fatal(err)
	}
	if want := "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="; s.Value != want {
		t.Fatalf("got %s, want %s", s.Value, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestRotate(t *testing.T) {
	grace := time.Hour
	now := t0
	cur := event.Secret{Value: "whsec_cur", CreatedAt: now.Add(-48 * time.Hour)}
	inGrace := event.Secret{Value: "whsec_grace", CreatedAt: now.Add(-72 * time.Hour), ExpiresAt: ptr(now.Add(10 * time.Minute))}
	expired := event.Secret{Value: "whsec_old", CreatedAt: now.Add(-96 * time.Hour), ExpiresAt: ptr(now.Add(-time.Second))}
	atNow := event.Secret{Value: "whsec_atnow", CreatedAt: now.Add(-96 * time.Hour), ExpiresAt: ptr(now)}
	next := event.Secret{Value: "whsec_next", CreatedAt: now}
	in := []event.Secret{cur, inGrace, expired, atNow}
	inCopy := fmt.Sprint(in)

	got := Rotate(in, next, now, grace)

	var values []string
	for _, s := range got {
		values = append(values, s.Value)
	}
	if want := []string{"whsec_next", "whsec_cur", "whsec_grace"}; !reflect.DeepEqual(values, want) {
		t.Fatalf("secrets after rotation %v, want %v", values, want)
	}
	if got[0].ExpiresAt != nil {
		t.Errorf("the new secret expires at %v", got[0].ExpiresAt)
	}
	if got[1].ExpiresAt == nil || !got[1].ExpiresAt.Equal(Timestamp(now.Add(grace))) {
		t.Errorf("the previous current secret expires at %v, want now+grace", got[1].ExpiresAt)
	}
	if !got[2].ExpiresAt.Equal(now.Add(10 * time.Minute)) {
		t.Errorf("a secret in its grace changed expiry to %v", got[2].ExpiresAt)
	}
	if fmt.Sprint(in) != inCopy {
		t.Error("Rotate modified its input")
	}
	if got := Rotate(nil, next, now, 0); len(got) != 1 {
		t.Fatalf("rotating no secrets gave %d", len(got))
	}
	if got := Rotate(in, next, now, 0); len(got) != 1 || got[0].Value != "whsec_next" {
		t.Errorf("grace 0 kept %v, want only the new secret", got)
	}
	// A shorter grace also cuts the secrets still in an earlier grace.
	short := Rotate(in, next, now, time.Minute)
	if len(short) != 3 || !short[2].ExpiresAt.Equal(Timestamp(now.Add(time.Minute))) || !short[1].ExpiresAt.Equal(Timestamp(now.Add(time.Minute))) {
		t.Errorf("grace 1m: %v, want both previous secrets to stop a minute from now", short)
	}

	active := Active(got, now.Add(30*time.Minute))
	if len(active) != 2 || active[0].Value != "whsec_next" || active[1].Value != "whsec_cur" {
		t.Errorf("active after 30 min: %v", active)
	}
}

// rotations makes a subscription's secrets after n rotations a minute
// apart, each with a day of grace.
func rotations(n int) ([]event.Secret, time.Time) {
	now := t0
	secrets := []event.Secret{{Value: "whsec_s0", CreatedAt: now}}
	for i := 1; i <= n; i++ {
		now = now.Add(time.Minute)
		secrets = Rotate(secrets, event.Secret{Value: fmt.Sprintf("whsec_s%d", i), CreatedAt: now}, now, DefaultGrace)
	}
	return secrets, now
}

func TestRotationsKeepAFewPreviousSecrets(t *testing.T) {
	secrets, now := rotations(26)
	var values []string
	for _, s := range secrets {
		values = append(values, s.Value)
	}
	want := []string{"whsec_s26", "whsec_s25", "whsec_s24", "whsec_s23"}
	if !reflect.DeepEqual(values, want) {
		t.Fatalf("after 26 rotations %v, want the newest and %d previous: %v", values, MaxPreviousSecrets, want)
	}
	if n := len(Active(secrets, now)); n != 1+MaxPreviousSecrets {
		t.Fatalf("%d active, want %d", n, 1+MaxPreviousSecrets)
	}

	// A subscription stored before the cap, with 27 secrets: the
	// dispatcher signs with the newest four only.
	var legacy []event.Secret
	for i := 26; i >= 0; i-- {
		s := event.Secret{Value: fmt.Sprintf("whsec_l%d", i), CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
		if i < 26 {
			s.ExpiresAt = ptr(t0.Add(48 * time.Hour))
		}
		legacy = append(legacy, s)
	}
	slices.Reverse(legacy) // stored oldest first: Active orders by age, not position
	values = nil
	for _, s := range Active(legacy, t0.Add(time.Hour)) {
		values = append(values, s.Value)
	}
	if want := []string{"whsec_l26", "whsec_l25", "whsec_l24", "whsec_l23"}; !reflect.DeepEqual(values, want) {
		t.Fatalf("active of 27 stored secrets %v, want %v", values, want)
	}
}

func TestRevoke(t *testing.T) {
	secrets, _ := rotations(2) // s2 current, s1 and s0 in their grace
	got, err := Revoke(secrets, Fingerprint("whsec_s1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Value != "whsec_s2" || got[1].Value != "whsec_s0" || len(secrets) != 3 {
		t.Fatalf("after revoking s1: %v (input %d secrets)", got, len(secrets))
	}
	if _, err := Revoke(secrets, Fingerprint("whsec_s2")); !errors.Is(err, ErrCurrentSecret) || !strings.Contains(err.Error(), "0s") {
		t.Fatalf("revoking the current secret: %v, want ErrCurrentSecret saying to rotate with 0s", err)
	}
	_, err = Revoke(secrets, "sha256:000000000000")
	if !errors.Is(err, ErrSecretNotFound) || !strings.Contains(err.Error(), Fingerprint("whsec_s0")) {
		t.Fatalf("an unknown fingerprint: %v, want ErrSecretNotFound listing the known ones", err)
	}
}

func TestParseGrace(t *testing.T) {
	for in, want := range map[string]time.Duration{"0s": 0, "0": 0, "90m": 90 * time.Minute, "24h": DefaultGrace, "168h": MaxGrace} {
		if got, err := ParseGrace(in); err != nil || got != want {
			t.Errorf("ParseGrace(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1d", "-1s", "169h", "soon"} {
		if _, err := ParseGrace(in); err == nil {
			t.Errorf("ParseGrace(%q): want an error", in)
		}
	}
}

func TestFingerprint(t *testing.T) {
	a := Fingerprint("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if a != Fingerprint("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=") {
		t.Fatal("fingerprint is not stable")
	}
	if !strings.HasPrefix(a, "sha256:") || len(a) != len("sha256:")+12 {
		t.Fatalf("fingerprint %q is not sha256: + 12 hex digits", a)
	}
	if a == Fingerprint("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=") {
		t.Fatal("different secrets have the same fingerprint")
	}
}

func TestViewNeverHoldsSecretValues(t *testing.T) {
	exp := t0.Add(time.Hour)
	s := event.Subscription{
		ID: "sub_1", URL: "https://hooks.example.com/", EventTypes: []string{"*"},
		Secrets: []event.Secret{
			{Value: "whsec_new", CreatedAt: t0},
			{Value: "whsec_old", CreatedAt: t0.Add(-time.Hour), ExpiresAt: &exp},
		},
	}
	v := NewView(s)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "whsec_") {
		t.Fatalf("view shows a secret: %s", b)
	}
	if len(v.Secrets) != 2 || v.Secrets[0].Fingerprint != Fingerprint("whsec_new") || v.Secrets[1].ExpiresAt == nil {
		t.Fatalf("secret metadata %+v", v.Secrets)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"headers", "retry_schedule", "event_types", "filter", "enabled", "paused", "allow_private", "description", "created_at", "updated_at", "secrets", "disabled_reason", "timeout_ms", "rate_limit_per_s", "max_in_flight"} {
		if _, ok := m[k]; !ok {
			t.Errorf("view JSON has no %q: %s", k, b)
		}
	}
	if _, ok := m["secret"]; ok {
		t.Errorf("view JSON has a secret field: %s", b)
	}
	// The view shares nothing with the stored value.
	v.EventTypes[0] = "changed"
	if s.EventTypes[0] != "*" {
		t.Error("view shares its event types with the stored subscription")
	}
}

func decodeInput(t *testing.T, body string) Input {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	var in Input
	if err := dec.Decode(&in); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestCreateAndPatch(t *testing.T) {
	in := decodeInput(t, `{"url":"https://hooks.example.com/","event_types":["order.*"],"headers":{"X-A":"1"}}`)
	if m := in.Missing(); len(m) != 0 {
		t.Fatalf("missing %v", m)
	}
	s := NewSubscription("sub_1", in, t0)
	if !s.Enabled || s.Paused || s.ID != "sub_1" {
		t.Fatalf("new subscription %+v: want enabled, not paused", s)
	}
	if !s.CreatedAt.Equal(t0.Truncate(time.Millisecond)) || s.CreatedAt != s.UpdatedAt || s.CreatedAt.Location() != time.UTC {
		t.Fatalf("created %v updated %v: want now, UTC, to the millisecond", s.CreatedAt, s.UpdatedAt)
	}

	// A patch changes only what it names.
	s.Enabled, s.DisabledReason = false, "410 Gone from the endpoint"
	later := t0.Add(time.Minute)
	patch := decodeInput(t, `{"paused":true,"filter":"type == \"x\"","url":null}`)
	patch.Apply(&s, later)
	if !s.Paused || s.Filter != `type == "x"` || s.URL != "https://hooks.example.com/" || s.Headers["X-A"] != "1" || s.Enabled {
		t.Fatalf("after patch %+v", s)
	}
	if s.DisabledReason == "" {
		t.Fatal("a patch not touching enabled cleared the disabled reason")
	}
	if !s.UpdatedAt.Equal(Timestamp(later)) || !s.CreatedAt.Equal(Timestamp(t0)) {
		t.Fatalf("updated %v created %v", s.UpdatedAt, s.CreatedAt)
	}
	decodeInput(t, `{"enabled":true}`).Apply(&s, later)
	if !s.Enabled || s.DisabledReason != "" {
		t.Fatalf("re-enabling kept the reason %q", s.DisabledReason)
	}
	decodeInput(t, `{"headers":{}}`).Apply(&s, later)
	if len(s.Headers) != 0 {
		t.Fatalf("headers {} did not clear: %v", s.Headers)
	}

	disabled := NewSubscription("sub_2", decodeInput(t, `{"enabled":false}`), t0)
	if disabled.Enabled {
		t.Fatal("enabled:false at create was ignored")
	}
	if m := (Input{}).Missing(); !reflect.DeepEqual(m, []string{"url", "event_types"}) {
		t.Fatalf("missing %v", m)
	}
}

func TestInputRefusesReadOnlyFields(t *testing.T) {
	for _, f := range ReadOnlyFields {
		dec := json.NewDecoder(strings.NewReader(`{"` + f + `":"x"}`))
		dec.DisallowUnknownFields()
		var in Input
		if err := dec.Decode(&in); err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("%s: decoding gave %v, want unknown field", f, err)
		}
		if !IsReadOnly(f) {
			t.Errorf("IsReadOnly(%q) is false", f)
		}
	}
	if IsReadOnly("url") {
		t.Error("url is read-only")
	}
}

func TestClone(t *testing.T) {
	exp := t0
	s := event.Subscription{EventTypes: []string{"a"}, Headers: map[string]string{"k": "v"}, RetrySchedule: []string{"1s"},
		Secrets: []event.Secret{{Value: "whsec_x", ExpiresAt: &exp}}}
	c := Clone(s)
	c.EventTypes[0], c.Headers["k"], c.RetrySchedule[0] = "b", "w", "2s"
	*c.Secrets[0].ExpiresAt = t0.Add(time.Hour)
	c.Secrets[0].Value = "whsec_y"
	if s.EventTypes[0] != "a" || s.Headers["k"] != "v" || s.RetrySchedule[0] != "1s" || !s.Secrets[0].ExpiresAt.Equal(t0) || s.Secrets[0].Value != "whsec_x" {
		t.Fatalf("clone shares state with the original: %+v", s)
	}
}

func ExampleFingerprint() {
	fmt.Println(Fingerprint("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
	// Output: sha256:96ad2ccd8146
}
