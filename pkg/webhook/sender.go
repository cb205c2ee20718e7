package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/tracing"
)

// Outcome is what the answer to one delivery attempt means for the
// delivery. The zero value is no outcome (no attempt was made).
type Outcome uint8

// Outcomes of Send.
const (
	// Delivered: the endpoint answered 2xx.
	Delivered Outcome = iota + 1
	// Retry: a network error, a timeout, 408, 425, 429 or 5xx. Try again
	// later, after Result.RetryAfter if the endpoint gave one.
	Retry
	// Gone: 410. The endpoint says it no longer exists; the caller
	// disables the subscription.
	Gone
	// Reject: any other 4xx, any 3xx (redirects are never followed), or a
	// request that cannot be made (bad URL, bad header, no active secret).
	// Retrying will not help: dead-letter the delivery.
	Reject
	// Refused: the SSRF rules refused the address the target resolved to
	// (loopback, private, link-local, ...); no byte was sent. Handle it
	// like Reject; it is separate so it can be labelled.
	Refused
)

var outcomeNames = [...]string{"none", "delivered", "retry", "gone", "reject", "refused"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Defaults and bounds of a Sender.
const (
	DefaultTimeout             = 10 * time.Second
	DefaultMaxRetryAfter       = time.Hour
	DefaultMaxIdleConnsPerHost = 256
	DefaultIdleConnTimeout     = 90 * time.Second

	// MaxBodyKept is how much of a response body Result.Body keeps.
	MaxBodyKept = 4 << 10
	// MaxBodyDrained is how much more of a response body is read and
	// thrown away so the connection can be reused; a longer body closes
	// the connection instead.
	MaxBodyDrained = 64 << 10
	// MaxHeadersKept and MaxHeaderValueKept bound Result.Header.
	MaxHeadersKept     = 20
	MaxHeaderValueKept = 256

	maxResponseHeaderBytes = 64 << 10
	minRetryAfter          = time.Second
)

// Errors a Result's Err wraps, besides *subscription.AddrError for
// Refused.
var (
	// ErrTimeout: no complete answer within the request's timeout.
	ErrTimeout = errors.New("webhook timed out")
	// ErrCanceled: the caller's context ended before the exchange did. The
	// attempt says nothing about the endpoint; a Guard does not count it.
	ErrCanceled = errors.New("webhook attempt canceled by the caller")
)

// Config configures a Sender. Zero or negative values mean the default.
type Config struct {
	// DefaultTimeout bounds a whole exchange (connect, send, response
	// headers, body read) when the Request sets no Timeout; 10 s.
	DefaultTimeout time.Duration
	// MaxRetryAfter caps an endpoint's Retry-After; 1 h.
	MaxRetryAfter time.Duration
	// AllowLoopback lets every request reach loopback addresses, as
	// `surge dev` and tests need. Other private ranges still need
	// Request.AllowPrivate.
	AllowLoopback bool
	// MaxIdleConnsPerHost is how many idle keep-alive connections are
	// kept per endpoint host; 256.
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes a keep-alive connection idle this long; 90 s.
	IdleConnTimeout time.Duration
	// Now is the clock of webhook-timestamp and of Retry-After dates;
	// time.Now when nil.
	Now func() time.Time
}

// Request is one delivery attempt.
type Request struct {
	URL string
	// ID is the webhook-id: stable across retries, so receivers can
	// de-duplicate.
	ID string
	// Timestamp is the signing time sent as webhook-timestamp; the Sender's
	// clock when zero. Leave it zero on retries: receivers refuse old
	// timestamps.
	Timestamp time.Time
	// Body is POSTed exactly as given.
	Body []byte
	// Secrets are the subscription's secrets; every one active at
	// Timestamp signs (subscription.Active).
	Secrets []event.Secret
	// Headers are the subscription's custom headers. Headers Surge sets
	// itself (subscription.ReservedHeaders) are ignored.
	Headers map[string]string
	// Timeout bounds the whole exchange; Config.DefaultTimeout when zero.
	Timeout time.Duration
	// AllowPrivate lets the target resolve to private, link-local and
	// other non-public addresses (the subscription's allow_private).
	AllowPrivate bool
	// SubscriptionID names the subscription whose credentials (token,
	// mTLS connections) the Sender caches for Auth.
	SubscriptionID string
	// Auth is the subscription's endpoint authentication; nil for none.
	// Basic sets Authorization on every attempt; OAuth2 sends a bearer
	// token, cached per subscription and config, fetched again once when
	// the endpoint answers 401; MTLS presents a client certificate. The
	// Sender must not be given the same pointer with other contents.
	Auth *event.EndpointAuth
}

// Result is the answer to one attempt.
type Result struct {
	// Status is the HTTP status; 0 when no response was received.
	Status int
	// Duration is the time Send took, body read included.
	Duration time.Duration
	// Header is a bounded subset of the response headers, by lower-case
	// name: at most MaxHeadersKept, content-type, retry-after,
	// x-request-id and location first, values cut to MaxHeaderValueKept
	// bytes. Set-Cookie is never kept.
	Header map[string]string
	// Body is the first MaxBodyKept bytes of the response body, with
	// invalid UTF-8 replaced by U+FFFD.
	Body string
	// Err is nil exactly when Outcome is Delivered. It says what went
	// wrong; it wraps ErrTimeout, ErrCanceled or *subscription.AddrError
	// where they apply.
	Err error
	// Outcome is what the answer means for the delivery.
	Outcome Outcome
	// RetryAfter is the endpoint's Retry-After, in [1 s,
	// Config.MaxRetryAfter], on a Retry outcome that carried one; 0
	// otherwise. NextWait combines it with the Schedule.
	RetryAfter time.Duration
}

// Sender POSTs signed webhooks. It keeps connections alive per endpoint,
// never follows redirects, uses no proxy, and checks every address it
// dials against the SSRF rules (subscription.CheckAddr), so a host name
// that resolves, or later re-resolves, to a private address is refused
// at connect time. It is safe for concurrent use.
type Sender struct {
	cfg Config
	// Connections dialled under the strict rules and those dialled for an
	// allow_private request never share a pool: a pooled connection to a
	// private address must not serve a request that does not allow it.
	strict, private *http.Client
	auth            authCache
}

// NewSender returns a Sender with cfg's zero fields set to the defaults.
func NewSender(cfg Config) *Sender {
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = DefaultTimeout
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if cfg.MaxRetryAfter < minRetryAfter {
		cfg.MaxRetryAfter = minRetryAfter
	}
	if cfg.MaxIdleConnsPerHost <= 0 {
		cfg.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if cfg.IdleConnTimeout <= 0 {
		cfg.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Sender{
		cfg:     cfg,
		strict:  newClient(cfg, false),
		private: newClient(cfg, true),
	}
}

func newClient(cfg Config, allowPrivate bool) *http.Client {
	return newClientTLS(cfg, allowPrivate, &tls.Config{MinVersion: tls.VersionTLS12})
}

// newClientTLS is a client with its own connection pool, dialling under
// the SSRF rules (allowPrivate as the request says), with tlsConfig for
// https endpoints.
func newClientTLS(cfg Config, allowPrivate bool, tlsConfig *tls.Config) *http.Client {
	dialer := &net.Dialer{
		KeepAlive: 30 * time.Second,
		Control:   subscription.DialControl(allowPrivate, cfg.AllowLoopback),
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            dialer.DialContext,
			MaxIdleConnsPerHost:    cfg.MaxIdleConnsPerHost,
			IdleConnTimeout:        cfg.IdleConnTimeout,
			TLSHandshakeTimeout:    10 * time.Second,
			TLSClientConfig:        tlsConfig,
			MaxResponseHeaderBytes: maxResponseHeaderBytes,
			// The body is kept for diagnosis as the endpoint sent it.
			DisableCompression: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// CloseIdleConnections closes the keep-alive connections not in use.
func (s *Sender) CloseIdleConnections() {
	s.strict.CloseIdleConnections()
	s.private.CloseIdleConnections()
	s.closeAuthConnections()
}

// clientFor is the shared client of requests with allowPrivate.
func (s *Sender) clientFor(allowPrivate bool) *http.Client {
	if allowPrivate {
		return s.private
	}
	return s.strict
}

// Send signs and POSTs one delivery and classifies the answer. It blocks
// for at most the request's timeout, and returns sooner when ctx ends
// (Outcome Retry, Err wrapping ErrCanceled). It never panics on a bad
// request: a request that cannot be made is a Reject.
func (s *Sender) Send(ctx context.Context, r Request) Result {
	start := time.Now()
	res := s.send(ctx, r)
	res.Duration = time.Since(start)
	return res
}

func (s *Sender) send(ctx context.Context, r Request) Result {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = s.cfg.DefaultTimeout
	}
	ts := r.Timestamp
	if ts.IsZero() {
		ts = s.cfg.Now()
	}
	reject := func(err error) Result { return Result{Outcome: Reject, Err: err} }

	active := subscription.Active(r.Secrets, ts)
	secrets := make([]string, len(active))
	for i, sec := range active {
		secrets[i] = sec.Value
	}
	sig, err := Sign(r.ID, ts, r.Body, secrets)
	if err != nil {
		return reject(err)
	}
	target, err := parseURL(r.URL)
	if err != nil {
		return reject(err)
	}

	reqCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, "", bytes.NewReader(r.Body))
	if err != nil {
		return reject(fmt.Errorf("building request: %w", err))
	}
	// Parsed once, above; a host with an empty port ("h:") is sent as
	// NewRequest would send it.
	target.Host = strings.TrimSuffix(target.Host, ":")
	req.URL, req.Host = target, target.Host
	for name, value := range r.Headers {
		if slices.Contains(subscription.ReservedHeaders, strings.ToLower(name)) {
			continue
		}
		if err := checkHeader(name, value); err != nil {
			return reject(err)
		}
		req.Header.Set(name, value)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderID, r.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)
	// The attempt's trace context (the dispatcher's span, or the event's
	// context when tracing is off), over any custom header of that name.
	tracing.ToHTTP(ctx, req.Header)

	creds, err := s.credentials(r)
	if err != nil {
		return reject(err)
	}
	client := s.clientFor(r.AllowPrivate)
	var tok *oauth2.Token
	switch {
	case creds == nil:
	case creds.basic != nil:
		setBasicAuth(req, creds.basic)
	case creds.token != nil:
		if tok, err = creds.token.token(reqCtx); err != nil {
			return tokenFailed(ctx, reqCtx, timeout, err)
		}
		tok.SetAuthHeader(req)
	case creds.client != nil:
		client = creds.client
	}
	resp, err := client.Do(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && tok != nil {
		// The endpoint refused the token (revoked, rotated, expired
		// early): drop it, fetch one new token and try once more.
		_, _ = readBody(resp.Body)
		creds.token.invalidate(tok)
		if tok, err = creds.token.token(reqCtx); err != nil {
			return tokenFailed(ctx, reqCtx, timeout, err)
		}
		req = req.Clone(reqCtx)
		req.Body = io.NopCloser(bytes.NewReader(r.Body))
		tok.SetAuthHeader(req)
		resp, err = client.Do(req)
	}
	if err != nil {
		return failed(ctx, reqCtx, timeout, err)
	}

	res := Result{Status: resp.StatusCode, Header: keepHeaders(resp.Header)}
	// A failed body read does not change what the status said; the body
	// is only for diagnosis.
	res.Body, _ = readBody(resp.Body)
	res.Outcome = classify(resp.StatusCode)
	switch res.Outcome {
	case Delivered:
	case Retry:
		res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.cfg.Now(), s.cfg.MaxRetryAfter)
		res.Err = fmt.Errorf("endpoint answered %s", resp.Status)
	case Reject:
		if resp.StatusCode < 400 {
			res.Err = fmt.Errorf("endpoint answered %s redirecting to %q: redirects are not followed; set the subscription's url to the final address", resp.Status, resp.Header.Get("Location"))
		} else {
			res.Err = fmt.Errorf("endpoint answered %s", resp.Status)
		}
	case Gone:
		res.Err = fmt.Errorf("endpoint answered %s: it no longer takes deliveries", resp.Status)
	}
	return res
}

// failed classifies an exchange that got no response. reqCtx is the
// request's context, derived from the caller's ctx with the timeout.
func failed(ctx, reqCtx context.Context, timeout time.Duration, err error) Result {
	return noResponse(ctx, reqCtx, timeout, err, "", "sending webhook: ")
}

// tokenFailed classifies a token request that failed as failed does: a
// Retry, as any failed attempt (the breaker counts it, the schedule backs
// off), Refused when the SSRF rules refused the token endpoint's address;
// the error says it was the token endpoint, not the webhook endpoint.
func tokenFailed(ctx, reqCtx context.Context, timeout time.Duration, err error) Result {
	return noResponse(ctx, reqCtx, timeout, err, "token endpoint: ", "token endpoint: ")
}

// noResponse is failed and tokenFailed: prefix starts the errors that
// say why no answer came (refused, canceled, timed out), other the rest.
func noResponse(ctx, reqCtx context.Context, timeout time.Duration, err error, prefix, other string) Result {
	var ae *subscription.AddrError
	switch {
	case errors.As(err, &ae):
		return Result{Outcome: Refused, Err: fmt.Errorf(prefix+"refusing to connect to %s: %w", ae.Addr, ae)}
	case ctx.Err() != nil:
		return Result{Outcome: Retry, Err: fmt.Errorf("%w: "+prefix+"%w", ErrCanceled, err)}
	case reqCtx.Err() != nil:
		return Result{Outcome: Retry, Err: fmt.Errorf(prefix+"%w after %s: %w", ErrTimeout, timeout, err)}
	case tlsFailure(err):
		return Result{Outcome: Retry, Err: fmt.Errorf(other+"TLS handshake error: %w", err)}
	}
	return Result{Outcome: Retry, Err: fmt.Errorf(other+"%w", err)}
}

// classify maps a status to an Outcome.
func classify(status int) Outcome {
	switch {
	case status >= 200 && status < 300:
		return Delivered
	case status == http.StatusGone:
		return Gone
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly,
		status == http.StatusTooManyRequests, status >= 500:
		return Retry
	}
	// 1xx never reaches here (the client handles it), 3xx and other 4xx.
	return Reject
}

// parseURL parses an endpoint URL and refuses anything but an absolute
// http or https URL with a host.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("parsing url: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("url %q is not an http:// or https:// URL", raw)
	case u.Hostname() == "":
		return nil, fmt.Errorf("url %q has no host", raw)
	}
	return u, nil
}

// checkHeader refuses a custom header that would make the request
// invalid; the admin API's validation refuses them earlier.
func checkHeader(name, value string) error {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
	}) {
		return fmt.Errorf("header name %q is not a valid HTTP header name", name)
	}
	if strings.ContainsFunc(value, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }) {
		return fmt.Errorf("header %s: the value contains control characters", name)
	}
	return nil
}

