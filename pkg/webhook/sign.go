// Package webhook owns the HTTP side of delivering a webhook: signing a
// body the Standard Webhooks way (https://www.standardwebhooks.com),
// POSTing it with a Sender that refuses private targets at dial time and
// never follows redirects, classifying the answer into an Outcome, the
// retry Schedule, and the per-subscription Guard (circuit breaker, rate
// limit, in-flight bound) the dispatcher holds for each endpoint.
//
// It does no Kafka I/O: the dispatcher decides what a Result means for
// the delivery records (retry topic, dead-letter topic, disabling a
// subscription).
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/surgehq/surge/pkg/subscription"
)

// Headers of every delivery, as the Standard Webhooks specification names
// them, and the user agent Surge sends.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	UserAgent       = "Surge-Webhooks/1 (+https://github.com/surgehq/surge)"
)

var dot = []byte{'.'}

// ErrNoSecret is returned by Sign when there is no secret to sign with: a
// delivery is never sent unsigned.
var ErrNoSecret = errors.New("no active signing secret")

// Sign returns the webhook-signature header value for one delivery: one
// "v1,<base64 HMAC-SHA256>" entry per secret, in the order given,
// separated by spaces. Each HMAC is keyed with the base64-decoded part of
// a "whsec_<base64>" secret (the prefix is optional) and covers
// id + "." + Unix seconds of ts + "." + body.
//
// During a rotation every active secret signs (see subscription.Active),
// so a receiver holding any one of them can verify the delivery. The
// error names the secret by position and fingerprint, never by value.
func Sign(id string, ts time.Time, body []byte, secrets []string) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("signing webhook: %w", ErrNoSecret)
	}
	// The signed content is id.timestamp.body; it is fed to each HMAC in
	// pieces rather than copied (bodies can be large).
	var tsBuf [20]byte
	ts10 := strconv.AppendInt(tsBuf[:0], ts.Unix(), 10)

	enc := base64.StdEncoding
	out := make([]byte, 0, len(secrets)*(4+enc.EncodedLen(sha256.Size)))
	var sum [sha256.Size]byte
	for i, s := range secrets {
		key, err := enc.DecodeString(strings.TrimPrefix(s, subscription.SecretPrefix))
		if err != nil || len(key) == 0 {
			return "", fmt.Errorf("signing webhook: secret %d (%s) is not %s<base64>", i, subscription.Fingerprint(s), subscription.SecretPrefix)
		}
		mac := hmac.New(sha256.New, key)
		io.WriteString(mac, id)
		mac.Write(dot)
		mac.Write(ts10)
		mac.Write(dot)
		mac.Write(body)
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, "v1,"...)
		out = enc.AppendEncode(out, mac.Sum(sum[:0]))
	}
	return string(out), nil
}
