package subscription

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/tlstest"
)

// authFieldErrors validates s and returns the failing fields and their
// messages.
func authFieldErrors(t *testing.T, s event.Subscription) map[string]string {
	t.Helper()
	return fieldErrors(t, Validator{Resolver: testResolver}.Validate(context.Background(), s))
}

func TestValidateAuth(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	client := ca.Client("surge")
	other := ca.Client("other")
	basic := func(u, p string) *event.EndpointAuth {
		return &event.EndpointAuth{Basic: &event.BasicAuth{Username: u, Password: p}}
	}
	oauth := func(tokenURL string) *event.EndpointAuth {
		return &event.EndpointAuth{OAuth2: &event.OAuth2ClientCredentials{TokenURL: tokenURL, ClientID: "c", ClientSecret: "s", Scopes: []string{"orders.write"}}}
	}
	mtls := func(cert, key, caPEM string) *event.EndpointAuth {
		return &event.EndpointAuth{MTLS: &event.MutualTLS{ClientCertPEM: cert, ClientKeyPEM: key, CAPEM: caPEM}}
	}
	tests := []struct {
		name      string
		auth      *event.EndpointAuth
		edit      func(*event.Subscription)
		field     string // "" = valid
		msgPart   string
		wantCount int
	}{
		{name: "basic", auth: basic("erp", "pw")},
		{name: "oauth2", auth: oauth("https://hooks.example.com/token")},
		{name: "mtls", auth: mtls(client.CertPEM, client.KeyPEM, ca.PEM)},
		{name: "mtls without CA", auth: mtls(client.CertPEM, client.KeyPEM, "")},
		{name: "missing username", auth: basic("", "pw"), field: "auth.basic.username", msgPart: "is required"},
		{name: "username with colon", auth: basic("a:b", "pw"), field: "auth.basic.username", msgPart: "colon"},
		{name: "missing password", auth: basic("erp", ""), field: "auth.basic.password", msgPart: "is required"},
		{name: "placeholder password", auth: basic("erp", Redacted), field: "auth.basic.password", msgPart: "placeholder"},
		{name: "token url not a URL", auth: oauth("token"), field: "auth.oauth2.token_url", msgPart: "http"},
		{name: "token url private", auth: oauth("https://internal.example.com/token"), field: "auth.oauth2.token_url", msgPart: "SSRF"},
		{name: "token url metadata", auth: oauth("http://169.254.169.254/token"), field: "auth.oauth2.token_url", msgPart: "metadata"},
		{name: "token url private allowed", auth: oauth("https://internal.example.com/token"),
			edit: func(s *event.Subscription) { s.AllowPrivate = true }},
		{name: "scope with space", auth: &event.EndpointAuth{OAuth2: &event.OAuth2ClientCredentials{
			TokenURL: "https://hooks.example.com/t", ClientID: "c", ClientSecret: "s", Scopes: []string{"a b"}}},
			field: "auth.oauth2.scopes[0]", msgPart: "space"},
		{name: "no client id", auth: &event.EndpointAuth{OAuth2: &event.OAuth2ClientCredentials{
			TokenURL: "https://hooks.example.com/t", ClientSecret: "s"}}, field: "auth.oauth2.client_id", msgPart: "required"},
		{name: "cert not PEM", auth: mtls("hello", client.KeyPEM, ""), field: "auth.mtls.client_cert_pem", msgPart: "no PEM certificate"},
		{name: "cert is a key", auth: mtls(client.KeyPEM, client.KeyPEM, ""), field: "auth.mtls.client_cert_pem", msgPart: "PRIVATE KEY"},
		{name: "key of another cert", auth: mtls(client.CertPEM, other.KeyPEM, ""), field: "auth.mtls.client_key_pem", msgPart: "private key of client_cert_pem"},
		{name: "key not PEM", auth: mtls(client.CertPEM, "nope", ""), field: "auth.mtls.client_key_pem", msgPart: "does not parse"},
		{name: "bad CA", auth: mtls(client.CertPEM, client.KeyPEM, "junk"), field: "auth.mtls.ca_pem", msgPart: "no PEM certificate"},
		{name: "mtls to http", auth: mtls(client.CertPEM, client.KeyPEM, ""),
			edit: func(s *event.Subscription) { s.URL = "http://hooks.example.com/x" }, field: "auth.mtls", msgPart: "https"},
		{name: "two kinds", auth: &event.EndpointAuth{Basic: &event.BasicAuth{Username: "u", Password: "p"},
			OAuth2: oauth("https://hooks.example.com/t").OAuth2}, field: "auth", msgPart: "basic and oauth2", wantCount: 1},
		{name: "no kind", auth: &event.EndpointAuth{}, field: "auth", msgPart: "no kind"},
		{name: "authorization header next to basic", auth: basic("u", "p"),
			edit:  func(s *event.Subscription) { s.Headers = map[string]string{"authorization": "Bearer x"} },
			field: "headers.authorization", msgPart: "basic auth"},
		{name: "authorization header next to mtls", auth: mtls(client.CertPEM, client.KeyPEM, ""),
			edit: func(s *event.Subscription) { s.Headers = map[string]string{"Authorization": "Bearer x"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSub()
			s.Auth = tt.auth
			if tt.edit != nil {
				tt.edit(&s)
			}
			got := authFieldErrors(t, s)
			if tt.field == "" {
				if len(got) != 0 {
					t.Fatalf("refused a valid auth: %v", got)
				}
				return
			}
			msg, ok := got[tt.field]
			if !ok || !strings.Contains(msg, tt.msgPart) {
				t.Fatalf("errors %v, want %s containing %q", got, tt.field, tt.msgPart)
			}
			if tt.wantCount > 0 && len(got) != tt.wantCount {
				t.Fatalf("%d errors, want %d: %v", len(got), tt.wantCount, got)
			}
		})
	}
}

func TestAuthViewRedactsSecrets(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	client := ca.Client("surge")
	for _, a := range []*event.EndpointAuth{
		{Basic: &event.BasicAuth{Username: "erp", Password: "pw-secret"}},
		{OAuth2: &event.OAuth2ClientCredentials{TokenURL: "https://t.example/token", ClientID: "cid", ClientSecret: "pw-secret", Scopes: []string{"s1"}, Audience: "aud"}},
		{MTLS: &event.MutualTLS{ClientCertPEM: client.CertPEM, ClientKeyPEM: client.KeyPEM + "pw-secret", CAPEM: ca.PEM}},
	} {
		s := validSub()
		s.Auth = a
		b, err := json.Marshal(NewView(s))
		if err != nil {
			t.Fatal(err)
		}
		kind := AuthKind(a)
		if strings.Contains(string(b), "pw-secret") || strings.Contains(string(b), "PRIVATE KEY") {
			t.Fatalf("%s: the view shows a secret: %s", kind, b)
		}
		if !strings.Contains(string(b), `"kind":"`+kind+`"`) || !strings.Contains(string(b), Redacted) {
			t.Fatalf("%s: the view does not show the kind and the redaction: %s", kind, b)
		}
	}
	if v := NewView(validSub()); v.Auth != nil {
		t.Fatalf("a subscription without auth shows %+v", v.Auth)
	}
}

func TestApplyAuthKeepsRedactedSecretsAndReplacesWhole(t *testing.T) {
	s := validSub()
	s.Auth = &event.EndpointAuth{OAuth2: &event.OAuth2ClientCredentials{TokenURL: "https://t.example/token", ClientID: "cid", ClientSecret: "stored", Scopes: []string{"a"}}}

	// A read sent back with a changed scope keeps the stored secret.
	var in Input
	view := NewView(s).Auth
	view.OAuth2.Scopes = []string{"b"}
	in.Auth = view
	if err := in.CheckAuth(); err != nil {
		t.Fatal(err)
	}
	next := Clone(s)
	in.Apply(&next, s.UpdatedAt)
	if o := next.Auth.OAuth2; o.ClientSecret != "stored" || len(o.Scopes) != 1 || o.Scopes[0] != "b" {
		t.Fatalf("after PATCH of the read: %+v", o)
	}
	if s.Auth.OAuth2.Scopes[0] != "a" {
		t.Fatal("Apply changed the original")
	}

	// Another kind with a placeholder keeps nothing: Validate refuses it.
	in.Auth = &Auth{Basic: &BasicAuth{Username: "u", Password: Redacted}}
	next = Clone(s)
	in.Apply(&next, s.UpdatedAt)
	if next.Auth.OAuth2 != nil || next.Auth.Basic.Password != Redacted {
		t.Fatalf("a new kind kept the old auth: %+v", next.Auth)
	}
	if got := authFieldErrors(t, next); !strings.Contains(got["auth.basic.password"], "placeholder") {
		t.Fatalf("errors %v", got)
	}

	// {} removes the auth.
	in.Auth = &Auth{}
	next = Clone(s)
	in.Apply(&next, s.UpdatedAt)
	if next.Auth != nil {
		t.Fatalf("{} left %+v", next.Auth)
	}

	// A kind that names another part is refused.
	in.Auth = &Auth{Kind: AuthMTLS, Basic: &BasicAuth{Username: "u", Password: "p"}}
	if err := in.CheckAuth(); err == nil || !strings.Contains(err.Error(), "auth.kind") {
		t.Fatalf("CheckAuth: %v", err)
	}
	in.Auth = &Auth{Kind: AuthBasic}
	if err := in.CheckAuth(); err == nil || !strings.Contains(err.Error(), "sets no part") {
		t.Fatalf("CheckAuth of a kind alone: %v", err)
	}
}
