package avroserde_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/avrowire/avrotest"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/schemas"
)

// newRegistry starts an in-memory schema registry behind a real HTTP server
// and returns it with a Registry talking to it.
func newRegistry(t testing.TB) (*srfake.Registry, *avroserde.Registry) {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	return fake, avroserde.RegistryAt(t, fake.URL())
}

// registeredEvent returns the Event codec of topic "events", registered
// with reg, and its encoding of sampleEvent.
func registeredEvent(t testing.TB, reg *avroserde.Registry) (*avroserde.Codec[event.Event], []byte) {
	t.Helper()
	c := avroserde.NewEventCodec(reg, "events")
	if err := c.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode(sampleEvent)
	if err != nil {
		t.Fatal(err)
	}
	return c, b
}

// registerSchema registers schema text under subject and returns its id
// and goavro codec.
func registerSchema(t testing.TB, reg *avroserde.Registry, subject, text string) (int, *goavro.Codec) {
	t.Helper()
	ctx := context.Background()
	id, err := reg.Register(ctx, subject, text)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := reg.Codec(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return id, codec
}

func ms(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func ptr(t time.Time) *time.Time { return &t }

var (
	// sampleEvent is the fast path tests' sample as a canonical event would
	// be: no idempotency key, no original type.
	sampleEvent = func() event.Event {
		e := avroserde.SampleEvent
		e.IdempotencyKey, e.Format, e.OriginalType = "", event.FormatCanonical, ""
		e.Origin = event.Origin{Format: event.FormatCanonical, ID: "ord-100012-placed", Type: "order.placed", Source: "magento"}
		return e
	}()
	// The fast path tests' samples, without the fields Surge wrote later
	// than the codec round trip test.
	sampleEnriched = func() event.EnrichedEvent {
		e := avroserde.SampleEnrichedEvent
		e.CorrelationID, e.Attributes, e.Origin = "", nil, event.Origin{}
		return e
	}()
	sampleSubscription = event.Subscription{
		ID:            "sub_1",
		URL:           "https://erp.example.com/hooks/surge",
		EventTypes:    []string{"order.*"},
		Headers:       map[string]string{"X-Tenant": "eu-1", "X-Api-Version": "2"},
		TimeoutMS:     5000,
		RateLimitPerS: 20,
		RetrySchedule: []string{"5s", "30s"},
		Enabled:       true,
		Secrets: []event.Secret{
			{Value: "whsec_bmV3", CreatedAt: ms("2025-07-15T08:00:00Z")},
			{Value: "whsec_b2xk", CreatedAt: ms("2025-05-01T00:00:00Z"), ExpiresAt: ptr(ms("2025-07-16T08:00:00Z"))},
		},
		CreatedAt: ms("2025-05-01T00:00:00Z"),
		UpdatedAt: ms("2025-07-15T08:00:00Z"),
	}
	sampleDelivery = func() event.Delivery {
		d := avroserde.SampleDelivery
		d.CorrelationID = ""
		return d
	}()
	sampleAttempt = event.DeliveryAttempt{
		DeliveryID:      "msg_1",
		EventID:         "2zm8Q1y0R5VdqDkH9XcTnUwA7bE",
		SubscriptionID:  "sub_1",
		EntityKey:       "order:100012",
		Attempt:         2,
		URL:             "https://erp.example.com/hooks/surge",
		StartedAt:       ms("2025-07-15T09:30:37.488Z"),
		Duration:        423117 * time.Microsecond,
		StatusCode:      429,
		Outcome:         event.OutcomeRetry,
		ResponseHeaders: map[string]string{"Retry-After": "90"},
		NextAttemptAt:   ptr(ms("2025-07-15T09:32:07.911Z")),
	}
)

// roundTrip registers the codec newCodec makes of topic with reg, encodes
// v, and decodes it with that codec and with one over a fresh Registry of
// the registry at url, its cache empty, which must fetch the writer schema.
func roundTrip[T any](t *testing.T, reg *avroserde.Registry, url string, newCodec func(*avroserde.Registry, string) *avroserde.Codec[T], topic string, v T) {
	t.Helper()
	ctx := context.Background()
	c := newCodec(reg, topic)
	if err := c.Register(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, dec := range []*avroserde.Codec[T]{c, newCodec(avroserde.RegistryAt(t, url), topic)} {
		got, err := dec.Decode(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("round trip\n got: %#v\nwant: %#v", got, v)
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	fake, reg := newRegistry(t)
	url := fake.URL()
	thin := sampleEvent
	thin.Data, thin.Attributes, thin.CorrelationID = nil, nil, ""
	t.Run("event", func(t *testing.T) { roundTrip(t, reg, url, avroserde.NewEventCodec, "events", sampleEvent) })
	t.Run("thin event", func(t *testing.T) { roundTrip(t, reg, url, avroserde.NewEventCodec, "events", thin) })
	t.Run("enriched event", func(t *testing.T) {
		roundTrip(t, reg, url, avroserde.NewEnrichedEventCodec, "enriched", sampleEnriched)
	})
	t.Run("subscription", func(t *testing.T) { roundTrip(t, reg, url, avroserde.NewSubscriptionCodec, "subs", sampleSubscription) })
	t.Run("delivery", func(t *testing.T) { roundTrip(t, reg, url, avroserde.NewDeliveryCodec, "deliveries", sampleDelivery) })
	t.Run("delivery attempt", func(t *testing.T) {
		roundTrip(t, reg, url, avroserde.NewDeliveryAttemptCodec, "attempts", sampleAttempt)
	})
}

func TestRegisterSubject(t *testing.T) {
	fake, reg := newRegistry(t)
	c := avroserde.NewEventCodec(reg, "commerce.events.raw")
	if c.ID() != 0 {
		t.Errorf("ID before Register = %d, want 0", c.ID())
	}
	ctx := context.Background()
	for range 2 { // idempotent
		if err := c.Register(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ss, ok := fake.GetSchema("commerce.events.raw-value", 1)
	if !ok {
		t.Fatal("no version 1 under subject commerce.events.raw-value")
	}
	if ss.ID != c.ID() || ss.Schema.Schema != schemas.MustText(schemas.Event) {
		t.Errorf("registered id %d (codec has %d), schema %.40q...", ss.ID, c.ID(), ss.Schema.Schema)
	}
	if _, ok := fake.GetSchema("commerce.events.raw-value", 2); ok {
		t.Error("registering twice created a second version")
	}
}

func TestEncodeBeforeRegister(t *testing.T) {
	_, reg := newRegistry(t)
	_, err := avroserde.NewEventCodec(reg, "events").Encode(sampleEvent)
	if !errors.Is(err, avroserde.ErrNotRegistered) {
		t.Errorf("error = %v, want ErrNotRegistered", err)
	}
}

func TestWireHeader(t *testing.T) {
	fake, reg := newRegistry(t)
	const id = 0x01020304
	text := schemas.MustText(schemas.Event)
	fake.SeedSchema("events-value", 1, id, sr.Schema{Schema: text})
	codec, err := goavro.NewCodec(text)
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("keep")
	b, err := avroserde.AppendEncode(prefix, id, codec, sampleEvent.Native())
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{'k', 'e', 'e', 'p', 0, 0x01, 0x02, 0x03, 0x04}; !bytes.Equal(b[:9], want) {
		t.Fatalf("header = % x, want % x", b[:9], want)
	}
	avroBytes, err := codec.BinaryFromNative(nil, sampleEvent.Native())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[9:], avroBytes) {
		t.Error("payload is not the plain Avro binary")
	}

	// The registry fetches the schema of the seeded id.
	got, err := avroserde.NewEventCodec(reg, "events").Decode(context.Background(), b[4:])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sampleEvent) {
		t.Errorf("decoded %#v", got)
	}
	gotID, rest, err := avroserde.ParseHeader(b[4:])
	if err != nil || gotID != id || !bytes.Equal(rest, avroBytes) {
		t.Errorf("ParseHeader = %d, %d bytes, %v", gotID, len(rest), err)
	}

	// A failed encode leaves dst alone.
	out, err := avroserde.AppendEncode(prefix, id, codec, map[string]any{"id": 1})
	if err == nil || !bytes.Equal(out, prefix) {
		t.Errorf("AppendEncode of a bad value = %q, %v", out, err)
	}
	if _, err := avroserde.AppendEncode(nil, -1, codec, sampleEvent.Native()); err == nil {
		t.Error("AppendEncode accepted id -1")
	}
}

func TestDecodeErrors(t *testing.T) {
	ctx := context.Background()
	_, reg := newRegistry(t)
	events, good := registeredEvent(t, reg)
	subs := avroserde.NewSubscriptionCodec(reg, "subs")
	if err := subs.Register(ctx); err != nil {
		t.Fatal(err)
	}
	sub, err := subs.Encode(sampleSubscription)
	if err != nil {
		t.Fatal(err)
	}
	// A string field claiming more bytes than there are.
	badLength := append([]byte{0, 0, 0, 0, byte(events.ID())}, 0x7e, 'a')

	tests := []struct {
		name    string
		in      []byte
		wantErr error
	}{
		{name: "nil", in: nil, wantErr: avroserde.ErrNotWireFormat},
		{name: "shorter than the header", in: []byte{0, 0, 0, 1}, wantErr: avroserde.ErrNotWireFormat},
		{name: "plain JSON", in: []byte(`{"type":"order.placed"}`), wantErr: avroserde.ErrNotWireFormat},
		{name: "magic byte 1", in: append([]byte{1}, good[1:]...), wantErr: avroserde.ErrNotWireFormat},
		{name: "unknown schema id", in: append([]byte{0, 0, 0, 0x27, 0x0f}, good[5:]...), wantErr: avroserde.ErrUnknownSchema},
		{name: "truncated Avro", in: good[:len(good)-10], wantErr: avroserde.ErrUndecodable},
		{name: "header only", in: good[:5], wantErr: avroserde.ErrUndecodable},
		{name: "bad string length", in: badLength, wantErr: avroserde.ErrUndecodable},
		{name: "trailing bytes", in: append(append([]byte(nil), good...), 0), wantErr: avroserde.ErrUndecodable},
		{name: "another record's schema", in: sub, wantErr: avroserde.ErrUndecodable},
		{name: "good", in: good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := events.Decode(ctx, tt.in)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("error = %v", err)
				}
				return
			}
			if classes := avroserde.ErrorClasses(err); len(classes) != 1 || classes[0] != tt.wantErr {
				t.Fatalf("error = %v, of the classes %v, want %v only", err, classes, tt.wantErr)
			}
			// The registry level classifies the same way, but knows
			// nothing of records.
			_, _, regErr := reg.Decode(ctx, tt.in)
			if tt.name != "another record's schema" && !errors.Is(regErr, tt.wantErr) {
				t.Errorf("Registry.Decode error = %v, want %v", regErr, tt.wantErr)
			}
		})
	}
}

// TestRegistryUnreachable checks that a registry that cannot be reached is
// not mistaken for a permanent error, and that the id is fetched again
// once it is back.
func TestRegistryUnreachable(t *testing.T) {
	fake, reg := newRegistry(t)
	var down atomic.Int32 // the HTTP status the registry answers with; 0: up
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if code := int(down.Load()); code != 0 {
			http.Error(w, http.StatusText(code), code)
			return true
		}
		return false
	})
	_, b := registeredEvent(t, reg)

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name   string
		reg    *avroserde.Registry
		status int
	}{
		{name: "connection refused", reg: avroserde.RegistryAt(t, closed.URL)},
		{name: "503", reg: avroserde.RegistryAt(t, fake.URL()), status: http.StatusServiceUnavailable},
		{name: "bare 404 from a proxy", reg: avroserde.RegistryAt(t, fake.URL()), status: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			down.Store(int32(tt.status))
			_, _, err := tt.reg.Decode(context.Background(), b)
			if err == nil {
				t.Fatal("no error")
			}
			if classes := avroserde.ErrorClasses(err); len(classes) != 0 {
				t.Errorf("error %v is %v", err, classes)
			}
		})
	}
	down.Store(0)
	if _, _, err := tests[1].reg.Decode(context.Background(), b); err != nil {
		t.Errorf("after the registry came back: %v", err)
	}
}

