package subscription

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
)

// fakeResolver answers from a map; an unknown host is NXDOMAIN.
type fakeResolver map[string][]string

func (f fakeResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ips, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, s := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

// hangingResolver blocks until its context ends, like an unreachable DNS
// server.
type hangingResolver struct{}

func (hangingResolver) LookupIPAddr(ctx context.Context, _ string) ([]net.IPAddr, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

var testResolver = fakeResolver{
	"hooks.example.com":    {"203.0.113.10"},
	"dual.example.com":     {"203.0.113.11", "10.1.2.3"},
	"internal.example.com": {"10.0.0.5"},
	"meta.example.com":     {"169.254.169.254"},
	"cgnat.example.com":    {"100.64.1.1"},
	"loop.example.com":     {"127.0.0.1"},
	"v6private.example":    {"fd12:3456::1"},
	"mapped.example":       {"::ffff:192.168.1.1"},
}

func validSub() event.Subscription {
	return event.Subscription{
		ID:            "sub_test",
		URL:           "https://hooks.example.com/surge",
		EventTypes:    []string{"order.*", "product.updated"},
		Filter:        `type == "order.placed"`,
		Headers:       map[string]string{"X-Api-Key": "k1"},
		TimeoutMS:     5000,
		RateLimitPerS: 10,
		MaxInFlight:   4,
		RetrySchedule: []string{"5s", "30s", "2m"},
		Enabled:       true,
		Description:   "ERP",
	}
}

// fieldErrors returns field → message of every *catalog.FieldError in err.
func fieldErrors(t *testing.T, err error) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range catalog.Leaves(err) {
		var fe *catalog.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v (%T) is not a *catalog.FieldError", e, e)
		}
		out[fe.Field] = fe.Message
	}
	return out
}

