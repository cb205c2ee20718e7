package webhook

import (
	"crypto/ed25519"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/surgehq/surge/pkg/subscription"
)

// signingKeys caches the parsed Ed25519 key of each whsk_ signing key:
// every delivery attempt is signed, and decoding the key and deriving its
// public half each time would cost about as much as the signature. Like
// macPools, it is emptied when it holds maxSigningKeys keys.
var (
	signingKeys    sync.Map // whsk_ text → ed25519.PrivateKey
	signingKeysLen atomic.Int64
)

const maxSigningKeys = 4096

func signingKey(secret string) (ed25519.PrivateKey, error) {
	if k, ok := signingKeys.Load(secret); ok {
		return k.(ed25519.PrivateKey), nil
	}
	key, err := subscription.ParseSigningKey(secret)
	if err != nil {
		return nil, err
	}
	if signingKeysLen.Add(1) > maxSigningKeys {
		signingKeys.Clear()
		signingKeysLen.Store(1)
	}
	actual, _ := signingKeys.LoadOrStore(secret, key)
	return actual.(ed25519.PrivateKey), nil
}

// contentBuffers hold the signed content of a delivery in one piece, as
// Ed25519 needs it (HMAC streams the body instead), reused so that a
// signature does not allocate a copy of every body.
var contentBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledContent is the largest buffer put back in contentBuffers; a
// rare huge body is not kept alive for the next small one.
const maxPooledContent = 1 << 20

// signedContent is id + "." + Unix seconds of ts + "." + body in a buffer
// of contentBuffers; give it back with putContent.
func signedContent(id string, ts time.Time, body []byte) *[]byte {
	b := contentBuffers.Get().(*[]byte)
	c := append((*b)[:0], id...)
	c = append(c, '.')
	c = strconv.AppendInt(c, ts.Unix(), 10)
	c = append(c, '.')
	*b = append(c, body...)
	return b
}

func putContent(b *[]byte) {
	if cap(*b) <= maxPooledContent {
		contentBuffers.Put(b)
	}
}
