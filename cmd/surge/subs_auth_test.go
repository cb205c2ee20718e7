package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/surgehq/surge/pkg/tlstest"
)

func TestSubsAuthFlags(t *testing.T) {
	e := newSubsEnv(t)
	out := e.mustRun("create", "--url", "https://erp.example.com/hooks", "--event-type", "*", "--basic-auth", "erp:pa:ss-word")
	id := subIDRE.FindString(out)
	if b := e.stored(id).Auth.Basic; b == nil || b.Username != "erp" || b.Password != "pa:ss-word" {
		t.Fatalf("stored %+v", e.stored(id).Auth)
	}
	for _, args := range [][]string{{"get", id}, {"get", id, "--json"}, {"list", "--json"}} {
		out := e.mustRun(args...)
		if strings.Contains(out, "pa:ss-word") {
			t.Fatalf("surge subs %v shows the password:\n%s", args, out)
		}
		if args[len(args)-1] != "--json" && !strings.Contains(out, "basic (user erp)") {
			t.Fatalf("surge subs %v does not show the auth kind:\n%s", args, out)
		}
	}

	// OAuth2 replaces basic; an update that leaves out the secret keeps it.
	e.mustRun("update", id, "--oauth2-token-url", "https://erp.example.com/token", "--oauth2-client-id", "surge",
		"--oauth2-client-secret", "cs-1", "--oauth2-scope", "orders.write", "--oauth2-scope", "refunds.write", "--oauth2-audience", "erp")
	out = e.mustRun("update", id, "--oauth2-token-url", "https://erp.example.com/token", "--oauth2-client-id", "surge", "--oauth2-scope", "orders.read")
	a := e.stored(id).Auth
	if a.Basic != nil || a.OAuth2 == nil || a.OAuth2.ClientSecret != "cs-1" || strings.Join(a.OAuth2.Scopes, " ") != "orders.read" {
		t.Fatalf("stored %+v %+v", a.Basic, a.OAuth2)
	}
	if !strings.Contains(out, "oauth2 (client surge at https://erp.example.com/token, scopes orders.read)") || strings.Contains(out, "cs-1") {
		t.Fatalf("update printed:\n%s", out)
	}

	// mTLS from files.
	ca := tlstest.NewCA(t, "cli CA")
	client := ca.Client("surge-cli")
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out = e.mustRun("update", id, "--client-cert", write("c.pem", client.CertPEM), "--client-key", write("k.pem", client.KeyPEM), "--ca-cert", write("ca.pem", ca.PEM))
	if m := e.stored(id).Auth.MTLS; m == nil || m.ClientKeyPEM != client.KeyPEM || m.CAPEM != ca.PEM {
		t.Fatalf("stored %+v", e.stored(id).Auth)
	}
	if !strings.Contains(out, `mtls (client certificate "CN=surge-cli"`) || strings.Contains(out, "PRIVATE KEY") {
		t.Fatalf("update printed:\n%s", out)
	}

	// Errors: the server names the field; the CLI checks its own syntax.
	if _, _, err := e.run("update", id, "--basic-auth", "nocolon"); err == nil || !strings.Contains(err.Error(), "USER:PASSWORD") {
		t.Fatalf("--basic-auth without a colon: %v", err)
	}
	if _, _, err := e.run("update", id, "--client-cert", write("bad.pem", "junk")); err == nil || !strings.Contains(err.Error(), "auth.mtls.client_cert_pem") {
		t.Fatalf("a certificate that does not parse: %v", err)
	}
	if _, _, err := e.run("update", id, "--no-auth", "--basic-auth", "a:b"); err == nil || !strings.Contains(err.Error(), "--no-auth") {
		t.Fatalf("--no-auth with --basic-auth: %v", err)
	}
	e.mustRun("update", id, "--no-auth")
	if a := e.stored(id).Auth; a != nil {
		t.Fatalf("--no-auth left %+v", a)
	}
}
