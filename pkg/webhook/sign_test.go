package webhook_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/webhook"
)

// Computed independently (Python's hmac module) from the inputs below.
const (
	goldenSecret1 = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	goldenSecret2 = "whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="
	goldenID      = "msg_2pQ4golden"
	goldenBody    = `{"type":"order.placed","entity":{"type":"order","id":"100012"}}`
	goldenSig1    = "v1,TcOFuW1qcIM3KSwKTxyzYqZiACUD78oo3WbyNS16FM4="
	goldenSig2    = "v1,5pyJlZwNkp0SjO4+7HkotMHAv8rnKFDmQSeMvNS5i8I="
)

var goldenTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestSignGolden(t *testing.T) {
	checkSignatures(t, []signCase{
		{"one secret", []string{goldenSecret1}, goldenSig1},
		{"rotation signs with each, in order", []string{goldenSecret2, goldenSecret1}, goldenSig2 + " " + goldenSig1},
		{"prefix optional", []string{strings.TrimPrefix(goldenSecret1, "whsec_")}, goldenSig1},
	})
}

// TestSignMatchesLibrary checks Sign against the official library's
// signer on random ids, bodies, keys and times.
func TestSignMatchesLibrary(t *testing.T) {
	for i := range 200 {
		key := randomBytes(t, 1+i%64)
		secret := subscription.SecretPrefix + base64.StdEncoding.EncodeToString(key)
		id := "msg_" + base64.RawURLEncoding.EncodeToString(randomBytes(t, i%20))
		body := randomBytes(t, i*7)
		n, _ := rand.Int(rand.Reader, big.NewInt(4_000_000_000))
		ts := time.Unix(n.Int64(), 0)

		got, err := webhook.Sign(id, ts, body, []string{secret})
		if err != nil {
			t.Fatal(err)
		}
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		want, err := wh.Sign(id, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("case %d: Sign = %q, library signs %q", i, got, want)
		}
	}
}

// TestSignConcurrentManySecrets signs from many goroutines with more
// secrets than Sign keeps set up, long ids included, and checks every
// signature against the library: reused HMAC state never leaks from one
// signature into another.
func TestSignConcurrentManySecrets(t *testing.T) {
	secrets := make([]string, 5000)
	for i := range secrets {
		secrets[i] = subscription.SecretPrefix + base64.StdEncoding.EncodeToString(randomBytes(t, 24))
	}
	ts := time.Unix(1767225600, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < 3*len(secrets); i += 8 {
				secret := secrets[(i*7)%len(secrets)]
				id := "msg_" + strings.Repeat("x", i%100)
				body := []byte(`{"n":` + strconv.Itoa(i) + `}`)
				got, err := webhook.Sign(id, ts, body, []string{secret})
				if err != nil {
					errs <- err
					return
				}
				wh, _ := standardwebhooks.NewWebhook(secret)
				if want, _ := wh.Sign(id, ts, body); got != want {
					errs <- fmt.Errorf("sign %d: %q, library signs %q", i, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestSignRotationVerifiesWithEitherSecret(t *testing.T) {
	now := time.Now()
	secrets := []string{newSecret(t), newSecret(t)}
	body := []byte(`{"id":"1"}`)
	sig, err := webhook.Sign("msg_1", now, body, secrets)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("signature %q has %d entries, want 2", sig, n)
	}
	h := http.Header{}
	h.Set(webhook.HeaderID, "msg_1")
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(webhook.HeaderSignature, sig)
	for i, s := range secrets {
		if err := verify(s, body, h); err != nil {
			t.Errorf("secret %d alone: %v", i, err)
		}
	}
	if err := verify(newSecret(t), body, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("an unrelated secret: err = %v, want no matching signature", err)
	}
	if err := verify(secrets[0], []byte(`{"id":"2"}`), h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("a tampered body: err = %v, want no matching signature", err)
	}
}

func TestSignErrors(t *testing.T) {
	_, err := webhook.Sign("msg_1", time.Now(), nil, nil)
	if !errors.Is(err, webhook.ErrNoSecret) {
		t.Errorf("no secrets: err = %v, want ErrNoSecret", err)
	}
	bad := "whsec_not*base64!"
	_, err = webhook.Sign("msg_1", time.Now(), nil, []string{goldenSecret1, bad})
	if err == nil {
		t.Fatal("a secret that is not base64 was accepted")
	}
	if strings.Contains(err.Error(), "not*base64") {
		t.Errorf("the error %q reveals the secret", err)
	}
	if !strings.Contains(err.Error(), subscription.Fingerprint(bad)) {
		t.Errorf("the error %q does not name the secret by its fingerprint", err)
	}
}

func verify(secret string, body []byte, h http.Header) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	return wh.Verify(body, h)
}

func newSecret(t testing.TB) string {
	t.Helper()
	s, err := subscription.NewSecret(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s.Value
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// signCase is one golden signing: the header Sign writes for the golden
// delivery with secrets.
type signCase struct {
	name    string
	secrets []string
	want    string
}

// checkSignatures runs each case as a subtest.
func checkSignatures(t *testing.T, cases []signCase) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := webhook.Sign(goldenID, goldenTime.Add(999*time.Millisecond), []byte(goldenBody), tt.secrets)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Sign = %q, want %q", got, tt.want)
			}
		})
	}
}
