package webhook_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/webhook"
)

// Computed independently (Python's cryptography package, Ed25519) from
// the seeds 0x00..0x1f and 0x64..0x83 over goldenID, goldenTime and
// goldenBody.
const (
	goldenKey1   = "whsk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8DoQe/884Qvh1w3RjnS8CZZ+TWMJulDV8d3IZkElUxuA=="
	goldenKey2   = "whsk_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoMLvDRqV2Z8OAEgvZx/1+UdLF/f6jfNL1v0BbLGv28teA=="
	goldenSigA1  = "v1a,/8d5GXRANEn2n79Kv6t73PuzKdcXPoL1hrzfDEOrkefowqY1pKuGsi+2HoGdN8aQVbgNVgO7JkXIit0v2CiKAQ=="
	goldenSigA2  = "v1a,QAUryy8EVyne6Wae1in9oGbemUTh+0oF9Im11RGWFeKhtjD6C3ST6WAD9QRwj8hsev4x4mgGnev66vHRiQZWAg=="
	goldenSeed1  = "whsk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	goldenPublic = "whpk_A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
)

func TestSignV1aGolden(t *testing.T) {
	checkSignatures(t, []signCase{
		{"one key", []string{goldenKey1}, goldenSigA1},
		{"the seed form of the key", []string{goldenSeed1}, goldenSigA1},
		{"rotation signs with each, in order", []string{goldenKey2, goldenKey1}, goldenSigA2 + " " + goldenSigA1},
		{"a v1 secret and a v1a key, each by its scheme", []string{goldenKey1, goldenSecret1}, goldenSigA1 + " " + goldenSig1},
	})
}

// TestSignV1aVerifiesWithThePublicKey signs random deliveries with new
// keys, one to four at a time, and verifies each entry with
// crypto/ed25519 and the whpk_ public key alone.
func TestSignV1aVerifiesWithThePublicKey(t *testing.T) {
	for i := range 100 {
		keys := make([]string, 1+i%4)
		for k := range keys {
			s, err := subscription.NewSecretFor(subscription.SchemeV1a, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			keys[k] = s.Value
		}
		id := "msg_" + strconv.Itoa(i)
		body := randomBytes(t, i*37)
		ts := time.Unix(1767225600+int64(i), 0)
		sig, err := webhook.Sign(id, ts, body, keys)
		if err != nil {
			t.Fatal(err)
		}
		entries := strings.Split(sig, " ")
		if len(entries) != len(keys) {
			t.Fatalf("case %d: %d entries for %d keys", i, len(entries), len(keys))
		}
		content := []byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "." + string(body))
		for k, e := range entries {
			b64, ok := strings.CutPrefix(e, "v1a,")
			raw, err := base64.StdEncoding.DecodeString(b64)
			if !ok || err != nil || len(raw) != ed25519.SignatureSize {
				t.Fatalf("case %d: entry %q is not v1a,<base64 of 64 bytes>", i, e)
			}
			pub := publicKey(t, keys[k])
			if !ed25519.Verify(pub, content, raw) {
				t.Fatalf("case %d: entry %d does not verify with its key's public key", i, k)
			}
			if ed25519.Verify(pub, append(content, 'x'), raw) {
				t.Fatalf("case %d: entry %d verifies a changed body", i, k)
			}
		}
	}
}

// TestSignV1aConcurrent signs from many goroutines with more keys than
// Sign keeps parsed and bodies of many sizes: a reused content buffer
// never carries one delivery's bytes into another's signature.
func TestSignV1aConcurrent(t *testing.T) {
	keys := make([]string, 300)
	pubs := make([]ed25519.PublicKey, len(keys))
	for i := range keys {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		keys[i], pubs[i] = subscription.SigningKeyPrefix+base64.StdEncoding.EncodeToString(priv), pub
	}
	ts := time.Unix(1767225600, 0)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < 2000; i += 8 {
				k := (i * 7) % len(keys)
				id := "msg_" + strings.Repeat("y", i%50)
				body := []byte(strings.Repeat(strconv.Itoa(i), 1+(i*13)%300))
				sig, err := webhook.Sign(id, ts, body, []string{keys[k]})
				if err != nil {
					errs <- err.Error()
					return
				}
				raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "v1a,"))
				if !ed25519.Verify(pubs[k], []byte(id+".1767225600."+string(body)), raw) {
					errs <- "signature " + strconv.Itoa(i) + " does not verify"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestSignV1aErrors(t *testing.T) {
	for _, bad := range []string{"whsk_not*base64!", "whsk_AAAA", goldenPublic} {
		_, err := webhook.Sign("msg_1", time.Now(), nil, []string{goldenKey1, bad})
		if err == nil {
			t.Fatalf("%q signed", bad)
		}
		if strings.Contains(err.Error(), strings.TrimPrefix(bad, "whsk_")) && strings.HasPrefix(bad, "whsk_") {
			t.Errorf("the error %q reveals the key", err)
		}
		if strings.HasPrefix(bad, "whsk_") && !strings.Contains(err.Error(), subscription.Fingerprint(bad)) {
			t.Errorf("the error %q does not name the key by its fingerprint", err)
		}
	}
}

func publicKey(t *testing.T, signingKey string) ed25519.PublicKey {
	t.Helper()
	text, ok := subscription.PublicKeyOf(signingKey)
	if !ok {
		t.Fatalf("no public key for a signing key")
	}
	pub, err := subscription.ParsePublicKey(text)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// BenchmarkSign is one delivery's signature of a 600-byte body: v1 (one
// whsec_ secret), v1a (one whsk_ key) and a v1a rotation (two keys).
func BenchmarkSign(b *testing.B) {
	body := []byte(strings.Repeat("x", 600))
	ts := time.Unix(1767225600, 0)
	for _, bc := range []struct {
		name    string
		secrets []string
	}{
		{"v1", []string{goldenSecret1}},
		{"v1a", []string{goldenKey1}},
		{"v1a-rotation", []string{goldenKey2, goldenKey1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := webhook.Sign("msg_2pQ4", ts, body, bc.secrets); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
