package subscription

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
)

// Signature schemes of a subscription (Standard Webhooks' signature
// identifiers): SchemeV1 signs with HMAC-SHA256 and whsec_ secrets, the
// default; SchemeV1a signs with Ed25519 and whsk_ signing keys, and
// receivers verify with the whpk_ public key alone.
const (
	SchemeV1  = "v1"
	SchemeV1a = "v1a"
)

// Schemes lists the signature schemes a subscription may choose.
var Schemes = []string{SchemeV1, SchemeV1a}

// Key formats of the asymmetric scheme (https://www.standardwebhooks.com):
// "whsk_" and the standard base64 of the 64-byte Ed25519 private key (its
// 32-byte seed, then the public key), "whpk_" and the standard base64 of
// the 32-byte public key. ParseSigningKey also takes the bare seed.
const (
	SigningKeyPrefix = "whsk_"
	PublicKeyPrefix  = "whpk_"
)

// SchemeOf is the signature scheme of s: SchemeV1 when the record names
// none (a value built in code; records written before the field read back
// as "v1").
func SchemeOf(s event.Subscription) string {
	if s.SignatureScheme == "" {
		return SchemeV1
	}
	return s.SignatureScheme
}

// CheckScheme checks the scheme a body names, which Validate cannot tell
// apart from none in the stored form: "" is not a scheme (leave the field
// out for the default). The error is a *catalog.FieldError on
// "signature_scheme", or nil.
func (in Input) CheckScheme() error {
	if in.SignatureScheme == nil || slices.Contains(Schemes, *in.SignatureScheme) {
		return nil
	}
	return &catalog.FieldError{Field: "signature_scheme", Message: fmt.Sprintf("%q is not a signature scheme: give %q or %q, or leave it out for %q",
		*in.SignatureScheme, SchemeV1, SchemeV1a, SchemeV1)}
}

// NewSecretFor makes a new current secret of the scheme from crypto/rand:
// a whsec_ secret for SchemeV1 (and ""), a whsk_ signing key for
// SchemeV1a.
func NewSecretFor(scheme string, now time.Time) (event.Secret, error) {
	return newSecretFor(rand.Reader, scheme, now)
}

func newSecretFor(r io.Reader, scheme string, now time.Time) (event.Secret, error) {
	switch scheme {
	case SchemeV1, "":
		return newSecret(r, now)
	case SchemeV1a:
		return newSigningKey(r, now)
	}
	return event.Secret{}, fmt.Errorf("generating secret: unknown signature scheme %q", scheme)
}

func newSigningKey(r io.Reader, now time.Time) (event.Secret, error) {
	_, key, err := ed25519.GenerateKey(r)
	if err != nil {
		return event.Secret{}, fmt.Errorf("generating signing key: %w", err)
	}
	return event.Secret{
		Value:     SigningKeyPrefix + base64.StdEncoding.EncodeToString(key),
		CreatedAt: Timestamp(now),
	}, nil
}

// IsSigningKey reports whether secret is an asymmetric (v1a) signing key
// by its prefix, as Standard Webhooks tells the schemes apart.
func IsSigningKey(secret string) bool { return strings.HasPrefix(secret, SigningKeyPrefix) }

// ErrBadSigningKey is why ParseSigningKey refuses a text.
var ErrBadSigningKey = errors.New("not " + SigningKeyPrefix + " and the base64 of an Ed25519 private key (64 bytes) or seed (32 bytes)")

// ParseSigningKey reads a whsk_ signing key: the 64-byte private key, whose
// public half must be the one its seed derives, or the 32-byte seed. The
// error never contains the text.
func ParseSigningKey(secret string) (ed25519.PrivateKey, error) {
	b64, ok := strings.CutPrefix(secret, SigningKeyPrefix)
	if !ok {
		return nil, ErrBadSigningKey
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, ErrBadSigningKey
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		key := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if !bytes.Equal(key[ed25519.SeedSize:], raw[ed25519.SeedSize:]) {
			return nil, fmt.Errorf("%w: its public half is not its seed's", ErrBadSigningKey)
		}
		return key, nil
	}
	return nil, ErrBadSigningKey
}

// ErrBadPublicKey is why ParsePublicKey refuses a text.
var ErrBadPublicKey = errors.New("not " + PublicKeyPrefix + " and the base64 of a 32-byte Ed25519 public key")

// ParsePublicKey reads a whpk_ public key.
func ParsePublicKey(text string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(text, PublicKeyPrefix)
	if !ok {
		return nil, ErrBadPublicKey
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, ErrBadPublicKey
	}
	return ed25519.PublicKey(raw), nil
}

// FormatPublicKey is the whpk_ text of a public key.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// PublicKeyOf is the whpk_ public key of a whsk_ signing key, and false
// for a whsec_ secret or a signing key that does not parse.
func PublicKeyOf(secret string) (string, bool) {
	if !IsSigningKey(secret) {
		return "", false
	}
	key, err := ParseSigningKey(secret)
	if err != nil {
		return "", false
	}
	return FormatPublicKey(key.Public().(ed25519.PublicKey)), true
}
