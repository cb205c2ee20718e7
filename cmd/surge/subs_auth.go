package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/surgehq/surge/pkg/subscription"
)

// authFlags are the create/update flags of a subscription's endpoint
// authentication. They build the body's "auth" object, which replaces the
// stored auth whole; on update a secret that is not given is sent as the
// redaction placeholder, so the stored one of the same kind is kept.
type authFlags struct {
	Basic        string
	TokenURL     string
	ClientID     string
	ClientSecret string
	Scopes       []string
	Audience     string
	ClientCert   string
	ClientKey    string
	CACert       string
	NoAuth       bool
}

var (
	oauth2Flags = []string{"oauth2-token-url", "oauth2-client-id", "oauth2-client-secret", "oauth2-scope", "oauth2-audience"}
	mtlsFlags   = []string{"client-cert", "client-key", "ca-cert"}
	// authFlagNames are every auth flag, for "nothing to update".
	authFlagNames = append(append([]string{"basic-auth"}, append(oauth2Flags, mtlsFlags...)...), "no-auth")
)

func (f *authFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.Basic, "basic-auth", "", "HTTP basic auth USER:PASSWORD sent with every delivery")
	fs.StringVar(&f.TokenURL, "oauth2-token-url", "", "OAuth2 client-credentials token endpoint (SSRF rules as for --url)")
	fs.StringVar(&f.ClientID, "oauth2-client-id", "", "OAuth2 client id")
	fs.StringVar(&f.ClientSecret, "oauth2-client-secret", "", "OAuth2 client secret (update: the stored one when not given)")
	fs.StringArrayVar(&f.Scopes, "oauth2-scope", nil, "OAuth2 scope to request (repeatable)")
	fs.StringVar(&f.Audience, "oauth2-audience", "", "OAuth2 audience parameter of the token request")
	fs.StringVar(&f.ClientCert, "client-cert", "", "mTLS: PEM file of the client certificate (chain) presented to the endpoint")
	fs.StringVar(&f.ClientKey, "client-key", "", "mTLS: PEM file of the client certificate's private key (update: the stored one when not given)")
	fs.StringVar(&f.CACert, "ca-cert", "", "mTLS: PEM file of the CAs to trust for the endpoint instead of the system roots")
	fs.BoolVar(&f.NoAuth, "no-auth", false, "remove the subscription's endpoint authentication")
}

// body is the "auth" object of the auth flags given, or nil when none is.
// update says the body is a PATCH: missing secrets keep the stored ones.
func (f *authFlags) body(fs *pflag.FlagSet, update bool) (map[string]any, error) {
	changed := func(names ...string) bool {
		for _, n := range names {
			if fs.Changed(n) {
				return true
			}
		}
		return false
	}
	basic, oauth2, mtls := changed("basic-auth"), changed(oauth2Flags...), changed(mtlsFlags...)
	if f.NoAuth {
		if basic || oauth2 || mtls {
			return nil, errors.New("--no-auth removes the auth: give it without --basic-auth, --oauth2-* or --client-cert/--client-key/--ca-cert")
		}
		return map[string]any{}, nil
	}
	secret := func(flag, value string) (string, bool) {
		switch {
		case fs.Changed(flag):
			return value, true
		case update:
			return subscription.Redacted, true
		}
		return "", false
	}
	auth := map[string]any{}
	if basic {
		user, pass, ok := strings.Cut(f.Basic, ":")
		if !ok {
			return nil, fmt.Errorf("--basic-auth: want USER:PASSWORD")
		}
		auth["basic"] = map[string]any{"username": user, "password": pass}
	}
	if oauth2 {
		o := map[string]any{"token_url": f.TokenURL, "client_id": f.ClientID}
		if s, ok := secret("oauth2-client-secret", f.ClientSecret); ok {
			o["client_secret"] = s
		}
		if len(f.Scopes) > 0 {
			o["scopes"] = f.Scopes
		}
		if f.Audience != "" {
			o["audience"] = f.Audience
		}
		auth["oauth2"] = o
	}
	if mtls {
		m := map[string]any{}
		for _, p := range []struct{ flag, file, field string }{
			{"client-cert", f.ClientCert, "client_cert_pem"},
			{"client-key", f.ClientKey, "client_key_pem"},
			{"ca-cert", f.CACert, "ca_pem"},
		} {
			if !fs.Changed(p.flag) {
				continue
			}
			b, err := os.ReadFile(p.file)
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", p.flag, err)
			}
			m[p.field] = string(b)
		}
		if _, ok := m["client_key_pem"]; !ok {
			if s, ok := secret("client-key", ""); ok {
				m["client_key_pem"] = s
			}
		}
		auth["mtls"] = m
	}
	if len(auth) == 0 {
		return nil, nil
	}
	return auth, nil
}

// authText is the AUTH row of the table: the kind and its non-secret
// parts; never a secret (the API does not answer them).
func authText(a *subscription.Auth) string {
	switch {
	case a == nil:
		return ""
	case a.Basic != nil:
		return "basic (user " + a.Basic.Username + ")"
	case a.OAuth2 != nil:
		s := "oauth2 (client " + a.OAuth2.ClientID + " at " + a.OAuth2.TokenURL
		if len(a.OAuth2.Scopes) > 0 {
			s += ", scopes " + strings.Join(a.OAuth2.Scopes, " ")
		}
		if a.OAuth2.Audience != "" {
			s += ", audience " + a.OAuth2.Audience
		}
		return s + ")"
	case a.MTLS != nil:
		s := "mtls (client certificate " + certSubject(a.MTLS.ClientCertPEM)
		if a.MTLS.CAPEM != "" {
			s += ", own CA bundle"
		}
		return s + ")"
	}
	return a.Kind
}

// certSubject is the subject of the first certificate in a PEM text, and
// its expiry; "?" when it does not parse.
func certSubject(text string) string {
	b, _ := pem.Decode([]byte(text))
	if b == nil {
		return "?"
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%q, expires %s", c.Subject.String(), c.NotAfter.UTC().Format("2006-01-02"))
}
