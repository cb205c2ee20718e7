package subscription

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
)

// Limits of a subscription's auth.
const (
	MaxAuthFieldBytes = 1024     // a user name, password, client id or secret, audience, scope
	MaxScopes         = 20       // OAuth2 scopes
	MaxPEMBytes       = 64 << 10 // a certificate chain, key or CA bundle
)

// checkAuth applies the rules of a subscription's auth: exactly one part,
// each with its required fields; the OAuth2 token URL under the same URL
// and SSRF rules as the target; PEM that parses, a key that matches its
// certificate; no Redacted placeholder without a stored secret behind it;
// no custom Authorization header next to basic or OAuth2 auth, which set
// it; mTLS only to an https target.
func (v Validator) checkAuth(ctx context.Context, s event.Subscription) []error {
	a := s.Auth
	if a == nil {
		return nil
	}
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &catalog.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	kinds := storedKinds(a)
	switch len(kinds) {
	case 0:
		add("auth", "sets no kind; give one of basic, oauth2 and mtls, or {} to remove the auth")
		return errs
	case 1:
	default:
		add("auth", "sets %s; set exactly one of basic, oauth2 and mtls", strings.Join(kinds, " and "))
		return errs
	}
	if a.Basic != nil || a.OAuth2 != nil {
		for name := range s.Headers {
			if strings.EqualFold(name, "Authorization") {
				add("headers."+name, "is set by the subscription's %s auth on every delivery; remove the header or the auth", kinds[0])
			}
		}
	}

	if b := a.Basic; b != nil {
		checkCredential(add, "auth.basic.username", b.Username, false)
		if strings.Contains(b.Username, ":") {
			add("auth.basic.username", "contains a colon, which basic auth cannot carry in a user name")
		}
		checkCredential(add, "auth.basic.password", b.Password, true)
	}
	if o := a.OAuth2; o != nil {
		if err := v.checkURL(ctx, o.TokenURL, s.AllowPrivate); err != nil {
			add("auth.oauth2.token_url", "%s", err.Error())
		}
		checkCredential(add, "auth.oauth2.client_id", o.ClientID, false)
		checkCredential(add, "auth.oauth2.client_secret", o.ClientSecret, true)
		if len(o.Scopes) > MaxScopes {
			add("auth.oauth2.scopes", "has %d scopes; at most %d are allowed", len(o.Scopes), MaxScopes)
		}
		for i, sc := range o.Scopes {
			f := fmt.Sprintf("auth.oauth2.scopes[%d]", i)
			switch {
			case sc == "":
				add(f, "is empty")
			case len(sc) > MaxAuthFieldBytes:
				add(f, "is %d bytes; at most %d are allowed", len(sc), MaxAuthFieldBytes)
			case strings.ContainsFunc(sc, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r >= 0x7f }):
				add(f, "%q contains a space, a quote, a backslash or a control character, which a scope cannot (RFC 6749 section 3.3)", sc)
			}
		}
		if len(o.Audience) > MaxAuthFieldBytes {
			add("auth.oauth2.audience", "is %d bytes; at most %d are allowed", len(o.Audience), MaxAuthFieldBytes)
		}
	}
	if m := a.MTLS; m != nil {
		if u, err := url.Parse(s.URL); err == nil && !strings.EqualFold(u.Scheme, "https") && u.Scheme != "" {
			add("auth.mtls", "needs an https:// url: a client certificate is presented in a TLS handshake, and %s has none", u.Scheme)
		}
		errs = append(errs, checkMTLS(m)...)
	}
	return errs
}

// checkCredential checks a required credential field: set, bounded, no
// control characters, and (for a secret) not the Redacted placeholder.
func checkCredential(add func(field, format string, args ...any), field, value string, secret bool) {
	switch {
	case value == "":
		add(field, "is required")
	case secret && value == Redacted:
		add(field, "is the redaction placeholder %s but no stored secret of this kind exists; send the real value", Redacted)
	case len(value) > MaxAuthFieldBytes:
		add(field, "is %d bytes; at most %d are allowed", len(value), MaxAuthFieldBytes)
	case strings.ContainsFunc(value, func(r rune) bool { return r < ' ' || r == 0x7f }):
		add(field, "contains control characters")
	}
}

// checkMTLS checks that the client certificate and key parse as PEM and
// belong together, and that the CA bundle, when given, holds certificates.
func checkMTLS(m *event.MutualTLS) []error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &catalog.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	for _, f := range []struct{ name, value string }{
		{"auth.mtls.client_cert_pem", m.ClientCertPEM},
		{"auth.mtls.client_key_pem", m.ClientKeyPEM},
		{"auth.mtls.ca_pem", m.CAPEM},
	} {
		if len(f.value) > MaxPEMBytes {
			add(f.name, "is %d bytes; at most %d are allowed", len(f.value), MaxPEMBytes)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	certOK := false
	switch err := checkCertificatePEM(m.ClientCertPEM); {
	case m.ClientCertPEM == "":
		add("auth.mtls.client_cert_pem", "is required: the client certificate, PEM")
	case err != nil:
		add("auth.mtls.client_cert_pem", "%s", err.Error())
	default:
		certOK = true
	}
	switch {
	case m.ClientKeyPEM == "":
		add("auth.mtls.client_key_pem", "is required: the client certificate's private key, PEM")
	case m.ClientKeyPEM == Redacted:
		add("auth.mtls.client_key_pem", "is the redaction placeholder %s but no stored key exists; send the real key", Redacted)
	case certOK:
		if _, err := tls.X509KeyPair([]byte(m.ClientCertPEM), []byte(m.ClientKeyPEM)); err != nil {
			add("auth.mtls.client_key_pem", "does not parse as the private key of client_cert_pem: %v", err)
		}
	}
	if m.CAPEM != "" {
		if err := checkCertificatePEM(m.CAPEM); err != nil {
			add("auth.mtls.ca_pem", "%s", err.Error())
		}
	}
	return errs
}

// checkCertificatePEM checks that text is one or more PEM CERTIFICATE
// blocks that parse as X.509 certificates.
func checkCertificatePEM(text string) error {
	rest := []byte(text)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("has a PEM block of type %q; only CERTIFICATE blocks are allowed", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d does not parse: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return fmt.Errorf("has text after its last PEM block that is not PEM")
	}
	return nil
}
