package webhook

import (
	"crypto/sha256"
	"encoding/binary"
	"net/http"
	"sync"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/subscription"
)

// credentials is how the deliveries of one (subscription, auth config)
// authenticate: one of basic, token and client is set. A Sender keeps one
// per subscription, built on the first delivery with that config and
// replaced when the config changes, so its token and connections are
// shared by every delivery in flight.
type credentials struct {
	src          *event.EndpointAuth // the config it was built from, for the fast path
	allowPrivate bool
	fingerprint  [sha256.Size]byte // of the config and allow_private
	basic        *event.BasicAuth
	token        *tokenCache  // OAuth2 client credentials
	client       *http.Client // mTLS: its own pool, presenting the certificate
}

// close releases what the credentials hold once no delivery takes them.
func (c *credentials) close() {
	if c.client != nil {
		c.client.CloseIdleConnections()
	}
}

// authCache holds the credentials of each subscription.
type authCache struct {
	mu    sync.Mutex
	bySub map[string]*credentials
}

// credentials returns the credentials of r's subscription for r.Auth,
// building them when the subscription has none or had another config;
// nil when r has no auth. The error is a config that cannot be used (an
// mTLS key pair that does not load).
func (s *Sender) credentials(r Request) (*credentials, error) {
	if subscription.AuthKind(r.Auth) == "" {
		return nil, nil
	}
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	cur := s.auth.bySub[r.SubscriptionID]
	if cur != nil && cur.src == r.Auth && cur.allowPrivate == r.AllowPrivate {
		return cur, nil // the same stored config: nothing to compare
	}
	fp := authFingerprint(r.Auth, r.AllowPrivate)
	if cur != nil && cur.fingerprint == fp {
		cur.src, cur.allowPrivate = r.Auth, r.AllowPrivate
		return cur, nil
	}
	next := &credentials{src: r.Auth, allowPrivate: r.AllowPrivate, fingerprint: fp}
	switch a := r.Auth; {
	case a.Basic != nil:
		next.basic = a.Basic
	case a.OAuth2 != nil:
		next.token = newTokenCache(a.OAuth2, s.clientFor(r.AllowPrivate))
	case a.MTLS != nil:
		client, err := newMTLSClient(s.cfg, a.MTLS, r.AllowPrivate)
		if err != nil {
			return nil, err
		}
		next.client = client
	}
	if cur != nil {
		cur.close()
	}
	if s.auth.bySub == nil {
		s.auth.bySub = make(map[string]*credentials)
	}
	s.auth.bySub[r.SubscriptionID] = next
	return next, nil
}

// closeAuthConnections closes the idle connections of every mTLS client.
func (s *Sender) closeAuthConnections() {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	for _, c := range s.auth.bySub {
		c.close()
	}
}

// authFingerprint identifies an auth config and the address rules its
// connections are dialled under: every field, length-prefixed.
func authFingerprint(a *event.EndpointAuth, allowPrivate bool) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	put := func(fields ...string) {
		for _, f := range fields {
			binary.BigEndian.PutUint64(n[:], uint64(len(f)))
			h.Write(n[:])
			h.Write([]byte(f))
		}
	}
	if allowPrivate {
		put("allow_private")
	}
	if b := a.Basic; b != nil {
		put("basic", b.Username, b.Password)
	}
	if o := a.OAuth2; o != nil {
		put("oauth2", o.TokenURL, o.ClientID, o.ClientSecret, o.Audience)
		put(o.Scopes...)
	}
	if m := a.MTLS; m != nil {
		put("mtls", m.ClientCertPEM, m.ClientKeyPEM, m.CAPEM)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
