package subscription

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/filter"
)

// Limits of a subscription.
const (
	MaxURLLength         = 2048
	MaxEventTypes        = 50
	MaxHeaders           = 20
	MaxHeaderValueBytes  = 1024
	MinTimeoutMS         = 100
	MaxTimeoutMS         = 60000
	MaxMaxInFlight       = 1000
	MaxRetries           = 20
	MinRetryWait         = time.Second
	MaxRetryWait         = 72 * time.Hour
	MaxDescriptionBytes  = 1024
	MaxDisabledReasonLen = 1024
	// The auto-disable rule's bounds, in milliseconds.
	MinAutoDisableAfterMS = int64(time.Second / time.Millisecond)
	MaxAutoDisableAfterMS = int64(30 * 24 * time.Hour / time.Millisecond)
)

// ReservedHeaders are set by the dispatcher or the HTTP client on every
// delivery; a subscription cannot set them.
var ReservedHeaders = []string{
	"webhook-id", "webhook-timestamp", "webhook-signature",
	"content-type", "content-length", "host", "user-agent",
	"transfer-encoding", "connection",
}

// DefaultResolveTimeout bounds the DNS lookup of a target host.
const DefaultResolveTimeout = 2 * time.Second

// Resolver looks up a host's addresses; *net.Resolver implements it.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Validator checks subscriptions. The zero value is ready: it resolves
// host names with net.DefaultResolver within DefaultResolveTimeout and
// refuses loopback targets without allow_private. It is safe for
// concurrent use when its Resolver is.
type Validator struct {
	// AllowLoopback lets a subscription target loopback (127.0.0.0/8,
	// ::1, localhost) without allow_private, as `surge dev` does.
	AllowLoopback bool
	// Resolver looks up host names for the SSRF check; nil means
	// net.DefaultResolver. A failed lookup is not a refusal: the
	// dispatcher checks the addresses again when it dials.
	Resolver Resolver
	// ResolveTimeout bounds one lookup; 0 means DefaultResolveTimeout.
	ResolveTimeout time.Duration
}

var headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// Validate checks every field of s. The error joins one
// *catalog.FieldError per problem, whose Field is the JSON name
// ("url", "event_types[2]", "headers.X-Api-Key", "retry_schedule[0]").
func (v Validator) Validate(ctx context.Context, s event.Subscription) error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &catalog.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}

	if DestinationKind(s.Destination) == DestinationHTTP {
		if err := v.checkURL(ctx, s.URL, s.AllowPrivate); err != nil {
			add("url", "%s", err.Error())
		}
	}
	errs = append(errs, v.checkDestination(ctx, s)...)

	switch n := len(s.EventTypes); {
	case n == 0:
		add("event_types", "is empty; give at least one pattern such as \"order.*\" or \"*\"")
	case n > MaxEventTypes:
		add("event_types", "has %d patterns; at most %d are allowed", n, MaxEventTypes)
	default:
		seen := make(map[string]bool, n)
		for i, p := range s.EventTypes {
			f := fmt.Sprintf("event_types[%d]", i)
			if err := filter.ValidatePattern(p); err != nil {
				add(f, "%s", err.Error())
			} else if seen[p] {
				add(f, "%q is listed twice", p)
			}
			seen[p] = true
		}
	}

	if s.Filter != "" {
		if _, err := filter.Compile(s.Filter); err != nil {
			// CEL's own message, at its position; the field already says
			// it is the filter.
			var ce *filter.CompileError
			if errors.As(err, &ce) {
				add("filter", "line %d, column %d: %s", ce.Line, ce.Column, ce.Message)
			} else {
				add("filter", "%s", err.Error())
			}
		}
	}

	errs = append(errs, checkHeaders(s.Headers)...)
	errs = append(errs, v.checkAuth(ctx, s)...)

	if s.TimeoutMS != 0 && (s.TimeoutMS < MinTimeoutMS || s.TimeoutMS > MaxTimeoutMS) {
		add("timeout_ms", "must be 0 (the dispatcher's default) or %d to %d, got %d", MinTimeoutMS, MaxTimeoutMS, s.TimeoutMS)
	}
	if a := s.AutoDisableAfterMS; a != 0 && (a < MinAutoDisableAfterMS || a > MaxAutoDisableAfterMS) {
		add("auto_disable_after_ms", "must be 0 (never) or %d (1s) to %d (30 days), got %d", MinAutoDisableAfterMS, MaxAutoDisableAfterMS, a)
	}
	if s.RateLimitPerS < 0 || math.IsNaN(s.RateLimitPerS) || math.IsInf(s.RateLimitPerS, 0) {
		add("rate_limit_per_s", "must be 0 (unlimited) or a positive number, got %v", s.RateLimitPerS)
	}
	if s.MaxInFlight < 0 || s.MaxInFlight > MaxMaxInFlight {
		add("max_in_flight", "must be 0 (the dispatcher's default) to %d, got %d", MaxMaxInFlight, s.MaxInFlight)
	}
	if n := len(s.RetrySchedule); n > MaxRetries {
		add("retry_schedule", "has %d waits; at most %d are allowed", n, MaxRetries)
	} else {
		for i, w := range s.RetrySchedule {
			f := fmt.Sprintf("retry_schedule[%d]", i)
			d, err := time.ParseDuration(w)
			switch {
			case err != nil:
				add(f, "%q is not a Go duration such as \"5s\", \"2m\" or \"1h30m\"", w)
			case d < MinRetryWait || d > MaxRetryWait:
				add(f, "%q must be from %s to %s", w, MinRetryWait, MaxRetryWait)
			}
		}
	}
	if n := len(s.Description); n > MaxDescriptionBytes {
		add("description", "is %d bytes; at most %d are allowed", n, MaxDescriptionBytes)
	}
	if n := len(s.DisabledReason); n > MaxDisabledReasonLen {
		add("disabled_reason", "is %d bytes; at most %d are allowed", n, MaxDisabledReasonLen)
	}
	if !slices.Contains(Schemes, SchemeOf(s)) {
		add("signature_scheme", "%q is not a signature scheme: give %q (HMAC-SHA256, whsec_ secrets) or %q (Ed25519, verified with a whpk_ public key)", s.SignatureScheme, SchemeV1, SchemeV1a)
	}
	return errors.Join(errs...)
}

