package ingest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/httpx"
)

// VerifySignature checks that body and h were signed as sig says, at a
// time within sig's tolerance of now. A nil sig is an unsigned source and
// passes. A failed check is a 401 *httpx.Error saying what is wrong
// (missing header, timestamp outside the tolerance, no matching
// signature) without revealing the expected value; a sig with an unknown
// scheme or an unusable secret is a plain error (a configuration fault,
// not the sender's).
//
// Standard Webhooks signatures are checked with the official library. Its
// timestamp tolerance is a fixed five minutes against the wall clock, so
// the timestamp is checked here against now and sig.Tolerance() and the
// library checks the signature alone.
//
// The hmac-sha256-* schemes take the HMAC-SHA256 of the raw body (of
// "<timestamp>.<body>" when sig.TimestampHeader is set), hex or base64, in
// sig.HeaderName(), optionally prefixed "sha256=".
func VerifySignature(sig *catalog.Signature, h http.Header, body []byte, now time.Time) error {
	if sig == nil {
		return nil
	}
	switch sig.Scheme {
	case catalog.SchemeStandardWebhooks:
		return verifyStandardWebhooks(sig, h, body, now)
	case catalog.SchemeHMACSHA256Hex, catalog.SchemeHMACSHA256Base64:
		return verifyHMAC(sig, h, body, now)
	default:
		return fmt.Errorf("verifying signature: unknown scheme %q", sig.Scheme)
	}
}

func badSignature(format string, args ...any) *httpx.Error {
	return httpx.Errorf(http.StatusUnauthorized, httpx.CodeBadSignature, format, args...)
}

func verifyStandardWebhooks(sig *catalog.Signature, h http.Header, body []byte, now time.Time) error {
	for _, name := range []string{standardwebhooks.HeaderWebhookID, standardwebhooks.HeaderWebhookTimestamp, standardwebhooks.HeaderWebhookSignature} {
		if trimOWS(h.Get(name)) == "" {
			return badSignature("missing %s header", name)
		}
	}
	if err := checkTimestamp(standardwebhooks.HeaderWebhookTimestamp, h.Get(standardwebhooks.HeaderWebhookTimestamp), sig.Tolerance(), now); err != nil {
		return err
	}
	wh, err := standardwebhooks.NewWebhook(sig.Secret)
	if err != nil {
		// Not wrapped: the library's message may quote the secret.
		return errors.New("verifying signature: the source's Standard Webhooks secret is not whsec_<base64>")
	}
	if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
		if errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			return badSignature("no v1 signature in %s matches the body", standardwebhooks.HeaderWebhookSignature)
		}
		return badSignature("checking %s: %v", standardwebhooks.HeaderWebhookSignature, err)
	}
	return nil
}

// trimOWS trims HTTP's optional whitespace (RFC 9110 section 5.6.3: spaces
// and tabs) from a header value. Not strings.TrimSpace: that also trims
// Unicode spaces such as U+00A0, which are part of the value as the
// sender signed it.
func trimOWS(v string) string { return strings.Trim(v, " \t") }

// checkTimestamp checks a Unix-seconds timestamp header against now.
func checkTimestamp(header, value string, tolerance time.Duration, now time.Time) error {
	secs, err := strconv.ParseInt(trimOWS(value), 10, 64)
	if err != nil {
		return badSignature("%s %q is not a Unix time in seconds", header, value)
	}
	skew := now.Sub(time.Unix(secs, 0))
	tol := int64(tolerance / time.Second)
	switch {
	case skew > tolerance:
		return badSignature("%s is %d s old, outside the %d s tolerance; sign each request when sending it", header, int64(skew/time.Second), tol)
	case -skew > tolerance:
		return badSignature("%s is %d s in the future, outside the %d s tolerance; check the sender's clock", header, int64(-skew/time.Second), tol)
	}
	return nil
}

func verifyHMAC(sig *catalog.Signature, h http.Header, body []byte, now time.Time) error {
	header := sig.HeaderName()
	got := trimOWS(h.Get(header))
	if got == "" {
		return badSignature("missing %s header", header)
	}
	if len(got) > 7 && strings.EqualFold(got[:7], "sha256=") {
		got = got[7:]
	}
	var sent []byte
	var err error
	if sig.Scheme == catalog.SchemeHMACSHA256Hex {
		sent, err = hex.DecodeString(got)
	} else {
		sent, err = decodeBase64(got)
	}
	if err != nil || len(sent) != sha256.Size {
		encoding := "hex"
		if sig.Scheme == catalog.SchemeHMACSHA256Base64 {
			encoding = "base64"
		}
		return badSignature("%s is not a %s HMAC-SHA256", header, encoding)
	}

	mac := hmac.New(sha256.New, []byte(sig.Secret))
	if sig.TimestampHeader != "" {
		ts := trimOWS(h.Get(sig.TimestampHeader))
		if ts == "" {
			return badSignature("missing %s header", sig.TimestampHeader)
		}
		if err := checkTimestamp(sig.TimestampHeader, ts, sig.Tolerance(), now); err != nil {
			return err
		}
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
	}
	mac.Write(body)
	if !hmac.Equal(sent, mac.Sum(nil)) {
		return badSignature("%s does not match the body", header)
	}
	return nil
}

// decodeBase64 takes standard or URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}