// TestFetchOnce checks that concurrent decodes of an unknown id make one
// request to the registry, and later decodes none.
func TestFetchOnce(t *testing.T) {
	fake, reg := newRegistry(t)
	_, b := registeredEvent(t, reg)
	var fetches atomic.Int32
	release := make(chan struct{})
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/schemas/ids/") {
			fetches.Add(1)
			<-release // hold the request so the other decoders pile up
		}
		return false
	})
	fresh := avroserde.NewEventCodec(avroserde.RegistryAt(t, fake.URL()), "events")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := fresh.Decode(context.Background(), b)
			errs <- err
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if _, err := fresh.Decode(context.Background(), b); err != nil {
		t.Error(err)
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d schema fetches, want 1", n)
	}
}

// TestDecodeCanceled checks that a caller waiting for another caller's
// fetch can give up on its own context.
func TestDecodeCanceled(t *testing.T) {
	fake, reg := newRegistry(t)
	_, b := registeredEvent(t, reg)
	release := make(chan struct{})
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		<-release
		return false
	})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := avroserde.RegistryAt(t, fake.URL()).Decode(ctx, b)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want a deadline error", err)
	}
}

// TestEvolvedReader writes a record with an older Event schema (before
// original_type and attributes existed) and reads it with the current
// codec: the missing fields are zero.
func TestEvolvedReader(t *testing.T) {
	ctx := context.Background()
	_, reg := newRegistry(t)
	oldText := avrotest.WithoutFields(t, schemas.MustText(schemas.Event), "original_type", "attributes")
	oldID, oldCodec := registerSchema(t, reg, "events", oldText)
	in := sampleEvent
	in.OriginalType = "sales_order_place_after"
	native := in.Native()
	delete(native, "original_type")
	delete(native, "attributes")
	old, err := avroserde.AppendEncode(nil, oldID, oldCodec, native)
	if err != nil {
		t.Fatal(err)
	}

	current := avroserde.NewEventCodec(reg, "events")
	if err := current.Register(ctx); err != nil {
		t.Fatal(err)
	}
	if current.ID() == oldID {
		t.Fatal("the current schema got the old schema's id")
	}
	got, err := current.Decode(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.OriginalType, want.Attributes = "", nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got: %#v\nwant: %#v", got, want)
	}
}

func BenchmarkEventEncode(b *testing.B) {
	_, reg := newRegistry(b)
	c := avroserde.NewEventCodec(reg, "events")
	if err := c.Register(context.Background()); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = c.AppendEncode(buf[:0], sampleEvent); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkEventDecode(b *testing.B) {
	_, reg := newRegistry(b)
	c, buf := registeredEvent(b, reg)
	ctx := context.Background()
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(ctx, buf); err != nil {
			b.Fatal(err)
		}
	}
}
