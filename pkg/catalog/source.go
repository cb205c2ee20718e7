package catalog

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// DefaultSourceID is the id of the source `surge dev` creates.
const DefaultSourceID = "default"

// Signature schemes a source can sign its requests with.
const (
	// SchemeStandardWebhooks is https://www.standardwebhooks.com: headers
	// webhook-id, webhook-timestamp and webhook-signature ("v1,<base64>",
	// several space-separated), HMAC-SHA256 over "id.timestamp.body" with
	// a "whsec_<base64>" secret.
	SchemeStandardWebhooks = "standard-webhooks"
	// SchemeHMACSHA256Hex is a hex HMAC-SHA256 of the raw body in Header.
	SchemeHMACSHA256Hex = "hmac-sha256-hex"
	// SchemeHMACSHA256Base64 is a base64 HMAC-SHA256 of the raw body in
	// Header.
	SchemeHMACSHA256Base64 = "hmac-sha256-base64"
)

// Signature defaults.
const (
	DefaultSignatureHeader = "X-Signature"
	DefaultTolerance       = 300 * time.Second
	// StandardWebhooksSecretPrefix starts every Standard Webhooks secret.
	StandardWebhooksSecretPrefix = "whsec_"
)

// DefaultLoaderTimeout bounds a loader call whose TimeoutMS is 0.
const DefaultLoaderTimeout = 2 * time.Second

// Upper bounds of a source's durations. Beyond them a tolerance no longer
// protects against replays and a loader call no longer fits the time
// enrich waits; far beyond them the seconds or milliseconds overflow a
// time.Duration and turn negative.
const (
	MaxToleranceS      = 24 * 60 * 60
	MaxLoaderTimeoutMS = 60_000
	MaxCacheTTLS       = 24 * 60 * 60
)

// Source is one sender of events, as set by PUT /v1/sources/{id}.
type Source struct {
	ID string `json:"id"`
	// Signature says how requests are signed; nil means unsigned, which
	// Validate accepts only with AllowUnsigned.
	Signature *Signature `json:"signature,omitempty"`
	// Loaders fetch the whole entity for thin events, by entity type.
	Loaders map[string]Loader `json:"loaders,omitempty"`
	// Identity says, by entity type, which id the source's events key
	// their entity by (identity.go); an entity type without a rule keeps
	// the id the event's format gives.
	Identity map[string]IdentityRule `json:"identity,omitempty"`
	// AllowUnsigned says the source deliberately takes unsigned requests
	// (e.g. `surge dev` on loopback), so an unsigned source is always a
	// choice and never a forgotten signature.
	AllowUnsigned bool `json:"allow_unsigned,omitempty"`
}

// Signature is how a source signs its requests.
type Signature struct {
	Scheme string `json:"scheme"`
	// Header carries the HMAC for the hmac-sha256-* schemes (default
	// X-Signature); Standard Webhooks uses its own fixed headers.
	Header string `json:"header,omitempty"`
	// Secret is the shared key: "whsec_<base64>" for Standard Webhooks,
	// the raw key text for the hmac-sha256-* schemes.
	Secret string `json:"secret"`
	// ToleranceS is how far, in seconds, the request's timestamp may be
	// from now; 0 means DefaultTolerance.
	ToleranceS int `json:"tolerance_s,omitempty"`
	// TimestampHeader, for the hmac-sha256-* schemes only, names a header
	// carrying the send time (Unix seconds). When set, the HMAC covers
	// "<timestamp>.<body>" so the timestamp cannot be replaced, and the
	// timestamp must be within the tolerance.
	TimestampHeader string `json:"timestamp_header,omitempty"`
}

// Tolerance is the allowed distance between the request's timestamp and now.
func (s *Signature) Tolerance() time.Duration {
	if s.ToleranceS <= 0 {
		return DefaultTolerance
	}
	return time.Duration(s.ToleranceS) * time.Second
}