func TestValidateFields(t *testing.T) {
	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	manyHeaders := map[string]string{}
	for i := range 21 {
		manyHeaders[fmt.Sprintf("X-H%d", i)] = "v"
	}
	tests := []struct {
		name      string
		change    func(s *event.Subscription)
		wantField string // "" = valid
		wantIn    string // substring of the message
	}{
		{name: "valid", change: func(*event.Subscription) {}},
		{name: "no filter", change: func(s *event.Subscription) { s.Filter = "" }},
		{name: "zero policies", change: func(s *event.Subscription) {
			s.TimeoutMS, s.RateLimitPerS, s.MaxInFlight, s.RetrySchedule = 0, 0, 0, nil
		}},
		{name: "empty url", change: func(s *event.Subscription) { s.URL = "" }, wantField: "url", wantIn: "empty"},
		{name: "relative url", change: func(s *event.Subscription) { s.URL = "/hook" }, wantField: "url", wantIn: "absolute"},
		{name: "ftp url", change: func(s *event.Subscription) { s.URL = "ftp://hooks.example.com/x" }, wantField: "url", wantIn: "http"},
		{name: "no host", change: func(s *event.Subscription) { s.URL = "https:///x" }, wantField: "url", wantIn: "no host"},
		{name: "userinfo", change: func(s *event.Subscription) { s.URL = "https://u:p@hooks.example.com/" }, wantField: "url", wantIn: "user:password"},
		{name: "long url", change: func(s *event.Subscription) {
			s.URL = "https://hooks.example.com/" + strings.Repeat("a", 2048)
		}, wantField: "url", wantIn: "2048"},
		{name: "bad port", change: func(s *event.Subscription) { s.URL = "https://hooks.example.com:0/" }, wantField: "url", wantIn: "port"},
		{name: "not a url", change: func(s *event.Subscription) { s.URL = "https://hooks.example.com/%zz" }, wantField: "url", wantIn: "not a URL"},
		{name: "no event types", change: func(s *event.Subscription) { s.EventTypes = nil }, wantField: "event_types", wantIn: "empty"},
		{name: "51 event types", change: func(s *event.Subscription) {
			s.EventTypes = many(51, func(i int) string { return fmt.Sprintf("t%d.x", i) })
		}, wantField: "event_types", wantIn: "at most 50"},
		{name: "50 event types", change: func(s *event.Subscription) {
			s.EventTypes = many(50, func(i int) string { return fmt.Sprintf("t%d.x", i) })
		}},
		{name: "bad pattern", change: func(s *event.Subscription) { s.EventTypes = []string{"order.*", "Order Placed"} }, wantField: "event_types[1]"},
		{name: "duplicate pattern", change: func(s *event.Subscription) { s.EventTypes = []string{"order.*", "order.*"} }, wantField: "event_types[1]", wantIn: "twice"},
		{name: "bad filter", change: func(s *event.Subscription) { s.Filter = `type == ` }, wantField: "filter"},
		{name: "21 headers", change: func(s *event.Subscription) { s.Headers = manyHeaders }, wantField: "headers", wantIn: "at most 20"},
		{name: "bad header name", change: func(s *event.Subscription) { s.Headers = map[string]string{"X Bad": "v"} }, wantField: "headers.X Bad", wantIn: "header name"},
		{name: "reserved header", change: func(s *event.Subscription) { s.Headers = map[string]string{"Webhook-Signature": "v"} }, wantField: "headers.Webhook-Signature", wantIn: "cannot be overridden"},
		{name: "reserved host", change: func(s *event.Subscription) { s.Headers = map[string]string{"HOST": "evil"} }, wantField: "headers.HOST", wantIn: "cannot be overridden"},
		{name: "header CRLF", change: func(s *event.Subscription) { s.Headers = map[string]string{"X-A": "v\r\nX-Injected: 1"} }, wantField: "headers.X-A", wantIn: "CR or LF"},
		{name: "header LF", change: func(s *event.Subscription) { s.Headers = map[string]string{"X-A": "v\nw"} }, wantField: "headers.X-A", wantIn: "CR or LF"},
		{name: "header NUL", change: func(s *event.Subscription) { s.Headers = map[string]string{"X-A": "v\x00"} }, wantField: "headers.X-A", wantIn: "control"},
		{name: "header 1KiB", change: func(s *event.Subscription) { s.Headers = map[string]string{"X-A": strings.Repeat("v", 1024)} }},
		{name: "header over 1KiB", change: func(s *event.Subscription) { s.Headers = map[string]string{"X-A": strings.Repeat("v", 1025)} }, wantField: "headers.X-A", wantIn: "1024"},
		{name: "header twice by case", change: func(s *event.Subscription) { s.Headers = map[string]string{"X-A": "1", "x-a": "2"} }, wantField: "headers.x-a", wantIn: "same header"},
		{name: "timeout 99", change: func(s *event.Subscription) { s.TimeoutMS = 99 }, wantField: "timeout_ms"},
		{name: "timeout 100", change: func(s *event.Subscription) { s.TimeoutMS = 100 }},
		{name: "timeout 60000", change: func(s *event.Subscription) { s.TimeoutMS = 60000 }},
		{name: "timeout 60001", change: func(s *event.Subscription) { s.TimeoutMS = 60001 }, wantField: "timeout_ms"},
		{name: "auto-disable 999ms", change: func(s *event.Subscription) { s.AutoDisableAfterMS = 999 }, wantField: "auto_disable_after_ms", wantIn: "1s"},
		{name: "auto-disable 1s", change: func(s *event.Subscription) { s.AutoDisableAfterMS = 1000 }},
		{name: "auto-disable 30 days", change: func(s *event.Subscription) { s.AutoDisableAfterMS = 30 * 24 * 3600 * 1000 }},
		{name: "auto-disable over 30 days", change: func(s *event.Subscription) { s.AutoDisableAfterMS = 30*24*3600*1000 + 1 }, wantField: "auto_disable_after_ms"},
		{name: "auto-disable negative", change: func(s *event.Subscription) { s.AutoDisableAfterMS = -1 }, wantField: "auto_disable_after_ms"},
		{name: "negative rate", change: func(s *event.Subscription) { s.RateLimitPerS = -1 }, wantField: "rate_limit_per_s"},
		{name: "fractional rate", change: func(s *event.Subscription) { s.RateLimitPerS = 0.5 }},
		{name: "negative in flight", change: func(s *event.Subscription) { s.MaxInFlight = -1 }, wantField: "max_in_flight"},
		{name: "1001 in flight", change: func(s *event.Subscription) { s.MaxInFlight = 1001 }, wantField: "max_in_flight"},
		{name: "1000 in flight", change: func(s *event.Subscription) { s.MaxInFlight = 1000 }},
		{name: "21 retries", change: func(s *event.Subscription) {
			s.RetrySchedule = many(21, func(int) string { return "1m" })
		}, wantField: "retry_schedule", wantIn: "at most 20"},
		{name: "retry not a duration", change: func(s *event.Subscription) { s.RetrySchedule = []string{"5s", "soon"} }, wantField: "retry_schedule[1]", wantIn: "Go duration"},
		{name: "retry too short", change: func(s *event.Subscription) { s.RetrySchedule = []string{"500ms"} }, wantField: "retry_schedule[0]", wantIn: "1s"},
		{name: "retry too long", change: func(s *event.Subscription) { s.RetrySchedule = []string{"73h"} }, wantField: "retry_schedule[0]", wantIn: "72h"},
		{name: "retry bounds", change: func(s *event.Subscription) { s.RetrySchedule = []string{"1s", "72h"} }},
		{name: "long description", change: func(s *event.Subscription) { s.Description = strings.Repeat("d", 1025) }, wantField: "description"},
		{name: "long disabled reason", change: func(s *event.Subscription) { s.DisabledReason = strings.Repeat("d", 1025) }, wantField: "disabled_reason"},
	}
	v := Validator{Resolver: testResolver}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSub()
			tt.change(&s)
			errs := fieldErrors(t, v.Validate(context.Background(), s))
			if tt.wantField == "" {
				if len(errs) != 0 {
					t.Fatalf("want valid, got %v", errs)
				}
				return
			}
			msg, ok := errs[tt.wantField]
			if !ok || len(errs) != 1 {
				t.Fatalf("want one error on %q, got %v", tt.wantField, errs)
			}
			if !strings.Contains(msg, tt.wantIn) {
				t.Fatalf("message %q does not contain %q", msg, tt.wantIn)
			}
		})
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	s := validSub()
	s.URL = "ftp://x"
	s.TimeoutMS = 5
	s.RetrySchedule = []string{"x"}
	errs := fieldErrors(t, Validator{Resolver: testResolver}.Validate(context.Background(), s))
	for _, f := range []string{"url", "timeout_ms", "retry_schedule[0]"} {
		if _, ok := errs[f]; !ok {
			t.Errorf("no error on %s in %v", f, errs)
		}
	}
}

