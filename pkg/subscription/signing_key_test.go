package subscription

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/surgehq/surge/pkg/event"
)

// A key pair made independently (Python's cryptography package) from the
// seed 0x00..0x1f: the whsk_ text is seed || public key.
const (
	seedKey   = "whsk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8DoQe/884Qvh1w3RjnS8CZZ+TWMJulDV8d3IZkElUxuA=="
	seedPub   = "whpk_A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
	seedOnly  = "whsk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	otherPub  = "whpk_C7w0aldmfDgBIL2cf9flHSxf3+o3zS9b9AWyxr9vLXg="
	otherHalf = "whsk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8LvDRqV2Z8OAEgvZx/1+UdLF/f6jfNL1v0BbLGv28teA=="
)

func TestNewSecretForV1aIsAnEd25519SigningKey(t *testing.T) {
	s, err := NewSecretFor(SchemeV1a, t0)
	if err != nil {
		t.Fatal(err)
	}
	b64, ok := strings.CutPrefix(s.Value, "whsk_")
	if !ok {
		t.Fatalf("signing key does not start with whsk_")
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		t.Fatalf("key is not base64 of 64 bytes: %d bytes, %v", len(raw), err)
	}
	if !s.CreatedAt.Equal(Timestamp(t0)) || s.ExpiresAt != nil {
		t.Fatalf("created %v expires %v", s.CreatedAt, s.ExpiresAt)
	}
	// The public key it shows verifies what the key signs.
	pubText, ok := PublicKeyOf(s.Value)
	if !ok {
		t.Fatal("no public key for a new signing key")
	}
	pub, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(pubText, "whpk_"))
	if err != nil || !strings.HasPrefix(pubText, "whpk_") {
		t.Fatalf("public key %q is not whpk_<base64>", pubText)
	}
	msg := []byte("msg_1.1767225600.{}")
	if !ed25519.Verify(pub, msg, ed25519.Sign(ed25519.PrivateKey(raw), msg)) {
		t.Fatal("the public key does not verify the key's signature")
	}
	other, _ := NewSecretFor(SchemeV1a, t0)
	if other.Value == s.Value {
		t.Fatal("two signing keys are equal")
	}
}

func TestNewSecretForScheme(t *testing.T) {
	zeros := func() *bytes.Reader { return bytes.NewReader(make([]byte, 64)) }
	for _, scheme := range []string{"", SchemeV1} {
		s, err := newSecretFor(zeros(), scheme, t0)
		if err != nil || !strings.HasPrefix(s.Value, "whsec_") {
			t.Errorf("scheme %q: %q, %v; want a whsec_ secret", scheme, s.Value, err)
		}
	}
	s, err := newSecretFor(zeros(), SchemeV1a, t0)
	if err != nil || !IsSigningKey(s.Value) {
		t.Fatalf("v1a: %v; want a whsk_ key", err)
	}
	if _, err := newSecretFor(zeros(), "v2", t0); err == nil {
		t.Error("an unknown scheme made a secret")
	}
	boom := errors.New("no entropy")
	if _, err := newSecretFor(iotest.ErrReader(boom), SchemeV1a, t0); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the reader's error", err)
	}
}

func TestParseSigningKey(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"private key", seedKey, false},
		{"seed alone", seedOnly, false},
		{"public half of another key", otherHalf, true},
		{"public key", seedPub, true},
		{"v1 secret", "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", true},
		{"no prefix", strings.TrimPrefix(seedKey, "whsk_"), true},
		{"not base64", "whsk_not*base64", true},
		{"short", "whsk_AAECAwQ=", true},
		{"empty", "whsk_", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := ParseSigningKey(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatal("accepted")
				}
				if !errors.Is(err, ErrBadSigningKey) || strings.Contains(err.Error(), strings.TrimPrefix(tt.in, "whsk_")) && tt.in != "whsk_" {
					t.Fatalf("err %q: want ErrBadSigningKey, without the key text", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := FormatPublicKey(key.Public().(ed25519.PublicKey)); got != seedPub {
				t.Fatalf("public key %s, want %s", got, seedPub)
			}
		})
	}
}

func TestParsePublicKey(t *testing.T) {
	pub, err := ParsePublicKey(seedPub)
	if err != nil || FormatPublicKey(pub) != seedPub {
		t.Fatalf("ParsePublicKey(%s) = %x, %v", seedPub, pub, err)
	}
	for _, in := range []string{"", "whpk_", seedKey, strings.TrimPrefix(seedPub, "whpk_"), "whpk_AAAA", "whpk_" + strings.Repeat("A", 44) + "AAAA"} {
		if _, err := ParsePublicKey(in); !errors.Is(err, ErrBadPublicKey) {
			t.Errorf("ParsePublicKey(%q): %v, want ErrBadPublicKey", in, err)
		}
	}
}

