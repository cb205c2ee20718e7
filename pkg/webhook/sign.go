// Package webhook owns the HTTP side of delivering a webhook: signing a
// body the Standard Webhooks way (https://www.standardwebhooks.com),
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
	enc := base64.StdEncoding
	out := make([]byte, 0, len(secrets)*(4+enc.EncodedLen(sha256.Size)))
	for i, s := range secrets {
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
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, "v1,"...)
		out = enc.AppendEncode(out, m.h.Sum(m.scratch[:0]))
		pool.Put(m)
	}
	return string(out), nil
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
