package subscription

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/surgehq/surge/pkg/event"
)

// Secret format (https://www.standardwebhooks.com): "whsec_" followed by
// the standard base64 of SecretBytes random bytes.
const (
	SecretPrefix = "whsec_"
	SecretBytes  = 32
)

// DefaultGrace is how long a rotated-out secret keeps signing deliveries,
// so receivers can switch to the new one without rejecting any.
const DefaultGrace = 24 * time.Hour

// NewSecret makes a new current secret from crypto/rand.
func NewSecret(now time.Time) (event.Secret, error) {
	return newSecret(rand.Reader, now)
}

func newSecret(r io.Reader, now time.Time) (event.Secret, error) {
	key := make([]byte, SecretBytes)
	if _, err := io.ReadFull(r, key); err != nil {
		return event.Secret{}, fmt.Errorf("generating secret: %w", err)
	}
	return event.Secret{
		Value:     SecretPrefix + base64.StdEncoding.EncodeToString(key),
		CreatedAt: Timestamp(now),
	}, nil
}

// Rotate returns the secrets after a rotation to next: next first; the
// secrets still current (no ExpiresAt) now expire at now+grace; secrets
// already expired at now are dropped; the others keep their expiry. A
// grace of 0 or less means DefaultGrace. secrets is not modified.
func Rotate(secrets []event.Secret, next event.Secret, now time.Time, grace time.Duration) []event.Secret {
	if grace <= 0 {
		grace = DefaultGrace
	}
	expires := Timestamp(now.Add(grace))
	out := []event.Secret{next}
	for _, s := range secrets {
		switch {
		case s.ExpiresAt == nil:
			t := expires
			s.ExpiresAt = &t
		case !s.ExpiresAt.After(now):
			continue
		default:
			t := *s.ExpiresAt
			s.ExpiresAt = &t
		}
		out = append(out, s)
	}
	return slices.Clip(out)
}

// Active returns the secrets that still sign at now: current ones and
// rotated-out ones whose grace has not ended, in order. The dispatcher
// signs each delivery with every one of them.
func Active(secrets []event.Secret, now time.Time) []event.Secret {
	var out []event.Secret
	for _, s := range secrets {
		if s.ExpiresAt == nil || s.ExpiresAt.After(now) {
			out = append(out, s)
		}
	}
	return out
}

// Fingerprint identifies a secret without revealing it: "sha256:" and the
// first 12 hex digits of the SHA-256 of the whole secret text
// ("whsec_..."). A holder of the secret can compute it to check which one
// they have; it cannot be turned back into the secret.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:6])
}
