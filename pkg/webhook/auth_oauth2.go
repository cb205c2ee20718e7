package webhook

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/surgehq/surge/pkg/event"
)

// MaxEarlyRefresh is how long before its expiry a cached OAuth2 token is
// replaced, at most: a quarter of the token's lifetime when that is
// shorter, so a token valid for seconds is still used.
const MaxEarlyRefresh = 10 * time.Second

// tokenCache is the OAuth2 client-credentials token of one (subscription,
// auth config). Every delivery in flight takes the cached token; when
// there is none, or it is near its expiry, one caller fetches a new one
// and the others wait for it, so the token endpoint sees one request per
// expiry however many deliveries run. It is safe for concurrent use.
type tokenCache struct {
	cfg    *clientcredentials.Config
	client *http.Client  // the Sender's SSRF-guarded client
	fetch  chan struct{} // holds one token while a fetch runs

	mu        sync.Mutex
	tok       *oauth2.Token
	refreshAt time.Time // zero: the token does not expire
}

func newTokenCache(o *event.OAuth2ClientCredentials, client *http.Client) *tokenCache {
	cfg := &clientcredentials.Config{
		ClientID:     o.ClientID,
		ClientSecret: o.ClientSecret,
		TokenURL:     o.TokenURL,
		Scopes:       o.Scopes,
	}
	if o.Audience != "" {
		cfg.EndpointParams = url.Values{"audience": {o.Audience}}
	}
	return &tokenCache{cfg: cfg, client: client, fetch: make(chan struct{}, 1)}
}

// cached is the current token, or nil when there is none or it is due
// for a refresh.
func (c *tokenCache) cached() *oauth2.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == nil || (!c.refreshAt.IsZero() && !time.Now().Before(c.refreshAt)) {
		return nil
	}
	return c.tok
}

// token returns the cached token or fetches one, waiting at most until
// ctx ends. The error is the token endpoint's (or ctx's).
func (c *tokenCache) token(ctx context.Context) (*oauth2.Token, error) {
	if t := c.cached(); t != nil {
		return t, nil
	}
	select {
	case c.fetch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.fetch }()
	if t := c.cached(); t != nil {
		return t, nil // fetched while this caller waited
	}
	t, err := c.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, c.client))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tok, c.refreshAt = t, time.Time{}
	if !t.Expiry.IsZero() {
		early := min(MaxEarlyRefresh, time.Until(t.Expiry)/4)
		c.refreshAt = t.Expiry.Add(-early)
	}
	return t, nil
}

// invalidate drops t, which the endpoint refused, unless another caller
// already replaced it: many deliveries refused with one token cause one
// fetch.
func (c *tokenCache) invalidate(t *oauth2.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == t {
		c.tok = nil
	}
}