var bodyBufs = sync.Pool{New: func() any { return new([MaxBodyKept]byte) }}

// readBody keeps the first MaxBodyKept bytes, reads at most
// MaxBodyDrained more so the connection can go back to the pool, and
// closes the body (which closes the connection when more is left).
func readBody(body io.ReadCloser) (string, error) {
	defer body.Close()
	buf := bodyBufs.Get().(*[MaxBodyKept]byte)
	defer bodyBufs.Put(buf)
	n, err := io.ReadFull(body, buf[:])
	kept := strings.ToValidUTF8(string(buf[:n]), "\uFFFD")
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		return kept, nil
	case nil:
		_, err = io.CopyN(io.Discard, body, MaxBodyDrained)
		if err == io.EOF {
			err = nil
		}
	}
	if err != nil {
		return kept, fmt.Errorf("reading response body: %w", err)
	}
	return kept, nil
}

// preferredHeaders are kept before any other response header, by their
// canonical name (as http.Header holds them) and the lower-case name
// Result.Header uses.
var preferredHeaders = [...]struct{ canonical, lower string }{
	{"Content-Type", "content-type"}, {"Retry-After", "retry-after"},
	{"X-Request-Id", "x-request-id"}, {"X-Correlation-Id", "x-correlation-id"},
	{"Location", "location"}, {"Content-Length", "content-length"}, {"Date", "date"},
	{"Server", "server"}, {"Www-Authenticate", "www-authenticate"},
}

