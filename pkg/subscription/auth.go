package subscription

import (
	"fmt"
	"slices"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
)

// Kinds of endpoint authentication, as Auth.Kind names them.
const (
	AuthBasic  = "basic"
	AuthOAuth2 = "oauth2"
	AuthMTLS   = "mtls"
)

// Redacted is what a read shows in place of a secret (a basic password,
// an OAuth2 client secret, an mTLS client key). An update that sends it
// back for an auth of the same kind keeps the stored value, so GET, edit,
// PATCH works without re-typing secrets; catalog.Source.Redacted uses the
// same text.
const Redacted = "[redacted]"

// Auth is a subscription's endpoint authentication as the admin API takes
// and shows it: exactly one of Basic, OAuth2 and MTLS. In a View the
// secret fields hold Redacted and Kind names the part that is set; in an
// Input Kind may be left out, and when given must name the part that is
// set. An Input with no part ({}) removes the subscription's auth.
type Auth struct {
	Kind   string      `json:"kind,omitempty"`
	Basic  *BasicAuth  `json:"basic,omitempty"`
	OAuth2 *OAuth2Auth `json:"oauth2,omitempty"`
	MTLS   *MTLSAuth   `json:"mtls,omitempty"`
}

// BasicAuth is HTTP basic authentication: an Authorization header on
// every attempt.
type BasicAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// OAuth2Auth is an OAuth2 client-credentials grant: the dispatcher fetches
// a bearer token from TokenURL and sends it on every attempt.
type OAuth2Auth struct {
	TokenURL     string   `json:"token_url"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Scopes       []string `json:"scopes,omitempty"`
	Audience     string   `json:"audience,omitempty"`
}

// MTLSAuth is mutual TLS: the client certificate (and its key) the
// dispatcher presents to the endpoint, and the CAs it trusts for it
// instead of the system roots when CAPEM is set.
type MTLSAuth struct {
	ClientCertPEM string `json:"client_cert_pem"`
	ClientKeyPEM  string `json:"client_key_pem"`
	CAPEM         string `json:"ca_pem,omitempty"`
}

// AuthKind names the part of a that is set ("basic", "oauth2", "mtls");
// "" for no auth. With more than one part set (which Validate refuses) it
// names the first.
func AuthKind(a *event.EndpointAuth) string {
	switch {
	case a == nil:
		return ""
	case a.Basic != nil:
		return AuthBasic
	case a.OAuth2 != nil:
		return AuthOAuth2
	case a.MTLS != nil:
		return AuthMTLS
	}
	return ""
}

// authKinds names every part of a that is set, in the order basic,
// oauth2, mtls.
func authKinds(a *Auth) []string { return kindsSet(a.Basic != nil, a.OAuth2 != nil, a.MTLS != nil) }

// storedKinds is authKinds of the stored form.
func storedKinds(a *event.EndpointAuth) []string {
	return kindsSet(a.Basic != nil, a.OAuth2 != nil, a.MTLS != nil)
}

// kindsSet names the kinds whose part is set.
func kindsSet(basic, oauth2, mtls bool) []string {
	var out []string
	for _, k := range []struct {
		set  bool
		name string
	}{{basic, AuthBasic}, {oauth2, AuthOAuth2}, {mtls, AuthMTLS}} {
		if k.set {
			out = append(out, k.name)
		}
	}
	return out
}

// NewAuthView is the API form of stored auth: its kind and non-secret
// parts, the secret fields Redacted. nil for no auth.
func NewAuthView(a *event.EndpointAuth) *Auth {
	if AuthKind(a) == "" {
		return nil
	}
	v := &Auth{Kind: AuthKind(a)}
	if b := a.Basic; b != nil {
		v.Basic = &BasicAuth{Username: b.Username, Password: Redacted}
	}
	if o := a.OAuth2; o != nil {
		v.OAuth2 = &OAuth2Auth{TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecret: Redacted,
			Scopes: slices.Clone(o.Scopes), Audience: o.Audience}
	}
	if m := a.MTLS; m != nil {
		v.MTLS = &MTLSAuth{ClientCertPEM: m.ClientCertPEM, ClientKeyPEM: Redacted, CAPEM: m.CAPEM}
	}
	return v
}

// storedAuth is the stored form of in, with every Redacted secret replaced
// by the one cur holds for the same kind; a Redacted value without a
// stored one stays, and Validate refuses it. nil when in sets no part.
func storedAuth(in *Auth, cur *event.EndpointAuth) *event.EndpointAuth {
	if len(authKinds(in)) == 0 {
		return nil
	}
	if cur == nil {
		cur = &event.EndpointAuth{}
	}
	out := &event.EndpointAuth{}
	if b := in.Basic; b != nil {
		out.Basic = &event.BasicAuth{Username: b.Username, Password: b.Password}
		if b.Password == Redacted && cur.Basic != nil {
			out.Basic.Password = cur.Basic.Password
		}
	}
	if o := in.OAuth2; o != nil {
		out.OAuth2 = &event.OAuth2ClientCredentials{TokenURL: o.TokenURL, ClientID: o.ClientID,
			ClientSecret: o.ClientSecret, Scopes: slices.Clone(o.Scopes), Audience: o.Audience}
		if out.OAuth2.Scopes == nil {
			out.OAuth2.Scopes = []string{}
		}
		if o.ClientSecret == Redacted && cur.OAuth2 != nil {
			out.OAuth2.ClientSecret = cur.OAuth2.ClientSecret
		}
	}
	if m := in.MTLS; m != nil {
		out.MTLS = &event.MutualTLS{ClientCertPEM: m.ClientCertPEM, ClientKeyPEM: m.ClientKeyPEM, CAPEM: m.CAPEM}
		if m.ClientKeyPEM == Redacted && cur.MTLS != nil {
			out.MTLS.ClientKeyPEM = cur.MTLS.ClientKeyPEM
		}
	}
	return out
}

// CheckAuth checks what of the auth in the body Validate cannot see in
// the stored form: a kind that names another part than the one set. The
// error is a *catalog.FieldError on "auth.kind", or nil.
func (in Input) CheckAuth() error {
	if in.Auth == nil || in.Auth.Kind == "" {
		return nil
	}
	kinds := authKinds(in.Auth)
	switch k := in.Auth.Kind; {
	case k != AuthBasic && k != AuthOAuth2 && k != AuthMTLS:
		return &catalog.FieldError{Field: "auth.kind", Message: fmt.Sprintf("%q is not a kind of auth: give basic, oauth2 or mtls, or leave it out", k)}
	case len(kinds) == 0:
		return &catalog.FieldError{Field: "auth.kind", Message: fmt.Sprintf("is %q but the auth sets no part; give auth.%s, or send {} to remove the auth", k, k)}
	case len(kinds) == 1 && kinds[0] != k:
		return &catalog.FieldError{Field: "auth.kind", Message: fmt.Sprintf("is %q but the auth sets %s; leave kind out or make them agree", k, kinds[0])}
	}
	return nil
}

// cloneAuth is a deep copy of a.
func cloneAuth(a *event.EndpointAuth) *event.EndpointAuth {
	if a == nil {
		return nil
	}
	out := &event.EndpointAuth{}
	if a.Basic != nil {
		b := *a.Basic
		out.Basic = &b
	}
	if a.OAuth2 != nil {
		o := *a.OAuth2
		o.Scopes = slices.Clone(o.Scopes)
		out.OAuth2 = &o
	}
	if a.MTLS != nil {
		m := *a.MTLS
		out.MTLS = &m
	}
	return out
}