func TestValidateFilterErrorHasPosition(t *testing.T) {
	s := validSub()
	s.Filter = "type == \"order.placed\" &&\n  data.total >"
	errs := fieldErrors(t, Validator{Resolver: testResolver}.Validate(context.Background(), s))
	msg := errs["filter"]
	if !strings.HasPrefix(msg, "line 2, column ") {
		t.Fatalf("filter error %q does not start with the position of the error", msg)
	}
	if len(msg) < len("line 2, column 1: ")+10 {
		t.Fatalf("filter error %q carries no message from CEL", msg)
	}
}

func TestSSRF(t *testing.T) {
	tests := []struct {
		url           string
		allowPrivate  bool
		allowLoopback bool
		wantIn        string // "" = accepted
	}{
		{url: "https://203.0.113.7/hook"},
		{url: "https://hooks.example.com/hook"},
		{url: "https://[2001:db8::1]/hook"},
		{url: "http://169.254.169.254/latest/meta-data/", wantIn: "metadata"},
		{url: "http://169.254.169.254/latest/meta-data/", wantIn: "allow_private"},
		{url: "http://169.254.169.254/", allowPrivate: true},
		{url: "http://169.254.1.1/", wantIn: "link-local"},
		{url: "http://[fe80::1]/", wantIn: "link-local"},
		{url: "http://[fe80::1%25eth0]/", wantIn: "link-local"},
		{url: "http://127.0.0.1:9000/", wantIn: "loopback"},
		{url: "http://127.0.0.1:9000/", allowLoopback: true},
		{url: "http://127.0.0.1:9000/", allowPrivate: true},
		{url: "http://127.8.9.10/", wantIn: "loopback"},
		{url: "http://[::1]/", wantIn: "loopback"},
		{url: "http://[::1]/", allowLoopback: true},
		{url: "http://localhost:3000/", wantIn: "loopback"},
		{url: "http://LOCALHOST./", wantIn: "loopback"},
		{url: "http://api.localhost/", wantIn: "loopback"},
		{url: "http://localhost:3000/", allowLoopback: true},
		{url: "http://10.0.0.1/", wantIn: "private"},
		{url: "http://10.0.0.1/", allowLoopback: true, wantIn: "private"},
		{url: "http://10.0.0.1/", allowPrivate: true},
		{url: "http://172.16.0.1/", wantIn: "private"},
		{url: "http://172.31.255.255/", wantIn: "private"},
		{url: "http://172.32.0.1/"},
		{url: "http://192.168.1.1/", wantIn: "private"},
		{url: "http://[fd00::1]/", wantIn: "private"},
		{url: "http://[fc00::1]/", wantIn: "private"},
		{url: "http://0.0.0.0/", wantIn: "unspecified"},
		{url: "http://0.1.2.3/", wantIn: "unspecified"},
		{url: "http://[::]/", wantIn: "unspecified"},
		{url: "http://224.0.0.1/", wantIn: "multicast"},
		{url: "http://[ff02::1]/", wantIn: "multicast"},
		{url: "http://100.64.0.1/", wantIn: "CGNAT"},
		{url: "http://100.127.255.255/", wantIn: "CGNAT"},
		{url: "http://100.128.0.1/"},
		{url: "http://[::ffff:127.0.0.1]/", wantIn: "loopback"},
		{url: "http://[::ffff:169.254.169.254]/", wantIn: "metadata"},
		{url: "http://[64:ff9b::a00:1]/", wantIn: "private"},
		{url: "http://2130706433/", wantIn: "standard notation"},
		{url: "http://127.1/", wantIn: "standard notation"},
		{url: "http://0x7f.0.0.1/", wantIn: "standard notation"},
		{url: "https://internal.example.com/", wantIn: `resolves to 10.0.0.5, a private address`},
		{url: "https://internal.example.com/", allowPrivate: true},
		{url: "https://dual.example.com/", wantIn: "10.1.2.3"},
		{url: "https://meta.example.com/", wantIn: "metadata"},
		{url: "https://cgnat.example.com/", wantIn: "CGNAT"},
		{url: "https://loop.example.com/", wantIn: "loopback"},
		{url: "https://loop.example.com/", allowLoopback: true},
		{url: "https://v6private.example/", wantIn: "private"},
		{url: "https://mapped.example/", wantIn: "private"},
		// A failed lookup is not a refusal: the dispatcher checks at dial time.
		{url: "https://nxdomain.example.com/"},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s private=%v loopback=%v", tt.url, tt.allowPrivate, tt.allowLoopback)
		t.Run(name, func(t *testing.T) {
			s := validSub()
			s.URL, s.AllowPrivate = tt.url, tt.allowPrivate
			v := Validator{Resolver: testResolver, AllowLoopback: tt.allowLoopback}
			errs := fieldErrors(t, v.Validate(context.Background(), s))
			if tt.wantIn == "" {
				if len(errs) != 0 {
					t.Fatalf("want accepted, got %v", errs)
				}
				return
			}
			msg, ok := errs["url"]
			if !ok {
				t.Fatalf("want a url error containing %q, got %v", tt.wantIn, errs)
			}
			if !strings.Contains(msg, tt.wantIn) {
				t.Fatalf("url error %q does not contain %q", msg, tt.wantIn)
			}
		})
	}
}

func TestSSRFLookupTimeoutIsNotARefusal(t *testing.T) {
	s := validSub()
	v := Validator{Resolver: hangingResolver{}, ResolveTimeout: 50 * time.Millisecond}
	start := time.Now()
	if err := v.Validate(context.Background(), s); err != nil {
		t.Fatalf("a lookup that timed out refused the subscription: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("validation took %s; the lookup timeout is 50ms", d)
	}
}

func TestClassify(t *testing.T) {
	for addr, want := range map[string]Class{
		"8.8.8.8":         Public,
		"127.0.0.1":       Loopback,
		"10.255.0.1":      Private,
		"169.254.169.254": LinkLocal,
		"100.64.0.0":      CGNAT,
		"::":              Unspecified,
		"ff05::1":         Multicast,
		"fd00:ec2::254":   Private,
		"2001:4860::8888": Public,
	} {
		a, err := ParseAddr(addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := Classify(a); got != want {
			t.Errorf("Classify(%s) = %q, want %q", addr, got, want)
		}
	}
}
