package ingest_test

import (
	"crypto/hmac"
	"crypto/sha256"
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

const (
	sigWhsec      = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	sigOtherWhsec = "whsec_dGhpcyBpcyBhbm90aGVyIDI0LWJ5dGUga2V5IQ=="
	sigHMACSecret = "shpss_6c1e0b9a7d"
)

var (
	sigNow  = time.Date(2024, 11, 29, 10, 0, 0, 0, time.UTC)
	sigBody = []byte(`{"type":"order.placed","entity":{"type":"order","id":"100012"},"data":{"total":59.9}}`)
)

// sigStandard signs body with the official library, as a sender would.
func sigStandard(t *testing.T, secret, msgID string, ts time.Time, body []byte) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(msgID, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, msgID)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return h
}

func sigMAC(secret string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

func TestSignatureStandardWebhooks(t *testing.T) {
	sig := &catalog.Signature{Scheme: catalog.SchemeStandardWebhooks, Secret: sigWhsec}
	tampered := []byte(strings.Replace(string(sigBody), "59.9", "0.01", 1))
	tests := []struct {
		name    string
		sig     *catalog.Signature
		h       http.Header
		body    []byte
		wantErr string // substring of the 401 message; "" = valid
	}{
		{name: "good", sig: sig, h: sigStandard(t, sigWhsec, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", sigNow, sigBody), body: sigBody},
		{name: "good, 4 minutes old", sig: sig, h: sigStandard(t, sigWhsec, "msg_1", sigNow.Add(-4*time.Minute), sigBody), body: sigBody},
		{name: "good among rotated signatures", sig: sig, body: sigBody, h: func() http.Header {
			h := sigStandard(t, sigWhsec, "msg_1", sigNow, sigBody)
			old := sigStandard(t, sigOtherWhsec, "msg_1", sigNow, sigBody)
			h.Set("webhook-signature", old.Get("webhook-signature")+" "+h.Get("webhook-signature"))
			return h
		}()},
		{name: "wider tolerance accepts an older message", sig: &catalog.Signature{Scheme: catalog.SchemeStandardWebhooks, Secret: sigWhsec, ToleranceS: 3600},
			h: sigStandard(t, sigWhsec, "msg_1", sigNow.Add(-50*time.Minute), sigBody), body: sigBody},
		{name: "wrong secret", sig: sig, h: sigStandard(t, sigOtherWhsec, "msg_1", sigNow, sigBody), body: sigBody, wantErr: "no v1 signature"},
		{name: "tampered body", sig: sig, h: sigStandard(t, sigWhsec, "msg_1", sigNow, sigBody), body: tampered, wantErr: "no v1 signature"},
		{name: "replayed under another webhook-id", sig: sig, body: sigBody, wantErr: "no v1 signature", h: func() http.Header {
			h := sigStandard(t, sigWhsec, "msg_1", sigNow, sigBody)
			h.Set("webhook-id", "msg_2")
			return h
		}()},
		{name: "stale timestamp", sig: sig, h: sigStandard(t, sigWhsec, "msg_1", sigNow.Add(-10*time.Minute), sigBody), body: sigBody, wantErr: "600 s old, outside the 300 s tolerance"},
		{name: "timestamp in the future", sig: sig, h: sigStandard(t, sigWhsec, "msg_1", sigNow.Add(6*time.Minute), sigBody), body: sigBody, wantErr: "in the future"},
		{name: "narrow tolerance", sig: &catalog.Signature{Scheme: catalog.SchemeStandardWebhooks, Secret: sigWhsec, ToleranceS: 30},
			h: sigStandard(t, sigWhsec, "msg_1", sigNow.Add(-time.Minute), sigBody), body: sigBody, wantErr: "outside the 30 s tolerance"},
		{name: "timestamp not a number", sig: sig, body: sigBody, wantErr: "not a Unix time", h: func() http.Header {
			h := sigStandard(t, sigWhsec, "msg_1", sigNow, sigBody)
			h.Set("webhook-timestamp", sigNow.Format(time.RFC3339))
			return h
		}()},
		{name: "missing signature header", sig: sig, body: sigBody, wantErr: "missing webhook-signature header", h: func() http.Header {
			h := sigStandard(t, sigWhsec, "msg_1", sigNow, sigBody)
			h.Del("webhook-signature")
			return h
		}()},
		{name: "missing id header", sig: sig, body: sigBody, wantErr: "missing webhook-id header", h: func() http.Header {
			h := sigStandard(t, sigWhsec, "msg_1", sigNow, sigBody)
			h.Del("webhook-id")
			return h
		}()},
		{name: "no headers at all", sig: sig, h: http.Header{}, body: sigBody, wantErr: "missing webhook-id header"},
		{name: "unsigned source", sig: nil, h: http.Header{}, body: sigBody},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ingest.VerifySignature(tc.sig, tc.h, tc.body, sigNow)
			sigCheck(t, err, tc.wantErr, sigWhsec)
		})
	}
}

// sigCheck asserts a 401 bad_signature whose message holds want and none
// of the secrets or expected values.
func sigCheck(t *testing.T, err error, want string, secrets ...string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var he *httpx.Error
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized || he.Code != httpx.CodeBadSignature {
		t.Fatalf("error %v, want 401 %s", err, httpx.CodeBadSignature)
	}
	if !strings.Contains(he.Message, want) {
		t.Errorf("message %q does not contain %q", he.Message, want)
	}
	for _, s := range secrets {
		if strings.Contains(he.Message, s) || strings.Contains(he.Message, strings.TrimPrefix(s, "whsec_")) {
			t.Errorf("message %q leaks the secret", he.Message)
		}
	}
}

func TestSignatureHMAC(t *testing.T) {
	hexSig := &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex, Header: "X-Shop-Signature", Secret: sigHMACSecret}
	b64Sig := &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Base64, Secret: sigHMACSecret} // default X-Signature
	tsSig := &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex, Secret: sigHMACSecret, TimestampHeader: "X-Timestamp", ToleranceS: 120}
	good := sigMAC(sigHMACSecret, sigBody)
	wrong := sigMAC("not-the-secret", sigBody)
	tampered := []byte(strings.Replace(string(sigBody), "59.9", "0.01", 1))
	ts := strconv.FormatInt(sigNow.Unix(), 10)
	staleTS := strconv.FormatInt(sigNow.Add(-5*time.Minute).Unix(), 10)
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name    string
		sig     *catalog.Signature
		h       http.Header
		body    []byte
		wantErr string
	}{
		{name: "hex good", sig: hexSig, h: hdr("X-Shop-Signature", hex.EncodeToString(good)), body: sigBody},
		{name: "hex upper case with sha256= prefix", sig: hexSig, h: hdr("X-Shop-Signature", "sha256="+strings.ToUpper(hex.EncodeToString(good))), body: sigBody},
		{name: "hex wrong secret", sig: hexSig, h: hdr("X-Shop-Signature", hex.EncodeToString(wrong)), body: sigBody, wantErr: "X-Shop-Signature does not match the body"},
		{name: "hex tampered body", sig: hexSig, h: hdr("X-Shop-Signature", hex.EncodeToString(good)), body: tampered, wantErr: "does not match the body"},
		{name: "hex missing header", sig: hexSig, h: hdr("X-Signature", hex.EncodeToString(good)), body: sigBody, wantErr: "missing X-Shop-Signature header"},
		{name: "hex given base64", sig: hexSig, h: hdr("X-Shop-Signature", base64.StdEncoding.EncodeToString(good)), body: sigBody, wantErr: "not a hex HMAC-SHA256"},
		{name: "hex truncated", sig: hexSig, h: hdr("X-Shop-Signature", hex.EncodeToString(good[:16])), body: sigBody, wantErr: "not a hex HMAC-SHA256"},

		{name: "base64 good in the default header", sig: b64Sig, h: hdr("X-Signature", base64.StdEncoding.EncodeToString(good)), body: sigBody},
		{name: "base64 url-safe unpadded", sig: b64Sig, h: hdr("X-Signature", base64.RawURLEncoding.EncodeToString(good)), body: sigBody},
		{name: "base64 wrong secret", sig: b64Sig, h: hdr("X-Signature", base64.StdEncoding.EncodeToString(wrong)), body: sigBody, wantErr: "does not match the body"},
		{name: "base64 tampered body", sig: b64Sig, h: hdr("X-Signature", base64.StdEncoding.EncodeToString(good)), body: tampered, wantErr: "does not match the body"},
		{name: "base64 missing header", sig: b64Sig, h: hdr(), body: sigBody, wantErr: "missing X-Signature header"},
		{name: "base64 garbage", sig: b64Sig, h: hdr("X-Signature", "%%%"), body: sigBody, wantErr: "not a base64 HMAC-SHA256"},

		{name: "timestamped good", sig: tsSig, body: sigBody,
			h: hdr("X-Timestamp", ts, "X-Signature", hex.EncodeToString(sigMAC(sigHMACSecret, []byte(ts+"."), sigBody)))},
		{name: "timestamped stale", sig: tsSig, body: sigBody, wantErr: "300 s old, outside the 120 s tolerance",
			h: hdr("X-Timestamp", staleTS, "X-Signature", hex.EncodeToString(sigMAC(sigHMACSecret, []byte(staleTS+"."), sigBody)))},
		{name: "timestamp swapped for a fresh one", sig: tsSig, body: sigBody, wantErr: "does not match the body",
			h: hdr("X-Timestamp", ts, "X-Signature", hex.EncodeToString(sigMAC(sigHMACSecret, []byte(staleTS+"."), sigBody)))},
		{name: "timestamped body only signed", sig: tsSig, body: sigBody, wantErr: "does not match the body",
			h: hdr("X-Timestamp", ts, "X-Signature", hex.EncodeToString(good))},
		{name: "timestamp missing", sig: tsSig, body: sigBody, wantErr: "missing X-Timestamp header",
			h: hdr("X-Signature", hex.EncodeToString(sigMAC(sigHMACSecret, []byte(ts+"."), sigBody)))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ingest.VerifySignature(tc.sig, tc.h, tc.body, sigNow)
			sigCheck(t, err, tc.wantErr, sigHMACSecret, hex.EncodeToString(good), base64.StdEncoding.EncodeToString(good))
		})
	}
}

func TestSignatureMisconfiguredSourceIsNotTheSendersFault(t *testing.T) {
	for _, sig := range []*catalog.Signature{
		{Scheme: "md5", Secret: "x"},
		{Scheme: catalog.SchemeStandardWebhooks, Secret: "whsec_not base64!"},
	} {
		h := sigStandard(t, sigWhsec, "msg_1", sigNow, sigBody)
		err := ingest.VerifySignature(sig, h, sigBody, sigNow)
		var he *httpx.Error
		if err == nil || errors.As(err, &he) {
			t.Errorf("%s: got %v, want a plain (500) error", sig.Scheme, err)
		}
		if err != nil && strings.Contains(err.Error(), "not base64!") {
			t.Errorf("error %q quotes the secret", err)
		}
	}
}