// keepHeaders picks the bounded subset of h that Result.Header keeps. It
// runs for every attempt, so the common case (only preferred headers) does
// no sorting and no case conversion.
func keepHeaders(h http.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, min(len(h), MaxHeadersKept))
	for _, p := range preferredHeaders {
		if values, ok := h[p.canonical]; ok {
			out[p.lower] = headerValue(values)
		}
	}
	if len(out) == len(h) {
		return out // every header was a preferred one
	}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if len(out) >= MaxHeadersKept {
			break
		}
		key := strings.ToLower(name)
		if _, done := out[key]; done || key == "set-cookie" || key == "set-cookie2" {
			continue
		}
		out[key] = headerValue(h[name])
	}
	return out
}

// headerValue joins a header's values and bounds the result.
func headerValue(values []string) string {
	if len(values) == 1 {
		return truncate(values[0], MaxHeaderValueKept)
	}
	return truncate(strings.Join(values, ", "), MaxHeaderValueKept)
}

// truncate cuts s to at most n bytes of valid UTF-8, at a rune boundary.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// parseRetryAfter reads a Retry-After value, seconds or an HTTP-date,
// as a wait from now clamped to [1 s, limit]; 0 when absent or invalid.
func parseRetryAfter(v string, now time.Time, limit time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		if secs >= uint64(limit/time.Second) {
			return limit
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0
	}
	return min(max(d, minRetryAfter), limit)
}
