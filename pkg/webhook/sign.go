// Package webhook owns the HTTP side of delivering a webhook: signing a
// body the Standard Webhooks way (https://www.standardwebhooks.com; v1
// HMAC-SHA256 or v1a Ed25519, by the key),
// POSTing it with a Sender that refuses private targets at dial time and
// never follows redirects, authenticating it to the endpoint when the
// subscription says so (basic auth, an OAuth2 client-credentials token
// cached per subscription, an mTLS client certificate), classifying the
// answer into an Outcome, the
// retry Schedule, and the per-subscription Guard (circuit breaker, rate
// limit, in-flight bound) the dispatcher holds for each endpoint.
//
// It does no Kafka I/O: the dispatcher decides what a Result means for
// the delivery records (retry topic, dead-letter topic, disabling a
// subscription).
package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// ErrNoSecret is returned by Sign when there is no secret to sign with: a
// delivery is never sent unsigned.
var ErrNoSecret = errors.New("no active signing secret")

// Sign returns the webhook-signature header value for one delivery: one
// entry per secret, in the order given, separated by spaces, each over the
// signed content id + "." + Unix seconds of ts + "." + body:
//
//   - a "whsk_<base64>" signing key (the v1a scheme) gives
//     "v1a,<base64 Ed25519 signature>", which its whpk_ public key
//     verifies;
//   - any other secret gives "v1,<base64 HMAC-SHA256>", keyed with the
//     base64-decoded part of a "whsec_<base64>" secret (the prefix is
//     optional).
//
// The scheme of each entry is its key's, told by the prefix as Standard
// Webhooks advises. During a rotation every active secret signs (see
// subscription.Active), so a receiver holding any one of them (or its
// public key) can verify the delivery. The error names the secret by
// position and fingerprint, never by value.
func Sign(id string, ts time.Time, body []byte, secrets []string) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("signing webhook: %w", ErrNoSecret)
	}
	enc := base64.StdEncoding
	out := make([]byte, 0, signatureLen(secrets))
	var content *[]byte // id.timestamp.body in one buffer, for Ed25519
	defer func() {
		if content != nil {
			putContent(content)
		}
	}()
	for i, s := range secrets {
		if i > 0 {
			out = append(out, ' ')
		}
		if subscription.IsSigningKey(s) {
			key, err := signingKey(s)
			if err != nil {
				return "", fmt.Errorf("signing webhook: key %d (%s) is not %s<base64 Ed25519 private key>", i, subscription.Fingerprint(s), subscription.SigningKeyPrefix)
			}
			if content == nil {
				content = signedContent(id, ts, body)
			}
			out = append(out, "v1a,"...)
			out = enc.AppendEncode(out, ed25519.Sign(key, *content))
			continue
		}
		pool, err := macPool(s)
		if err != nil {
			return "", fmt.Errorf("signing webhook: secret %d (%s) is not %s<base64>", i, subscription.Fingerprint(s), subscription.SecretPrefix)
		}
		m := pool.Get().(*mac)
		m.h.Reset()
		// The signed content is id.timestamp.body; the body is written
		// as is, not copied.
		head := append(m.scratch[:0], id...)
		head = append(head, '.')
		head = strconv.AppendInt(head, ts.Unix(), 10)
		m.h.Write(append(head, '.'))
		m.h.Write(body)
		out = append(out, "v1,"...)
		out = enc.AppendEncode(out, m.h.Sum(m.scratch[:0]))
		pool.Put(m)
	}
	return string(out), nil
}

// signatureLen is the length of Sign's header value for secrets.
func signatureLen(secrets []string) int {
	n := len(secrets) - 1 // the spaces
	for _, s := range secrets {
		if subscription.IsSigningKey(s) {
			n += len("v1a,") + base64.StdEncoding.EncodedLen(ed25519.SignatureSize)
		} else {
			n += len("v1,") + base64.StdEncoding.EncodedLen(sha256.Size)
		}
	}
	return n
}

// mac is a keyed HMAC-SHA256 with scratch space for the signed head and
// the sum, reused through its secret's pool.
type mac struct {
	h       hash.Hash
	scratch [64]byte
}

// macPools caches one pool of HMACs per secret: every delivery is signed,
// and decoding the key and setting up the HMAC each time cost more than
// hashing a typical body. The cache is emptied when it holds maxMACPools
// secrets (rotations only add a few).
var (
	macPools    sync.Map // secret → *sync.Pool of *mac
	macPoolsLen atomic.Int64
)

const maxMACPools = 4096

func macPool(secret string) (*sync.Pool, error) {
	if p, ok := macPools.Load(secret); ok {
		return p.(*sync.Pool), nil
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, subscription.SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errors.New("bad secret")
	}
	p := &sync.Pool{New: func() any { return &mac{h: hmac.New(sha256.New, key)} }}
	if macPoolsLen.Add(1) > maxMACPools {
		macPools.Clear()
		macPoolsLen.Store(1)
	}
	actual, _ := macPools.LoadOrStore(secret, p)
	return actual.(*sync.Pool), nil
}
