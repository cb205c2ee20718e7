package ingest_test

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/services/ingest"
)

// Fuzz targets for each signature scheme. Properties: a check fails only
// with the documented 401 bad_signature (the secrets are valid, so never
// a plain error, which ingest answers with a 500); a signature made as
// the scheme says verifies when its timestamp is within the tolerance and
// not outside it; and a signature that verifies for a body does not
// verify for a changed body, nor for a changed timestamp.

// changed returns body with one byte changed (or one added to an empty
// body), at a position chosen by at.
func changed(body []byte, at uint16) []byte {
	out := append([]byte(nil), body...)
	if len(out) == 0 {
		return []byte{'x'}
	}
	out[int(at)%len(out)] ^= 0x20
	return out
}

// verify runs ingest's check and asserts that a failure is a 401
// bad_signature.
func verify(t *testing.T, sig *catalog.Signature, h http.Header, body []byte) bool {
	t.Helper()
	err := ingest.VerifySignature(sig, h, body, sigNow)
	if err == nil {
		return true
	}
	var he *httpx.Error
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized || he.Code != httpx.CodeBadSignature || he.Message == "" {
		t.Fatalf("refused with %v (%T); documented: 401 bad_signature", err, err)
	}
	return false
}

// withinTolerance reports whether a timestamp skew seconds from now is
// accepted by a source with the default tolerance.
func withinTolerance(skew int64) bool {
	tol := int64(catalog.DefaultTolerance / time.Second)
	return skew >= -tol && skew <= tol
}

func FuzzSignatureStandardWebhooks(f *testing.F) {
	f.Add(sigBody, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", int64(0), "", uint16(0))
	f.Add(sigBody, "msg_1", int64(-240), "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=", uint16(7))
	f.Add([]byte{}, "msg_1", int64(301), "v1,x v2,y", uint16(1))
	f.Add([]byte(`{"a":1}`), "m", int64(-301), "v1a,==", uint16(2))
	// A message id that is a Unicode space: part of the value, not HTTP's
	// optional whitespace (found by CI's fuzz run).
	f.Add(sigBody, "\u00a0", int64(-204), "", uint16(0))
	sig := &catalog.Signature{Scheme: catalog.SchemeStandardWebhooks, Secret: sigWhsec}
	wh, err := standardwebhooks.NewWebhook(sigWhsec)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, msgID string, skew int64, sent string, at uint16) {
		msgID, ok1 := headerValue(msgID)
		sent, ok2 := headerValue(sent)
		if !ok1 || !ok2 || skew > 1<<40 || skew < -(1<<40) {
			return // cannot arrive over HTTP, or not a time
		}
		ts := sigNow.Add(time.Duration(skew) * time.Second)
		headers := func(signature string) http.Header {
			h := http.Header{}
			h.Set(standardwebhooks.HeaderWebhookID, msgID)
			h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
			h.Set(standardwebhooks.HeaderWebhookSignature, signature)
			return h
		}

		// Whatever the sender put in the signature header.
		if verify(t, sig, headers(sent), body) && verify(t, sig, headers(sent), changed(body, at)) {
			t.Fatalf("signature %q verifies for %q and for a changed body", sent, body)
		}

		// Signed as the scheme says, with the official library.
		good, err := wh.Sign(msgID, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		ok := verify(t, sig, headers(good), body)
		if want := msgID != "" && withinTolerance(skew); ok != want {
			t.Fatalf("a correct signature at %+ds with id %q: verified %v, want %v", skew, msgID, ok, want)
		}
		if ok && verify(t, sig, headers(good), changed(body, at)) {
			t.Fatalf("the signature of %q verifies for a changed body", body)
		}
		if ok {
			other := headers(good)
			other.Set(standardwebhooks.HeaderWebhookID, msgID+"x")
			if verify(t, sig, other, body) {
				t.Fatalf("the signature of message %q verifies for another message id", msgID)
			}
		}
	})
}

// hmacEncodings are the ways a sender may write the MAC: hex in either
// case, base64 standard or URL-safe, padded or not; each optionally
// prefixed "sha256=".
var hmacEncodings = map[string][]func([]byte) string{
	catalog.SchemeHMACSHA256Hex: {
		hex.EncodeToString,
		func(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) },
	},
	catalog.SchemeHMACSHA256Base64: {
		base64.StdEncoding.EncodeToString, base64.RawStdEncoding.EncodeToString,
		base64.URLEncoding.EncodeToString, base64.RawURLEncoding.EncodeToString,
	},
}

func fuzzHMAC(f *testing.F, scheme string) {
	f.Add(sigBody, "", false, int64(0), uint8(0), false, uint16(0))
	f.Add(sigBody, "sha256=00ff", true, int64(-299), uint8(1), true, uint16(3))
	f.Add([]byte{}, "not a mac", true, int64(400), uint8(2), false, uint16(9))
	f.Add([]byte("a"), strings.Repeat("A", 44), false, int64(0), uint8(3), true, uint16(0))
	encodings := hmacEncodings[scheme]
	f.Fuzz(func(t *testing.T, body []byte, sent string, withTimestamp bool, skew int64, enc uint8, prefix bool, at uint16) {
		sent, ok := headerValue(sent)
		if !ok || skew > 1<<40 || skew < -(1<<40) {
			return
		}
		sig := &catalog.Signature{Scheme: scheme, Secret: sigHMACSecret}
		ts := strconv.FormatInt(sigNow.Unix()+skew, 10)
		if withTimestamp {
			sig.TimestampHeader = "X-Timestamp"
		}
		headers := func(mac, ts string) http.Header {
			h := http.Header{}
			h.Set(sig.HeaderName(), mac)
			if withTimestamp {
				h.Set(sig.TimestampHeader, ts)
			}
			return h
		}

		// Whatever the sender put in the header.
		if verify(t, sig, headers(sent, ts), body) && verify(t, sig, headers(sent, ts), changed(body, at)) {
			t.Fatalf("header %q verifies for %q and for a changed body", sent, body)
		}

		// The MAC as the scheme says, in one of the accepted encodings.
		var mac []byte
		if withTimestamp {
			mac = sigMAC(sigHMACSecret, []byte(ts), []byte("."), body)
		} else {
			mac = sigMAC(sigHMACSecret, body)
		}
		good := encodings[int(enc)%len(encodings)](mac)
		if prefix {
			good = "sha256=" + good
		}
		ok = verify(t, sig, headers(good, ts), body)
		if want := !withTimestamp || withinTolerance(skew); ok != want {
			t.Fatalf("a correct %s MAC %q (timestamp %v at %+ds): verified %v, want %v", scheme, good, withTimestamp, skew, ok, want)
		}
		if ok && verify(t, sig, headers(good, ts), changed(body, at)) {
			t.Fatalf("the MAC of %q verifies for a changed body", body)
		}
		if ok && withTimestamp {
			later := strconv.FormatInt(sigNow.Unix()+skew+1, 10)
			if withinTolerance(skew+1) && verify(t, sig, headers(good, later), body) {
				t.Fatal("the MAC verifies with another timestamp")
			}
		}
	})
}

func FuzzSignatureHMACHex(f *testing.F) { fuzzHMAC(f, catalog.SchemeHMACSHA256Hex) }

func FuzzSignatureHMACBase64(f *testing.F) { fuzzHMAC(f, catalog.SchemeHMACSHA256Base64) }
