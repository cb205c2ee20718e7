package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/admin"
	"github.com/surgehq/surge/pkg/admin/admintest"
	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/event"
)

const subsTestToken = "surge_subs_test_token"

// subsEnv is the real admin handler on an httptest server with in-memory
// stores, and a data dir holding its token, as surge dev leaves it.
type subsEnv struct {
	t       *testing.T
	srv     *httptest.Server
	addr    string // host:port
	dataDir string
	subs    *admintest.Store[event.Subscription]
}

func newSubsEnv(t *testing.T) *subsEnv {
	t.Helper()
	for _, name := range subsConnFlags {
		t.Setenv("SURGE_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_")), "")
		os.Unsetenv("SURGE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")))
	}
	e := &subsEnv{t: t, dataDir: t.TempDir(), subs: admintest.NewStore[event.Subscription]()}
	api, err := admin.New(admin.Config{Token: subsTestToken, AllowLoopback: true}, admin.Deps{
		Subscriptions: e.subs,
		Sources:       admintest.NewStore[catalog.Source](),
		EventTypes:    admintest.NewStore[catalog.EventType](),
		Catalog:       catalog.New(catalog.Builtin()...),
		Resolver:      admintest.Resolver{"erp.example.com": {"203.0.113.20"}, "wms.internal": {"10.1.1.1"}},
		Log:           zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Mount(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.addr = strings.TrimPrefix(e.srv.URL, "http://")
	if err := os.WriteFile(filepath.Join(e.dataDir, "admin-token"), []byte(subsTestToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs `surge subs ARGS --admin-addr <server> --data-dir <dir>` in
// process and returns stdout, stderr and the error.
func (e *subsEnv) run(args ...string) (string, string, error) {
	e.t.Helper()
	return runCLISplit(e.t, append(append([]string{"subs"}, args...), "--admin-addr", e.addr, "--data-dir", e.dataDir)...)
}

func (e *subsEnv) mustRun(args ...string) string {
	e.t.Helper()
	out, errOut, err := e.run(args...)
	if err != nil {
		e.t.Fatalf("surge subs %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (e *subsEnv) stored(id string) event.Subscription {
	e.t.Helper()
	s, ok := e.subs.Get(id)
	if !ok {
		e.t.Fatalf("%s is not stored", id)
	}
	return s
}

var subIDRE = regexp.MustCompile(`sub_[0-9A-Za-z]{27}`)

func TestSubsCreatePrintsTheSecretOnce(t *testing.T) {
	e := newSubsEnv(t)
	out := e.mustRun("create", "--url", "https://erp.example.com/hooks", "--event-type", "order.*,product.updated", "--event-type", "stock.*",
		"--filter", `type == "order.placed" && data.total > 100.0`, "--header", "X-Api-Key=abc=def", "--header", "X-Tenant=eu",
		"--timeout", "2s", "--rate-limit", "2.5", "--max-in-flight", "8", "--retry-schedule", "5s,30s,2m", "--description", "ERP orders")
	id := subIDRE.FindString(out)
	if id == "" {
		t.Fatalf("no id in the output:\n%s", out)
	}
	s := e.stored(id)
	if len(s.Secrets) != 1 {
		t.Fatalf("stored %d secrets", len(s.Secrets))
	}
	secret := s.Secrets[0].Value
	if strings.Count(out, secret) != 1 || !strings.Contains(out, "will not be shown again") {
		t.Fatalf("create must print the secret once with a note:\n%s", out)
	}
	want := event.Subscription{
		URL:           "https://erp.example.com/hooks",
		EventTypes:    []string{"order.*", "product.updated", "stock.*"},
		Filter:        `type == "order.placed" && data.total > 100.0`,
		Headers:       map[string]string{"X-Api-Key": "abc=def", "X-Tenant": "eu"},
		TimeoutMS:     2000,
		RateLimitPerS: 2.5,
		MaxInFlight:   8,
		RetrySchedule: []string{"5s", "30s", "2m"},
		Description:   "ERP orders",
	}
	if s.URL != want.URL || strings.Join(s.EventTypes, " ") != strings.Join(want.EventTypes, " ") || s.Filter != want.Filter ||
		len(s.Headers) != 2 || s.Headers["X-Api-Key"] != "abc=def" || s.TimeoutMS != want.TimeoutMS || s.RateLimitPerS != want.RateLimitPerS ||
		s.MaxInFlight != want.MaxInFlight || strings.Join(s.RetrySchedule, ",") != "5s,30s,2m" || s.Description != want.Description ||
		!s.Enabled || s.Paused || s.AllowPrivate {
		t.Fatalf("stored %+v\nwant    %+v", s, want)
	}
	for _, part := range []string{"active", "order.*, product.updated, stock.*", "X-Api-Key, X-Tenant", "2s", "2.5/s", "5s, 30s, 2m", "sha256:"} {
		if !strings.Contains(out, part) {
			t.Errorf("the table does not show %q:\n%s", part, out)
		}
	}
	if strings.Contains(out, "abc=def") {
		t.Errorf("the table shows a header value:\n%s", out)
	}

	// Never again.
	for _, args := range [][]string{{"get", id}, {"list"}, {"get", id, "--json"}, {"list", "--json"}, {"pause", id}} {
		if out := e.mustRun(args...); strings.Contains(out, secret) || strings.Contains(out, "whsec_") {
			t.Fatalf("surge subs %v shows the secret:\n%s", args, out)
		}
	}
}

func TestSubsJSON(t *testing.T) {
	e := newSubsEnv(t)
	out := e.mustRun("create", "--url", "http://127.0.0.1:9/hook", "--event-type", "*", "--disabled", "--allow-private", "--json")
	var created map[string]any
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("create --json printed more than the API's JSON: %v\n%s", err, out)
	}
	id, _ := created["id"].(string)
	if secret, _ := created["secret"].(string); !strings.HasPrefix(secret, "whsec_") || created["enabled"] != false || created["allow_private"] != true {
		t.Fatalf("created %v", created)
	}
	var list struct {
		Subscriptions []map[string]any `json:"subscriptions"`
	}
	if err := json.Unmarshal([]byte(e.mustRun("list", "--json")), &list); err != nil || len(list.Subscriptions) != 1 || list.Subscriptions[0]["id"] != id {
		t.Fatalf("list --json: %v %v", err, list)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(e.mustRun("get", id, "--json")), &got); err != nil || got["id"] != id {
		t.Fatalf("get --json: %v %v", err, got)
	}
	if out := e.mustRun("delete", id, "--json"); out != "" {
		t.Fatalf("delete --json printed %q; the API answers no body", out)
	}
}

func TestSubsUpdateSendsOnlyTheFlagsGiven(t *testing.T) {
	e := newSubsEnv(t)
	id := subIDRE.FindString(e.mustRun("create", "--url", "https://erp.example.com/a", "--event-type", "order.*",
		"--filter", `type == "order.placed"`, "--header", "X-A=1", "--retry-schedule", "5s", "--description", "first"))
	before := e.stored(id)

	out := e.mustRun("update", id, "--description", "second", "--timeout", "1500ms")
	after := e.stored(id)
	if after.Description != "second" || after.TimeoutMS != 1500 {
		t.Fatalf("update not applied: %+v", after)
	}
	if after.URL != before.URL || after.Filter != before.Filter || after.Headers["X-A"] != "1" || strings.Join(after.RetrySchedule, ",") != "5s" ||
		after.Secrets[0].Value != before.Secrets[0].Value || !after.Enabled {
		t.Fatalf("update changed fields it was not given:\nbefore %+v\nafter  %+v", before, after)
	}
	if !strings.Contains(out, "second") || strings.Contains(out, "whsec_") {
		t.Fatalf("update printed:\n%s", out)
	}

	// Empty values clear; --disabled and --disabled=false toggle.
	e.mustRun("update", id, "--retry-schedule", "", "--filter", "", "--disabled")
	after = e.stored(id)
	if len(after.RetrySchedule) != 0 || after.Filter != "" || after.Enabled {
		t.Fatalf("after clearing: %+v", after)
	}
	if out := e.mustRun("get", id); !strings.Contains(out, "disabled") {
		t.Fatalf("get of a disabled subscription:\n%s", out)
	}
	e.mustRun("update", id, "--disabled=false")
	if !e.stored(id).Enabled {
		t.Fatal("--disabled=false did not enable")
	}

	if _, _, err := e.run("update", id); err == nil || !strings.Contains(err.Error(), "nothing to update") {
		t.Fatalf("update without flags: %v", err)
	}
	if _, _, err := e.run("update", id, "--header", "no-equals"); err == nil || !strings.Contains(err.Error(), "NAME=VALUE") {
		t.Fatalf("bad --header: %v", err)
	}
	if _, _, err := e.run("update", id, "--timeout", "1500us"); err == nil || !strings.Contains(err.Error(), "milliseconds") {
		t.Fatalf("sub-millisecond --timeout: %v", err)
	}
}

func TestSubsPauseResumeRotateDelete(t *testing.T) {
	e := newSubsEnv(t)
	id := subIDRE.FindString(e.mustRun("create", "--url", "https://erp.example.com/a", "--event-type", "*"))
	first := e.stored(id).Secrets[0].Value

	if out := e.mustRun("pause", id); !strings.Contains(out, "paused") || !e.stored(id).Paused {
		t.Fatalf("pause:\n%s", out)
	}
	if out := e.mustRun("list"); !regexp.MustCompile(id + `\s+paused`).MatchString(out) {
		t.Fatalf("list does not show the pause:\n%s", out)
	}
	if out := e.mustRun("resume", id); !strings.Contains(out, "active") || e.stored(id).Paused {
		t.Fatalf("resume:\n%s", out)
	}

	out := e.mustRun("rotate-secret", id)
	s := e.stored(id)
	if len(s.Secrets) != 2 || s.Secrets[1].Value != first {
		t.Fatalf("after rotation: %d secrets", len(s.Secrets))
	}
	if !strings.Contains(out, s.Secrets[0].Value) || strings.Contains(out, first) || !strings.Contains(out, "keeps signing until") {
		t.Fatalf("rotate-secret must print the new secret, not the old one, and say how long the old one signs:\n%s", out)
	}

	if out := e.mustRun("delete", id); !strings.Contains(out, "deleted "+id) {
		t.Fatalf("delete printed %q", out)
	}
	_, _, err := e.run("get", id)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("get after delete: %v", err)
	}
	if out := e.mustRun("list"); !strings.Contains(out, "no subscriptions") {
		t.Fatalf("empty list printed:\n%s", out)
	}
}

func TestSubsAPIErrorsNameTheField(t *testing.T) {
	e := newSubsEnv(t)
	for _, tt := range []struct {
		args []string
		want *regexp.Regexp
	}{
		{[]string{"create", "--url", "https://erp.example.com/", "--event-type", "*", "--filter", "data.total >"},
			regexp.MustCompile(`^line 1, column \d+: .+ \(field filter\)$`)},
		{[]string{"create", "--url", "http://169.254.169.254/latest", "--event-type", "*"},
			regexp.MustCompile(`metadata.*"allow_private": true.*\(field url\)$`)},
		{[]string{"create", "--url", "https://wms.internal/", "--event-type", "*"},
			regexp.MustCompile(`resolves to 10\.1\.1\.1.*\(field url\)$`)},
		{[]string{"create", "--url", "https://erp.example.com/", "--event-type", "*", "--header", "Content-Type=text/plain"},
			regexp.MustCompile(`\(field headers.Content-Type\)$`)},
		{[]string{"create", "--url", "https://erp.example.com/", "--event-type", "*", "--retry-schedule", "5s,forever"},
			regexp.MustCompile(`\(field retry_schedule\[1\]\)$`)},
		{[]string{"get", "sub_nope"}, regexp.MustCompile(`"sub_nope" does not exist`)},
		{[]string{"create", "--event-type", "*"}, regexp.MustCompile(`is required \(field url\)$`)},
		{[]string{"create", "--event-type", "*", "--queue-url", "https://sqs.us-east-1.amazonaws.com/1/q"}, regexp.MustCompile(`need --destination sqs`)},
		{[]string{"create", "--event-type", "*", "--destination", "sqs"}, regexp.MustCompile(`\(field destination.sqs.queue_url\)$`)},
		{[]string{"create", "--event-type", "*", "--destination", "kafka"}, regexp.MustCompile(`give http, sqs or eventbridge`)},
	} {
		_, _, err := e.run(tt.args...)
		if err == nil || !tt.want.MatchString(err.Error()) {
			t.Errorf("surge subs %v: error %v, want one matching %s", tt.args, err, tt.want)
		}
	}
	if n := len(e.subs.List()); n != 0 {
		t.Fatalf("%d subscriptions stored after refusals", n)
	}
}

func TestSubsToken(t *testing.T) {
	e := newSubsEnv(t)
	empty := t.TempDir()

	// No token anywhere: a configuration error saying how to get one.
	_, _, err := runCLISplit(t, "subs", "list", "--admin-addr", e.addr, "--data-dir", empty)
	var ce cli.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), filepath.Join(empty, "admin-token")) ||
		!strings.Contains(err.Error(), "surge dev") || !strings.Contains(err.Error(), "--admin-token") {
		t.Fatalf("missing token: %v", err)
	}
	// The environment, then the flag, which wins.
	t.Setenv("SURGE_ADMIN_TOKEN", subsTestToken)
	if _, _, err := runCLISplit(t, "subs", "list", "--admin-addr", e.addr, "--data-dir", empty); err != nil {
		t.Fatalf("SURGE_ADMIN_TOKEN: %v", err)
	}
	_, _, err = runCLISplit(t, "subs", "list", "--admin-addr", e.addr, "--data-dir", empty, "--admin-token", "wrong")
	if err == nil || !strings.Contains(err.Error(), "wrong bearer token") || !strings.Contains(err.Error(), "SURGE_ADMIN_TOKEN") {
		t.Fatalf("wrong token: %v", err)
	}
	// The address from the environment.
	t.Setenv("SURGE_ADMIN_ADDR", e.addr)
	if _, _, err := runCLISplit(t, "subs", "list", "--data-dir", empty); err != nil {
		t.Fatalf("SURGE_ADMIN_ADDR: %v", err)
	}
	t.Setenv("SURGE_ADMIN_ADDR", e.srv.URL+"/")
	if _, _, err := runCLISplit(t, "subs", "list", "--data-dir", empty); err != nil {
		t.Fatalf("SURGE_ADMIN_ADDR as a URL: %v", err)
	}
	// Create/update flags do not read the environment.
	t.Setenv("SURGE_DESCRIPTION", "from the environment")
	id := subIDRE.FindString(e.mustRun("create", "--url", "https://erp.example.com/", "--event-type", "*"))
	e.mustRun("update", id, "--rate-limit", "3")
	if d := e.stored(id).Description; d != "" {
		t.Fatalf("SURGE_DESCRIPTION reached the subscription: %q", d)
	}
}

func TestSubsUnreachableAdmin(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "admin-token"), []byte("x"), 0o600)
	_, _, err = runCLISplit(t, "subs", "list", "--admin-addr", addr, "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "cannot reach the admin API at http://"+addr) {
		t.Fatalf("unreachable admin API: %v", err)
	}
	_, _, err = runCLISplit(t, "subs", "list", "--admin-addr", "not an address", "--data-dir", dir)
	if !errors.As(err, new(cli.ConfigError)) || !strings.Contains(err.Error(), "--admin-addr") {
		t.Fatalf("bad --admin-addr: %v", err)
	}
}

// TestSubsExitCode runs the real main: an API error is printed as
// "error: <message> (field <field>)" on stderr with exit status 1.
func TestSubsExitCode(t *testing.T) {
	if os.Getenv("SURGE_SUBS_TEST_MAIN") == "1" {
		os.Args = append([]string{"surge"}, strings.Split(os.Getenv("SURGE_SUBS_TEST_ARGS"), "\n")...)
		main()
		os.Exit(0)
	}
	e := newSubsEnv(t)
	args := []string{"subs", "create", "--url", "https://erp.example.com/", "--event-type", "*", "--timeout", "50ms",
		"--admin-addr", e.addr, "--data-dir", e.dataDir}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSubsExitCode$")
	cmd.Env = append(os.Environ(), "SURGE_SUBS_TEST_MAIN=1", "SURGE_SUBS_TEST_ARGS="+strings.Join(args, "\n"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1; stderr %s", err, stderr.String())
	}
	if !regexp.MustCompile(`(?m)^error: must be 0 .* got 50 \(field timeout_ms\)$`).MatchString(stderr.String()) {
		t.Fatalf("stderr %q, want error: <message> (field timeout_ms)", stderr.String())
	}
}