func checkHeaders(h map[string]string) []error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &catalog.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if len(h) > MaxHeaders {
		add("headers", "has %d headers; at most %d are allowed", len(h), MaxHeaders)
		return errs
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	seen := make(map[string]string, len(h))
	for _, name := range names {
		f := "headers." + name
		value := h[name]
		lower := normalizeHeaderName(name)
		switch {
		case !headerNameRE.MatchString(name):
			add(f, "%q is not a valid HTTP header name", name)
		case slices.Contains(ReservedHeaders, lower):
			add(f, "%s is set by Surge on every delivery and cannot be overridden (reserved: %s)", name, strings.Join(ReservedHeaders, ", "))
		case seen[lower] != "":
			add(f, "%s and %s are the same header (names are case-insensitive)", seen[lower], name)
		case strings.ContainsAny(value, "\r\n"):
			add(f, "the value contains CR or LF, which would split the HTTP header")
		case strings.ContainsFunc(value, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }):
			add(f, "the value contains control characters")
		case len(value) > MaxHeaderValueBytes:
			add(f, "the value is %d bytes; at most %d are allowed", len(value), MaxHeaderValueBytes)
		}
		seen[lower] = name
	}
	return errs
}

// checkURL checks the target URL's form and, through the SSRF rules, where
// it points. The error is the message of a "url" field error.
func (v Validator) checkURL(ctx context.Context, raw string, allowPrivate bool) error {
	if raw == "" {
		return errors.New("is empty")
	}
	if len(raw) > MaxURLLength {
		return fmt.Errorf("is %d characters; at most %d are allowed", len(raw), MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("is not a URL: %v", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an absolute http:// or https:// URL")
	case u.User != nil:
		return errors.New("must not carry user:password@; send credentials in headers instead")
	case u.Hostname() == "":
		return errors.New("has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not 1 to 65535", p)
		}
	}
	return v.checkHost(ctx, u.Hostname(), allowPrivate)
}

// checkHost applies the SSRF rules to a URL's host: an IP literal is
// classified directly, "localhost" (and *.localhost) is loopback, and a
// host name is resolved within the timeout. A lookup that fails is not a
// refusal.
func (v Validator) checkHost(ctx context.Context, host string, allowPrivate bool) error {
	if a, err := ParseAddr(host); err == nil {
		return describe(host, "", CheckAddr(a, allowPrivate, v.AllowLoopback))
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return describe(host, "", checkClass(Loopback, allowPrivate, v.AllowLoopback))
	}
	if isNumericName(name) {
		return fmt.Errorf("host %q is neither a DNS name nor an IP address in standard notation", host)
	}
	r := v.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	timeout := v.ResolveTimeout
	if timeout <= 0 {
		timeout = DefaultResolveTimeout
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addrs, err := r.LookupIPAddr(lctx, name)
	if err != nil {
		return nil // the dispatcher checks again at dial time
	}
	for _, ia := range addrs {
		a, ok := addrFromIP(ia.IP)
		if !ok {
			continue
		}
		if err := CheckAddr(a, allowPrivate, v.AllowLoopback); err != nil {
			return describe(host, a.String(), err)
		}
	}
	return nil
}

// isNumericName reports whether a name that is not an IP address in
// standard notation still looks numeric ("2130706433", "127.1",
// "0x7f.0.0.1"): resolvers may read such names as addresses, and no DNS
// top-level label is all digits.
func isNumericName(name string) bool {
	labels := strings.Split(name, ".")
	last := labels[len(labels)-1]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") {
		return true
	}
	return strings.IndexFunc(last, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

// describe turns an address refusal into the message of the url field.
func describe(host, resolved string, err error) error {
	if err == nil {
		return nil
	}
	if resolved != "" {
		return fmt.Errorf("host %q resolves to %s, %w", host, resolved, err)
	}
	return fmt.Errorf("host %q is %w", host, err)
}