// HeaderName is the header carrying an hmac-sha256-* signature.
func (s *Signature) HeaderName() string {
	if s.Header == "" {
		return DefaultSignatureHeader
	}
	return s.Header
}

// Loader fetches the current state of one entity type from the source's
// platform, e.g. "https://shop.example/rest/V1/orders/{id}".
type Loader struct {
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	TimeoutMS int               `json:"timeout_ms,omitempty"`
	CacheTTLS int               `json:"cache_ttl_s,omitempty"`
}

// IDPlaceholder is replaced with the entity id in a loader URL.
const IDPlaceholder = "{id}"

// URLFor is the loader URL for one entity, its id path-escaped.
func (l Loader) URLFor(id string) string {
	return strings.ReplaceAll(l.URL, IDPlaceholder, url.PathEscape(id))
}

// Timeout bounds one load; 0 means DefaultLoaderTimeout.
func (l Loader) Timeout() time.Duration {
	if l.TimeoutMS <= 0 {
		return DefaultLoaderTimeout
	}
	return time.Duration(l.TimeoutMS) * time.Millisecond
}

// CacheTTL is how long a loaded entity may be reused; 0 means not cached.
func (l Loader) CacheTTL() time.Duration {
	return time.Duration(max(l.CacheTTLS, 0)) * time.Second
}

