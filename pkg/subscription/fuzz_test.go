package subscription

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/filter"
	"github.com/surgehq/surge/schemas"
)

// FuzzSubscriptionBody: a create body (POST /v1/subscriptions), decoded
// as the admin API decodes it, built and validated. A refusal is a join
// of field errors, each naming its field (the admin API answers the first
// as a 400 with "field"). A subscription that passes is one every stage
// can use: an absolute http(s) URL without credentials, event types and a
// filter fanout compiles, no reserved or header-splitting header, waits
// within bounds; it survives the Subscription Avro record unchanged, and
// sending the same body again as a PATCH changes nothing.
func FuzzSubscriptionBody(f *testing.F) {
	for _, s := range []string{
		`{"url":"https://hooks.example.com/surge","event_types":["order.*","product.updated"],"filter":"type == \"order.placed\" && data.total > 100.0",
		  "headers":{"X-Api-Key":"k1"},"timeout_ms":5000,"rate_limit_per_s":10,"max_in_flight":4,"retry_schedule":["5s","30s","2m"],"description":"ERP orders"}`,
		`{"url":"http://127.0.0.1:9000/hook","event_types":["*"]}`,
		`{"url":"http://127.0.0.1:9000/hook","event_types":["*"],"signature_scheme":"v1a"}`,
		`{"url":"https://hooks.example.com/","event_types":["*"],"signature_scheme":"ed25519"}`,
		`{"url":"http://10.0.0.1/","event_types":["*"],"allow_private":true,"enabled":false,"disabled_reason":"maintenance"}`,
		`{"url":"https://user:pw@hooks.example.com/","event_types":["order.*"]}`,
		`{"url":"https://hooks.example.com:70000/","event_types":["order..*"],"headers":{"Content-Type":"x","X-A":"a\r\nb"}}`,
		`{"url":"https://internal.example.com/","event_types":["order.placed","order.placed"],"retry_schedule":["1ms","73h","soon"]}`,
		`{"url":"http://0x7f.1/","event_types":["*"],"filter":"data.total >"}`,
		`{"url":"https://hooks.example.com/","event_types":["*"],"rate_limit_per_s":-1,"max_in_flight":5000,"timeout_ms":50}`,
	} {
		f.Add([]byte(s))
	}
	v := Validator{Resolver: testResolver, ResolveTimeout: time.Second}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		var in Input
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if dec.Decode(&in) != nil {
			return // 400 malformed at the admin API
		}
		if _, err := dec.Token(); err != io.EOF || len(in.Missing()) > 0 {
			return
		}
		s := NewSubscription("sub_fuzz", in, now)
		err := v.Validate(context.Background(), s)
		if err != nil {
			checkFieldErrors(t, err)
			return
		}
		checkUsable(t, s)

		back := subscriptionRoundTrip(t, s)
		if !reflect.DeepEqual(normal(back), normal(s)) {
			t.Fatalf("the Subscription record changed it:\n  in %+v\n out %+v", s, back)
		}
		again := Clone(s)
		in.Apply(&again, now)
		if !reflect.DeepEqual(normal(again), normal(s)) {
			t.Fatalf("applying the body twice changed it:\n once %+v\ntwice %+v", s, again)
		}
		if _, err := json.Marshal(NewView(s)); err != nil {
			t.Fatalf("the view does not encode: %v", err)
		}
	})
}

// checkFieldErrors: every problem is a *catalog.FieldError with a field
// and a message.
func checkFieldErrors(t *testing.T, err error) {
	t.Helper()
	for _, e := range catalog.Leaves(err) {
		var fe *catalog.FieldError
		if !errors.As(e, &fe) || fe.Field == "" || fe.Message == "" {
			t.Fatalf("a refusal that names no field: %v (%T)", e, e)
		}
	}
}

// checkUsable asserts what the dispatcher and fanout rely on.
func checkUsable(t *testing.T, s event.Subscription) {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
		t.Fatalf("accepted URL %q: %v", s.URL, err)
	}
	if _, err := filter.CompileTypes(s.EventTypes); err != nil || len(s.EventTypes) == 0 {
		t.Fatalf("accepted event types %q do not compile: %v", s.EventTypes, err)
	}
	if s.Filter != "" {
		if _, err := filter.Compile(s.Filter); err != nil {
			t.Fatalf("accepted filter %q does not compile: %v", s.Filter, err)
		}
	}
	for k, val := range s.Headers {
		if slices.Contains(ReservedHeaders, strings.ToLower(k)) || strings.ContainsAny(k+val, "\r\n") {
			t.Fatalf("accepted header %q: %q", k, val)
		}
	}
	for _, w := range s.RetrySchedule {
		if d, err := time.ParseDuration(w); err != nil || d < MinRetryWait || d > MaxRetryWait {
			t.Fatalf("accepted retry wait %q", w)
		}
	}
	if s.TimeoutMS != 0 && (s.TimeoutMS < MinTimeoutMS || s.TimeoutMS > MaxTimeoutMS) || s.RateLimitPerS < 0 {
		t.Fatalf("accepted timeout %d, rate %v", s.TimeoutMS, s.RateLimitPerS)
	}
}

func subscriptionRoundTrip(t *testing.T, s event.Subscription) event.Subscription {
	t.Helper()
	codec, err := goavro.NewCodec(schemas.MustText(schemas.Subscription))
	if err != nil {
		t.Fatal(err)
	}
	bin, err := codec.BinaryFromNative(nil, s.Native())
	if err != nil {
		t.Fatalf("%+v does not encode with the Subscription schema: %v", s, err)
	}
	native, _, err := codec.NativeFromBinary(bin)
	if err != nil {
		t.Fatal(err)
	}
	back, err := event.SubscriptionFromNative(native)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// normal makes nil and empty slices and maps alike, as the Avro form does.
func normal(s event.Subscription) event.Subscription {
	if len(s.EventTypes) == 0 {
		s.EventTypes = nil
	}
	if len(s.Headers) == 0 {
		s.Headers = nil
	}
	if len(s.RetrySchedule) == 0 {
		s.RetrySchedule = nil
	}
	if len(s.Secrets) == 0 {
		s.Secrets = nil
	}
	return s
}
