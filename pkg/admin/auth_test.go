package admin_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/surgehq/surge/pkg/admin"
	"github.com/surgehq/surge/pkg/tlstest"
)

func TestEndpointAuthIsStoredAndNeverShown(t *testing.T) {
	e := newEnv(t, admin.Config{})
	const password = "basic-pw-9f2c"
	got := e.create(`{"url":"https://hooks.example.com/surge","event_types":["*"],
		"auth":{"basic":{"username":"erp","password":"` + password + `"}}}`)
	id := got["id"].(string)
	stored, _ := e.subs.Get(id)
	if stored.Auth == nil || stored.Auth.Basic == nil || stored.Auth.Basic.Password != password {
		t.Fatalf("stored auth %+v", stored.Auth)
	}
	for _, r := range []response{
		e.do("GET", "/v1/subscriptions/"+id, nil),
		e.do("GET", "/v1/subscriptions", nil),
		e.do("PATCH", "/v1/subscriptions/"+id, `{"paused":true}`),
	} {
		if r.status != http.StatusOK || bytes.Contains(r.body, []byte(password)) ||
			!bytes.Contains(r.body, []byte(`"auth":{"kind":"basic","basic":{"username":"erp","password":"[redacted]"}}`)) {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}

	// GET, edit, PATCH back: the redacted password keeps the stored one.
	r := e.do("PATCH", "/v1/subscriptions/"+id, `{"auth":{"kind":"basic","basic":{"username":"erp2","password":"[redacted]"}}}`)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	stored, _ = e.subs.Get(id)
	if b := stored.Auth.Basic; b.Username != "erp2" || b.Password != password {
		t.Fatalf("after PATCH: %+v", b)
	}
	// Another kind does not inherit it.
	r = e.do("PATCH", "/v1/subscriptions/"+id, `{"auth":{"oauth2":{"token_url":"https://erp.example.com/t","client_id":"c","client_secret":"[redacted]"}}}`)
	r.wantError(t, 422, "invalid", "auth.oauth2.client_secret", "placeholder")
	e.assertLogsHoldNo(password)
}

func TestEndpointAuthValidation(t *testing.T) {
	e := newEnv(t, admin.Config{})
	ca := tlstest.NewCA(t, "admin test CA")
	client := ca.Client("surge")
	quote := func(s string) string { return strings.ReplaceAll(s, "\n", `\n`) }
	for _, tt := range []struct {
		name, auth string
		status     int
		field      string
		part       string
	}{
		{"missing username", `{"basic":{"username":"","password":"p"}}`, 422, "auth.basic.username", "required"},
		{"bad token url", `{"oauth2":{"token_url":"ftp://x/","client_id":"c","client_secret":"s"}}`, 422, "auth.oauth2.token_url", "http"},
		{"private token url", `{"oauth2":{"token_url":"https://internal.example.com/t","client_id":"c","client_secret":"s"}}`, 422, "auth.oauth2.token_url", "SSRF"},
		{"cert that does not parse", `{"mtls":{"client_cert_pem":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n","client_key_pem":"` + quote(client.KeyPEM) + `"}}`, 422, "auth.mtls.client_cert_pem", "does not parse"},
		{"two kinds", `{"basic":{"username":"u","password":"p"},"mtls":{"client_cert_pem":"` + quote(client.CertPEM) + `","client_key_pem":"` + quote(client.KeyPEM) + `"}}`, 422, "auth", "exactly one"},
		{"kind disagrees", `{"kind":"mtls","basic":{"username":"u","password":"p"}}`, 422, "auth.kind", "basic"},
		{"unknown part field", `{"basic":{"username":"u","password":"p","realm":"x"}}`, 400, "", "realm"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", "/v1/subscriptions", `{"url":"https://hooks.example.com/","event_types":["*"],"auth":`+tt.auth+`}`)
			code := "invalid"
			if tt.status == 400 {
				code = "malformed"
			}
			r.wantError(t, tt.status, code, tt.field, tt.part)
		})
	}
	if n := len(e.subs.List()); n != 0 {
		t.Fatalf("%d subscriptions stored by refused creates", n)
	}
	r := e.do("POST", "/v1/subscriptions", `{"url":"https://hooks.example.com/","event_types":["*"],"auth":{"mtls":{"client_cert_pem":"`+
		quote(client.CertPEM)+`","client_key_pem":"`+quote(client.KeyPEM)+`","ca_pem":"`+quote(ca.PEM)+`"}}}`)
	if r.status != http.StatusCreated || bytes.Contains(r.body, []byte("PRIVATE KEY")) {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
