package subscription

import (
	"crypto/ed25519"
	"strings"
	"testing"
)

// FuzzParseSigningKey feeds whsk_/whpk_ texts to the key parsers: they
// never panic, never echo the text in an error, and a key that parses
// round-trips: its public key's text parses back to the same key, and
// the fingerprint is the public key's.
func FuzzParseSigningKey(f *testing.F) {
	for _, s := range []string{seedKey, seedOnly, otherHalf, seedPub, otherPub, "whsk_", "whpk_", "whsk_====", "whsec_AAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if pub, err := ParsePublicKey(text); err == nil {
			again, err := ParsePublicKey(FormatPublicKey(pub))
			if len(pub) != ed25519.PublicKeySize || err != nil || !again.Equal(pub) {
				t.Fatalf("ParsePublicKey(%q) = %x, which does not round-trip (%v)", text, pub, err)
			}
		}
		key, err := ParseSigningKey(text)
		if err != nil {
			if len(text) > len(SigningKeyPrefix)+8 && strings.Contains(err.Error(), text[len(SigningKeyPrefix):]) {
				t.Fatalf("the error %q echoes the key", err)
			}
			if _, ok := PublicKeyOf(text); ok {
				t.Fatalf("PublicKeyOf(%q) answers for a key ParseSigningKey refuses", text)
			}
			return
		}
		pubText, ok := PublicKeyOf(text)
		if !ok {
			t.Fatalf("PublicKeyOf(%q) has no answer for a key that parses", text)
		}
		pub, err := ParsePublicKey(pubText)
		if err != nil || !pub.Equal(key.Public()) {
			t.Fatalf("public key %q does not parse back to the key's (%v)", pubText, err)
		}
		if Fingerprint(text) != Fingerprint(pubText) {
			t.Fatalf("the key's fingerprint is not its public key's")
		}
		msg := []byte("msg_1.1.{}")
		if !ed25519.Verify(pub, msg, ed25519.Sign(key, msg)) {
			t.Fatal("the public key does not verify the key's signature")
		}
	})
}
