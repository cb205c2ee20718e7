package subscription

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/surgehq/surge/pkg/event"
)

// Secret format (https://www.standardwebhooks.com): "whsec_" followed by
// the standard base64 of SecretBytes random bytes.
const (
	SecretPrefix = "whsec_"
	SecretBytes  = 32
)

// DefaultGrace is how long a rotated-out secret keeps signing deliveries
// when a rotation names no grace, so receivers can switch to the new one
// without rejecting any.
const DefaultGrace = 24 * time.Hour

// MaxGrace is the longest grace a rotation may give the secrets it
// replaces.
const MaxGrace = 7 * 24 * time.Hour

// MaxPreviousSecrets is how many rotated-out secrets may sign next to the
// current one: a delivery carries at most 1+MaxPreviousSecrets signatures.
// A rotation past it drops the oldest, and the dispatcher never signs with
// more, whatever is stored.
const MaxPreviousSecrets = 3

// Errors of Revoke.
var (
	ErrSecretNotFound = errors.New("no secret of the subscription has this fingerprint")
	ErrCurrentSecret  = errors.New("the secret is the current one")
)

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

// RotateInput is the optional body of a rotation
// (POST /v1/subscriptions/{id}/rotate-secret). Without it, or without
// grace, the previous secrets keep signing for the server's default grace.
type RotateInput struct {
	// Grace is how long the secrets being replaced keep signing next to
	// the new one, a Go duration (ParseGrace); "0s" stops them at once.
	Grace *string `json:"grace"`
}

// RevokeInput is the body of POST /v1/subscriptions/{id}/revoke-secret.
type RevokeInput struct {
	// Fingerprint names the secret to revoke (Fingerprint, as the
	// subscription's secrets list shows it).
	Fingerprint string `json:"fingerprint"`
}

// ParseGrace reads a rotation's grace: a Go duration ("0s", "90m", "24h")
// from 0 to MaxGrace. The error says what is wrong, for the field "grace".
func ParseGrace(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not a duration: give one like \"0s\", \"30m\" or \"24h\"", s)
	case d < 0:
		return 0, fmt.Errorf("%q is negative: give 0s to stop the previous secrets at once", s)
	case d > MaxGrace:
		return 0, fmt.Errorf("%q is longer than the most a previous secret may keep signing, %s", s, MaxGrace)
	}
	return d, nil
}

// Rotate returns the secrets after a rotation to next, newest first: next;
// then the previous secrets still signing at now, each until the earlier of
// its own expiry and now+grace (the secret that was current until now
// signs for the whole grace), at most MaxPreviousSecrets of them, the
// oldest dropped first. A grace of 0 (or less) keeps none: the previous
// secrets stop signing at once. secrets is not modified.
func Rotate(secrets []event.Secret, next event.Secret, now time.Time, grace time.Duration) []event.Secret {
	out := []event.Secret{next}
	if grace <= 0 {
		return out
	}
	until := Timestamp(now.Add(grace))
	for _, s := range newestFirst(secrets) {
		if len(out) > MaxPreviousSecrets {
			break
		}
		if s.ExpiresAt != nil && !s.ExpiresAt.After(now) {
			continue // expired: gone
		}
		t := until
		if s.ExpiresAt != nil && s.ExpiresAt.Before(until) {
			t = *s.ExpiresAt
		}
		s.ExpiresAt = &t
		out = append(out, s)
	}
	return slices.Clip(out)
}

// Revoke returns the secrets without the one whose Fingerprint is fp, so
// it signs nothing from then on. The current secret (the newest, with no
// expiry) cannot be revoked — a subscription always has a secret to sign
// with: rotate with a grace of 0 to replace it at once. The errors are
// ErrSecretNotFound and ErrCurrentSecret (wrapped, naming the
// fingerprint). secrets is not modified.
func Revoke(secrets []event.Secret, fp string) ([]event.Secret, error) {
	i := slices.IndexFunc(secrets, func(s event.Secret) bool { return Fingerprint(s.Value) == fp })
	if i < 0 {
		known := make([]string, len(secrets))
		for j, s := range secrets {
			known[j] = Fingerprint(s.Value)
		}
		return nil, fmt.Errorf("revoking %s: %w (it has %s)", fp, ErrSecretNotFound, strings.Join(known, ", "))
	}
	if secrets[i].ExpiresAt == nil {
		return nil, fmt.Errorf("revoking %s: %w: rotate the secret with a grace of 0s to replace and revoke it at once", fp, ErrCurrentSecret)
	}
	out := make([]event.Secret, 0, len(secrets)-1)
	out = append(out, secrets[:i]...)
	return append(out, secrets[i+1:]...), nil
}

// Active returns the secrets that sign a delivery at now, newest first:
// the current ones and rotated-out ones whose grace has not ended, at most
// 1+MaxPreviousSecrets. The dispatcher signs each delivery with every one
// of them.
func Active(secrets []event.Secret, now time.Time) []event.Secret {
	var out []event.Secret
	for _, s := range newestFirst(secrets) {
		if len(out) > MaxPreviousSecrets {
			break
		}
		if s.ExpiresAt == nil || s.ExpiresAt.After(now) {
			out = append(out, s)
		}
	}
	return out
}

// newestFirst is secrets ordered by CreatedAt, newest first; the stored
// order (Rotate's) on ties. The slice is a copy.
func newestFirst(secrets []event.Secret) []event.Secret {
	out := slices.Clone(secrets)
	slices.SortStableFunc(out, func(a, b event.Secret) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out
}

// ValidFingerprint reports whether fp has the form Fingerprint gives:
// "sha256:" and 12 lower-case hex digits.
func ValidFingerprint(fp string) bool {
	hexPart, ok := strings.CutPrefix(fp, "sha256:")
	if !ok || len(hexPart) != 12 {
		return false
	}
	for _, c := range hexPart {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Fingerprint identifies a secret without revealing it: "sha256:" and the
// first 12 hex digits of the SHA-256 of the whole secret text
// ("whsec_..."), or, for a v1a signing key, of its public key's text
// ("whpk_..."), which is what a receiver holds. A holder of the secret or
// public key can compute it to check which one they have; it cannot be
// turned back into the secret.
func Fingerprint(secret string) string {
	if pub, ok := PublicKeyOf(secret); ok {
		secret = pub
	}
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:6])
}