var (
	sourceIDRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// Validate checks the source. Errors are *FieldError values, joined, whose
// Field is the JSON path ("signature.secret", "loaders.order.url",
// "identity.product.field").
func (s Source) Validate() error {
	var errs []error
	if !sourceIDRE.MatchString(s.ID) {
		errs = append(errs, fieldErr("id", "%q must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit", s.ID))
	}
	switch {
	case s.Signature != nil && s.AllowUnsigned:
		errs = append(errs, fieldErr("allow_unsigned", "cannot be true on a source with a signature"))
	case s.Signature == nil && !s.AllowUnsigned:
		errs = append(errs, fieldErr("signature", "is required; set allow_unsigned to true to take unsigned requests"))
	case s.Signature != nil:
		errs = append(errs, s.Signature.validate("signature")...)
	}
	entities := make([]string, 0, len(s.Loaders))
	for e := range s.Loaders {
		entities = append(entities, e)
	}
	sort.Strings(entities)
	for _, e := range entities {
		f := "loaders." + e
		if !entityTypeRE.MatchString(e) {
			errs = append(errs, fieldErr(f, "%q is not an entity type (a lower-case word of a-z, 0-9, '_' and '-')", e))
		}
		errs = append(errs, s.Loaders[e].validate(f)...)
	}
	errs = append(errs, validateIdentity(s.Identity)...)
	return errors.Join(errs...)
}

// Validate checks the signature settings on their own.
func (s *Signature) Validate() error {
	return errors.Join(s.validate("signature")...)
}

func (s *Signature) validate(prefix string) []error {
	var errs []error
	f := func(name string) string { return prefix + "." + name }
	if s.ToleranceS < 0 || s.ToleranceS > MaxToleranceS {
		errs = append(errs, fieldErr(f("tolerance_s"), "must be 0 (the default, %d) to %d, got %d", int(DefaultTolerance/time.Second), MaxToleranceS, s.ToleranceS))
	}
	switch s.Scheme {
	case SchemeStandardWebhooks:
		if s.Header != "" {
			errs = append(errs, fieldErr(f("header"), "is not used by %s, which has fixed webhook-* headers", s.Scheme))
		}
		if s.TimestampHeader != "" {
			errs = append(errs, fieldErr(f("timestamp_header"), "is not used by %s, which has a fixed webhook-timestamp header", s.Scheme))
		}
		if err := checkStandardWebhooksSecret(s.Secret); err != nil {
			errs = append(errs, fieldErr(f("secret"), "%v", err))
		}
	case SchemeHMACSHA256Hex, SchemeHMACSHA256Base64:
		if s.Header != "" && !headerNameRE.MatchString(s.Header) {
			errs = append(errs, fieldErr(f("header"), "%q is not a valid HTTP header name", s.Header))
		}
		if s.TimestampHeader != "" && !headerNameRE.MatchString(s.TimestampHeader) {
			errs = append(errs, fieldErr(f("timestamp_header"), "%q is not a valid HTTP header name", s.TimestampHeader))
		}
		if s.TimestampHeader == "" && s.ToleranceS != 0 {
			errs = append(errs, fieldErr(f("tolerance_s"), "has no effect without timestamp_header"))
		}
		if s.Secret == "" {
			errs = append(errs, fieldErr(f("secret"), "is empty"))
		}
	case "":
		errs = append(errs, fieldErr(f("scheme"), "is empty; use %s, %s or %s", SchemeStandardWebhooks, SchemeHMACSHA256Hex, SchemeHMACSHA256Base64))
	default:
		errs = append(errs, fieldErr(f("scheme"), "unknown scheme %q; use %s, %s or %s", s.Scheme, SchemeStandardWebhooks, SchemeHMACSHA256Hex, SchemeHMACSHA256Base64))
	}
	return errs
}

// checkStandardWebhooksSecret checks a "whsec_<base64>" secret without
// quoting it in the error.
func checkStandardWebhooksSecret(secret string) error {
	if secret == "" {
		return errors.New("is empty")
	}
	key, ok := strings.CutPrefix(secret, StandardWebhooksSecretPrefix)
	if !ok {
		return fmt.Errorf("must start with %q", StandardWebhooksSecretPrefix)
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return fmt.Errorf("must be %q followed by standard base64", StandardWebhooksSecretPrefix)
	}
	if len(raw) < 24 || len(raw) > 64 {
		return fmt.Errorf("key must be 24 to 64 bytes, got %d", len(raw))
	}
	return nil
}

func (l Loader) validate(prefix string) []error {
	var errs []error
	f := func(name string) string { return prefix + "." + name }
	switch u, err := url.Parse(strings.ReplaceAll(l.URL, IDPlaceholder, "x")); {
	case l.URL == "":
		errs = append(errs, fieldErr(f("url"), "is empty"))
	case err != nil:
		errs = append(errs, fieldErr(f("url"), "is not a URL: %v", err))
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		errs = append(errs, fieldErr(f("url"), "%q must be an absolute http or https URL", l.URL))
	case !strings.Contains(l.URL, IDPlaceholder):
		errs = append(errs, fieldErr(f("url"), "%q has no %s placeholder for the entity id", l.URL, IDPlaceholder))
	}
	names := make([]string, 0, len(l.Headers))
	for h := range l.Headers {
		names = append(names, h)
	}
	sort.Strings(names)
	for _, h := range names {
		if !headerNameRE.MatchString(h) {
			errs = append(errs, fieldErr(f("headers"), "%q is not a valid HTTP header name", h))
		}
	}
	if l.TimeoutMS < 0 || l.TimeoutMS > MaxLoaderTimeoutMS {
		errs = append(errs, fieldErr(f("timeout_ms"), "must be 0 (the default, %d) to %d, got %d", int(DefaultLoaderTimeout/time.Millisecond), MaxLoaderTimeoutMS, l.TimeoutMS))
	}
	if l.CacheTTLS < 0 || l.CacheTTLS > MaxCacheTTLS {
		errs = append(errs, fieldErr(f("cache_ttl_s"), "must be 0 (not cached) to %d, got %d", MaxCacheTTLS, l.CacheTTLS))
	}
	return errs
}

// Redacted is the source with its secret and loader header values
// replaced by "[redacted]", for GET responses and logs.
func (s Source) Redacted() Source {
	const mask = "[redacted]"
	s = s.clone()
	if s.Signature != nil && s.Signature.Secret != "" {
		s.Signature.Secret = mask
	}
	for _, l := range s.Loaders {
		for k := range l.Headers {
			l.Headers[k] = mask
		}
	}
	return s
}