func TestPublicKeyOf(t *testing.T) {
	for in, want := range map[string]string{seedKey: seedPub, seedOnly: seedPub} {
		if got, ok := PublicKeyOf(in); !ok || got != want {
			t.Errorf("PublicKeyOf(%s) = %s, %v; want %s", in, got, ok, want)
		}
	}
	for _, in := range []string{"whsec_AAAA", otherHalf, "whsk_x"} {
		if got, ok := PublicKeyOf(in); ok {
			t.Errorf("PublicKeyOf(%s) = %s: want none", in, got)
		}
	}
}

// A v1a key's fingerprint is its public key's, which a receiver can
// compute from what it holds; a v1 secret's is still its own text's.
func TestFingerprintOfSigningKeyIsItsPublicKeys(t *testing.T) {
	sum := sha256.Sum256([]byte(seedPub))
	want := "sha256:" + hex.EncodeToString(sum[:])[:12]
	if got := Fingerprint(seedKey); got != want {
		t.Fatalf("Fingerprint(signing key) = %s, want %s (the public key's)", got, want)
	}
	if Fingerprint(seedOnly) != want {
		t.Fatal("the seed form and the full form of one key have different fingerprints")
	}
	if Fingerprint(otherPub) == want {
		t.Fatal("another public key has the same fingerprint")
	}
}

func TestRotateAndRevokeSigningKeys(t *testing.T) {
	k0, _ := NewSecretFor(SchemeV1a, t0)
	k1, _ := NewSecretFor(SchemeV1a, t0.Add(time.Minute))
	secrets := Rotate([]event.Secret{k0}, k1, t0.Add(time.Minute), time.Hour)
	active := Active(secrets, t0.Add(2*time.Minute))
	if len(active) != 2 || active[0].Value != k1.Value || active[1].Value != k0.Value {
		t.Fatalf("active during the grace: %d keys, want the new and the old", len(active))
	}
	pub0, _ := PublicKeyOf(k0.Value)
	sum := sha256.Sum256([]byte(pub0))
	got, err := Revoke(secrets, "sha256:"+hex.EncodeToString(sum[:6]))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Value != k1.Value {
		t.Fatalf("after revoking the old key by its public key's fingerprint: %d keys", len(got))
	}
}

func TestViewOfV1aShowsPublicKeysOnly(t *testing.T) {
	exp := t0.Add(time.Hour)
	s := event.Subscription{
		ID: "sub_1", URL: "https://hooks.example.com/", EventTypes: []string{"*"}, SignatureScheme: SchemeV1a,
		Secrets: []event.Secret{
			{Value: seedKey, CreatedAt: t0},
			{Value: "whsk_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoMLvDRqV2Z8OAEgvZx/1+UdLF/f6jfNL1v0BbLGv28teA==", CreatedAt: t0.Add(-time.Hour), ExpiresAt: &exp},
		},
	}
	v := NewView(s)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "whsk_") || strings.Contains(string(b), "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8") {
		t.Fatalf("view shows a signing key: %s", b)
	}
	if v.SignatureScheme != SchemeV1a || len(v.Secrets) != 2 || v.Secrets[0].PublicKey != seedPub || v.Secrets[1].PublicKey != otherPub {
		t.Fatalf("scheme %q, keys %+v; want v1a with both public keys", v.SignatureScheme, v.Secrets)
	}
	// A v1 subscription, and one stored before schemes were recorded,
	// show v1 and no public key.
	old := NewView(event.Subscription{Secrets: []event.Secret{{Value: "whsec_x", CreatedAt: t0}}})
	if old.SignatureScheme != SchemeV1 || old.Secrets[0].PublicKey != "" {
		t.Fatalf("a v1 view: scheme %q, public key %q", old.SignatureScheme, old.Secrets[0].PublicKey)
	}
}

func TestValidateSignatureScheme(t *testing.T) {
	v := Validator{Resolver: testResolver}
	for scheme, wantErr := range map[string]bool{"": false, SchemeV1: false, SchemeV1a: false, "v2": true, "V1A": true} {
		s := event.Subscription{URL: "https://hooks.example.com/", EventTypes: []string{"*"}, SignatureScheme: scheme}
		err := v.Validate(context.Background(), s)
		if (err != nil) != wantErr || err != nil && !strings.Contains(err.Error(), "signature_scheme") {
			t.Errorf("scheme %q: err %v, want error %v on signature_scheme", scheme, err, wantErr)
		}
	}
}

func TestCheckScheme(t *testing.T) {
	for body, wantErr := range map[string]bool{
		`{}`: false, `{"signature_scheme":"v1"}`: false, `{"signature_scheme":"v1a"}`: false,
		`{"signature_scheme":""}`: true, `{"signature_scheme":"v1A"}`: true, `{"signature_scheme":"hmac"}`: true,
	} {
		err := decodeInput(t, body).CheckScheme()
		if (err != nil) != wantErr || err != nil && !strings.Contains(err.Error(), "signature_scheme") {
			t.Errorf("%s: %v, want error %v on signature_scheme", body, err, wantErr)
		}
	}
}
