package avroserde

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/surgehq/surge/pkg/avrowire"
	"github.com/surgehq/surge/pkg/avrowire/avrotest"
	"github.com/surgehq/surge/pkg/event"
)

// The fast paths are pinned to goavro: for every value, the fast encoder
// writes the bytes goavro writes from the value's native form, and the fast
// decoder reads goavro's bytes to what the FromNative function makes of
// goavro's decoding.

// fastType is what the tests know of the fast path of one record.
type fastType[T any] struct {
	name       string // the record's subtest name
	schema     string // its name in the schemas module
	native     func(T) map[string]any
	fromNative func(any) (T, error)
	append     func([]byte, T) []byte
	read       func([]byte) (T, error)
	newCodec   func(*Registry, string) *Codec[T]
	// mapLen returns the number of entries of the record's map field, which
	// goavro writes in Go's random map order.
	mapLen func(T) int
	// sample is a value like the pipeline's, random a random value biased
	// towards edge cases.
	sample T
	random func(gen) T
	// seed is added to the seed of a test's random values, so that each
	// record has its own.
	seed uint64
	// edges checks the record's edge cases, each a named value.
	edges func(check func(name string, v T))
}

// newFastType returns the fastType of the record newCodec makes codecs of,
// its conversions and fast path the ones the codec uses.
func newFastType[T any](name string, seed uint64, newCodec func(*Registry, string) *Codec[T], sample T, random func(gen) T,
	edges func(check func(string, T)), mapLen func(T) int) fastType[T] {
	c := newCodec(nil, "")
	return fastType[T]{name: name, schema: c.schemaName, native: c.toNative, fromNative: c.fromNative, append: c.fastAppend, read: c.fastRead,
		newCodec: newCodec, mapLen: mapLen, sample: sample, random: random, seed: seed, edges: edges}
}

var (
	fastEvent = newFastType("event", 0, NewEventCodec, sampleEventValue, gen.event, eventEdges,
		func(e event.Event) int { return len(e.Attributes) })
	fastEnriched = newFastType("enriched", 1, NewEnrichedEventCodec, sampleEnrichedValue, gen.enriched, enrichedEdges,
		func(e event.EnrichedEvent) int { return len(e.Attributes) })
	fastDelivery = newFastType("delivery", 2, NewDeliveryCodec, sampleDeliveryValue, gen.delivery, deliveryEdges,
		func(event.Delivery) int { return 0 })
	fastAttempt = newFastType("attempt", 3, NewDeliveryAttemptCodec, sampleAttemptValue, gen.attempt, attemptEdges,
		func(a event.DeliveryAttempt) int { return len(a.ResponseHeaders) })
)

// fastRecord is the fastType of any record, for the tests run for each
// record of fastRecords.
type fastRecord interface {
	recordName() string
	testMatchesGoavro(t *testing.T)
	testRandomMatchesGoavro(t *testing.T)
	testCodec(t *testing.T)
	testCorrupt(t *testing.T)
}

var fastRecords = []fastRecord{fastEvent, fastEnriched, fastDelivery, fastAttempt}

func (ft fastType[T]) recordName() string { return ft.name }

// randoms returns n random values of the generator of seed base+ft.seed.
func (ft fastType[T]) randoms(base uint64, n int) []T {
	g := newGen(base + ft.seed)
	out := make([]T, n)
	for i := range out {
		out[i] = ft.random(g)
	}
	return out
}

// goavroCodec returns goavro's codec of the schema.
func (ft fastType[T]) goavroCodec(t testing.TB) *goavro.Codec {
	t.Helper()
	return avrotest.Codec(t, ft.schema)
}

// goavroDecode decodes b with goavro the way Codec.Decode does: the whole
// of b, then FromNative.
func (ft fastType[T]) goavroDecode(c *goavro.Codec, b []byte) (T, any, error) {
	var zero T
	native, rest, err := c.NativeFromBinary(b)
	if err != nil {
		return zero, nil, err
	}
	if len(rest) != 0 {
		return zero, nil, errors.New("bytes left after the value")
	}
	v, err := ft.fromNative(native)
	return v, native, err
}

// check compares the fast path with goavro for v.
func (ft fastType[T]) check(t *testing.T, c *goavro.Codec, v T) {
	t.Helper()
	want, err := c.BinaryFromNative(nil, ft.native(v))
	if err != nil {
		t.Fatalf("goavro: %v", err)
	}
	prefix := []byte{0xaa, 0xbb}
	got := ft.append(prefix[:2:2], v)
	if !bytes.Equal(got[:2], prefix) {
		t.Fatalf("append changed dst: % x", got[:2])
	}
	got = got[2:]

	wantValue, wantNative, err := ft.goavroDecode(c, want)
	if err != nil {
		t.Fatalf("goavro decoding goavro's bytes: %v", err)
	}
	if ft.mapLen(v) <= 1 {
		if !bytes.Equal(got, want) {
			t.Fatalf("fast encoding differs from goavro's\n  fast: % x\ngoavro: % x\nvalue: %#v", got, want, v)
		}
	} else {
		// goavro writes the map's entries in random order (and the fast
		// encoder in key order): compare what both decode to.
		_, gotNative, err := ft.goavroDecode(c, got)
		if err != nil {
			t.Fatalf("goavro decoding the fast encoding: %v\n% x", err, got)
		}
		if len(got) != len(want) || !reflect.DeepEqual(gotNative, wantNative) {
			t.Fatalf("fast encoding decodes differently from goavro's\n  fast: %v\ngoavro: %v", gotNative, wantNative)
		}
	}

	fromGoavro, err := ft.read(want)
	if err != nil {
		t.Fatalf("fast decoding of goavro's bytes: %v\n% x", err, want)
	}
	if !reflect.DeepEqual(fromGoavro, wantValue) {
		t.Fatalf("fast decoding of goavro's bytes\n  fast: %#v\ngoavro: %#v", fromGoavro, wantValue)
	}
	roundTrip, err := ft.read(got)
	if err != nil {
		t.Fatalf("fast decoding of the fast encoding: %v\n% x", err, got)
	}
	if !reflect.DeepEqual(roundTrip, wantValue) {
		t.Fatalf("fast round trip\n  fast: %#v\ngoavro: %#v", roundTrip, wantValue)
	}
}

// checkRead decodes arbitrary bytes with the fast decoder and with goavro:
// both fail, or both give the same value. The fast decoder never panics.
func (ft fastType[T]) checkRead(t *testing.T, c *goavro.Codec, b []byte) {
	t.Helper()
	got, err := ft.read(b)
	if err != nil {
		if !reflect.ValueOf(&got).Elem().IsZero() {
			t.Fatalf("fast decoder returned %#v with error %v", got, err)
		}
		switch {
		case errors.Is(err, avrowire.ErrVarintOverflow), errors.Is(err, avrowire.ErrIntRange):
			return // goavro accepts these, dropping bits (see fast.go)
		case errors.Is(err, avrowire.ErrBlockCount):
			return // goavro fails too, after allocating for the whole count
		}
		if v, _, gerr := ft.goavroDecode(c, b); gerr == nil {
			t.Fatalf("fast decoder fails (%v) where goavro gives %#v\n% x", err, v, b)
		}
		return
	}
	want, _, gerr := ft.goavroDecode(c, b)
	if gerr != nil {
		t.Fatalf("fast decoder gives %#v where goavro fails (%v)\n% x", got, gerr, b)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoding % x\n  fast: %#v\ngoavro: %#v", b, got, want)
	}
	again, err := ft.read(ft.append(nil, got))
	if err != nil || !reflect.DeepEqual(again, got) {
		t.Fatalf("re-encoding %#v: got %#v, %v", got, again, err)
	}
}

// fuzzRead fuzzes the fast decoder with arbitrary bytes, seeded with the
// encodings of the sample, the zero value and random values, and of their
// truncations.
func (ft fastType[T]) fuzzRead(f *testing.F) {
	c := ft.goavroCodec(f)
	var zero T
	for _, v := range append([]T{ft.sample, zero}, ft.randoms(10, 3)...) {
		b := ft.append(nil, v)
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(append(b, 0))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) { ft.checkRead(t, c, b) })
}

func FuzzFastEventRead(f *testing.F)           { fastEvent.fuzzRead(f) }
func FuzzFastEnrichedEventRead(f *testing.F)   { fastEnriched.fuzzRead(f) }
func FuzzFastDeliveryRead(f *testing.F)        { fastDelivery.fuzzRead(f) }
func FuzzFastDeliveryAttemptRead(f *testing.F) { fastAttempt.fuzzRead(f) }

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func timePtr(t time.Time) *time.Time { return &t }

// Times whose encoding is easy to get wrong.
var edgeTimes = map[string]time.Time{
	"zero":                  {},
	"epoch":                 time.Unix(0, 0),
	"epoch, not UTC":        time.Unix(0, 0).In(time.FixedZone("CEST", 2*3600)),
	"just after epoch":      time.Unix(0, 999_999),
	"1 ms":                  time.UnixMilli(1),
	"before epoch":          utc("1969-12-31T23:59:59.999Z"),
	"before epoch, sub-ms":  time.Unix(-1, 999_999_999),
	"sub-ms":                utc("2025-07-15T09:30:05.123456789Z"),
	"other zone":            time.Date(2025, 7, 15, 11, 30, 5, 42e6, time.FixedZone("CEST", 2*3600)),
	"local, monotonic":      time.Now(),
	"year 1 plus 1ns":       time.Time{}.Add(1),
	"year 9999":             time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC),
	"millis overflow int64": time.Unix(math.MaxInt64/1000+1, 0),
	"far past":              time.Unix(math.MinInt64/1000-1, 0),
}

var edgeLongs = []int64{0, 1, -1, 63, -64, 64, -65, 8191, 8192, -8193, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64}

var edgeInts = []int32{0, 1, -1, 63, -64, 64, 503, math.MaxInt32, math.MinInt32}

var edgeData = map[string]json.RawMessage{
	"nil":                 nil,
	"empty":               {},
	"null":                json.RawMessage(`null`),
	"null with space":     json.RawMessage(" \tnull\r\n"),
	"space":               json.RawMessage("  "),
	"string null":         json.RawMessage(`"null"`),
	"object":              json.RawMessage(`{"sku":"24-MB01","price":29.0}`),
	"object with space":   json.RawMessage(" {\"a\":1} \n"),
	"unicode":             json.RawMessage(`{"name":"Käse – 日本語 🧀"}`),
	"not JSON":            json.RawMessage("\x00\xff\xfe"),
	"NBSP around null":    json.RawMessage("\u00a0null\u00a0"), // bytes.TrimSpace trims it
	"200 KiB (long size)": json.RawMessage(`"` + strings.Repeat("x", 200<<10) + `"`),
}

var edgeWarnings = map[string][]event.Warning{
	"nil":         nil,
	"empty":       {},
	"one":         {{Code: "line_item_skipped", Field: "data.items[0].qty", Message: "no quantity"}},
	"empty parts": {{}},
	"unicode":     {{Code: "🧀", Field: "data[\"prix – 價格\"]", Message: "Käse"}},
	"three":       {{Code: "a"}, {Field: "b"}, {Message: "c"}},
}

var edgeOrigins = map[string]event.Origin{
	"zero":           {},
	"format only":    {Format: event.FormatCanonical},
	"entity id only": {EntityID: "SKU-1"},
	"every field":    {Format: "cloudevents", ID: "a1", Type: "com.akeneo.pim.v1.product.deleted", Source: "urn:akeneo", EntityID: "uuid-1"},
	"unicode":        {ID: "Käse – 日本語 🧀", Source: "\x00", Type: "\xff\xfe not UTF-8"},
	"200 KiB id":     {ID: strings.Repeat("x", 200<<10)},
}

var edgeStrings = []string{"", "a", "Käse – 日本語 🧀", "\x00", "\xff\xfe not UTF-8", strings.Repeat("é", 100)}

func manyAttributes(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[strings.Repeat("k", i)] = strings.Repeat("v", n-i)
	}
	return m
}

var edgeAttributes = map[string]map[string]string{
	"nil":             nil,
	"empty":           {},
	"one":             {"adobe_uid": "evt-1"},
	"empty key/value": {"": ""},
	"unicode":         {"ключ": "значение", "🔑": "🧀"},
	"three":           {"b": "2", "a": "1", "c": ""},
	"40 (no stack)":   manyAttributes(40),
}

var edgeLists = map[string][]string{
	"nil":         nil,
	"empty":       {},
	"one empty":   {""},
	"unicode":     {"prix", "價格", "🧀"},
	"duplicates":  {"a", "a"},
	"100 entries": strings.Split(strings.Repeat("field,", 99)+"field", ","),
}

var (
	sampleEventValue = event.Event{
		ID:             "2zm8Q1y0R5VdqDkH9XcTnUwA7bE",
		Type:           "order.placed",
		Source:         "magento-eu",
		Time:           utc("2025-07-15T09:30:05Z"),
		ReceivedAt:     utc("2025-07-15T09:30:05.342Z"),
		Entity:         event.EntityRef{Type: "order", ID: "100012"},
		Data:           json.RawMessage(`{"increment_id":"100012","grand_total":129.9}`),
		IdempotencyKey: "order-100012-placed",
		CorrelationID:  "4bf92f3577b34da6a3ce929d0e0e4736",
		Format:         event.FormatAdobe,
		OriginalType:   "com.adobe.commerce.observer.sales_order_save_commit_after",
		Attributes:     map[string]string{"magento_store": "eu"},
		Origin:         event.Origin{Format: event.FormatAdobe, ID: "evt-1", Type: "com.adobe.commerce.observer.sales_order_save_commit_after"},
	}
	sampleEnrichedValue = event.EnrichedEvent{
		ID:            "2zm8Sx4bHq0LpW3e7YjKd9NfRtA",
		Type:          "product.updated",
		Source:        "akeneo",
		Time:          utc("2025-07-15T09:41:12Z"),
		ReceivedAt:    utc("2025-07-15T09:41:12.519Z"),
		EnrichedAt:    utc("2025-07-15T09:41:12.587Z"),
		Entity:        event.EntityRef{Type: "product", ID: "24-MB01"},
		EntityVersion: 7,
		Data:          json.RawMessage(`{"sku":"24-MB01","price":29.0}`),
		Changes:       []string{"price"},
		Flags:         []string{"price_drop"},
		CorrelationID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Attributes:    map[string]string{"akeneo_channel": "ecommerce"},
		Warnings:      []event.Warning{{Code: "not_loaded", Field: "data", Message: "the loader answered 404"}},
		Origin: event.Origin{Format: event.FormatCloudEvents, ID: "018e32f9", Type: "com.akeneo.pim.v1.product.updated",
			Source: "pim", EntityID: "6a9f8486-2c36-4680-b87f-6f5f8f01b6cf"},
	}
	sampleDeliveryValue = event.Delivery{
		ID:             "msg_1",
		EventID:        "2zm8Q1y0R5VdqDkH9XcTnUwA7bE",
		SubscriptionID: "sub_1",
		EntityKey:      "order:100012",
		EventType:      "order.placed",
		EntityVersion:  1,
		Body:           json.RawMessage(`{"id":"2zm8Q1y0R5VdqDkH9XcTnUwA7bE"}`),
		CreatedAt:      utc("2025-07-15T09:30:05.401Z"),
		CorrelationID:  "4bf92f3577b34da6a3ce929d0e0e4736",
		Attempts:       2,
		NextAttemptAt:  timePtr(utc("2025-07-15T09:32:07.911Z")),
		FirstFailureAt: timePtr(utc("2025-07-15T09:30:06.012Z")),
		LastFailureAt:  timePtr(utc("2025-07-15T09:30:37.911Z")),
		LastStatus:     503,
		LastError:      "unexpected status 503 Service Unavailable",
	}
	sampleAttemptValue = event.DeliveryAttempt{
		DeliveryID:      "msg_1",
		EventID:         "2zm8Q1y0R5VdqDkH9XcTnUwA7bE",
		SubscriptionID:  "sub_1",
		EntityKey:       "order:100012",
		Attempt:         2,
		URL:             "https://erp.example.com/hooks/surge",
		StartedAt:       utc("2025-07-15T09:30:37.800Z"),
		Duration:        111_250 * time.Microsecond,
		StatusCode:      503,
		Outcome:         "retry",
		Error:           "endpoint answered 503 Service Unavailable",
		ResponseHeaders: map[string]string{"retry-after": "120"},
		ResponseBody:    `{"error":"maintenance"}`,
		NextAttemptAt:   timePtr(utc("2025-07-15T09:32:07.911Z")),
		CorrelationID:   "4bf92f3577b34da6a3ce929d0e0e4736",
	}
)

// TestFastMatchesGoavro checks each record's zero value, its sample and
// its edge cases.
func TestFastMatchesGoavro(t *testing.T) {
	for _, r := range fastRecords {
		t.Run(r.recordName(), r.testMatchesGoavro)
	}
}

func (ft fastType[T]) testMatchesGoavro(t *testing.T) {
	c := ft.goavroCodec(t)
	check := func(name string, v T) {
		t.Run(name, func(t *testing.T) { ft.check(t, c, v) })
	}
	var zero T
	check("zero", zero)
	check("sample", ft.sample)
	ft.edges(check)
}

// vary checks a copy of base per edge value, which set sets in it, in a
// subtest named prefix and the value's name.
func vary[T, V any](check func(string, T), prefix string, base T, edges map[string]V, set func(*T, V)) {
	for name, edge := range edges {
		v := base
		set(&v, edge)
		check(prefix+name, v)
	}
}

// numbered returns the numbers by their decimal names.
func numbered[N int32 | int64](ns []N) map[string]N {
	m := make(map[string]N, len(ns))
	for _, n := range ns {
		m[itoa(int64(n))] = n
	}
	return m
}

// eachString checks the value of every edge string, which of makes, in
// subtests "strings a", "strings b" and so on.
func eachString[T any](check func(string, T), of func(s string) T) {
	for i, s := range edgeStrings {
		check("strings "+string(rune('a'+i)), of(s))
	}
}

func eventEdges(check func(string, event.Event)) {
	base := sampleEventValue
	thin := base
	thin.Data, thin.IdempotencyKey, thin.Attributes = nil, "", nil
	check("thin", thin)
	vary(check, "time ", base, edgeTimes, func(e *event.Event, tm time.Time) { e.Time, e.ReceivedAt = tm, tm })
	vary(check, "data ", base, edgeData, func(e *event.Event, d json.RawMessage) { e.Data = d })
	vary(check, "attributes ", base, edgeAttributes, func(e *event.Event, m map[string]string) { e.Attributes = m })
	vary(check, "origin ", base, edgeOrigins, func(e *event.Event, o event.Origin) { e.Origin = o })
	eachString(check, func(s string) event.Event {
		return event.Event{
			ID: s, Type: s, Source: s, Entity: event.EntityRef{Type: s, ID: s}, Data: json.RawMessage(s),
			IdempotencyKey: s, CorrelationID: s, Format: s, OriginalType: s, Attributes: map[string]string{s: s},
			Origin: event.Origin{Format: s, ID: s, Type: s, Source: s, EntityID: s},
		}
	})
}

func enrichedEdges(check func(string, event.EnrichedEvent)) {
	base := sampleEnrichedValue
	deleted := base
	deleted.Deleted, deleted.Data, deleted.Changes, deleted.Flags = true, nil, nil, nil
	check("deleted", deleted)
	vary(check, "time ", base, edgeTimes, func(e *event.EnrichedEvent, tm time.Time) { e.Time, e.ReceivedAt, e.EnrichedAt = tm, tm, tm })
	vary(check, "data ", base, edgeData, func(e *event.EnrichedEvent, d json.RawMessage) { e.Data = d })
	vary(check, "attributes ", base, edgeAttributes, func(e *event.EnrichedEvent, m map[string]string) { e.Attributes = m })
	vary(check, "lists ", base, edgeLists, func(e *event.EnrichedEvent, l []string) { e.Changes, e.Flags = l, l })
	vary(check, "changes only ", base, edgeLists, func(e *event.EnrichedEvent, l []string) { e.Changes, e.Flags = l, nil })
	vary(check, "warnings ", base, edgeWarnings, func(e *event.EnrichedEvent, ws []event.Warning) { e.Warnings = ws })
	vary(check, "origin ", base, edgeOrigins, func(e *event.EnrichedEvent, o event.Origin) { e.Origin = o })
	vary(check, "version ", base, numbered(edgeLongs), func(e *event.EnrichedEvent, n int64) { e.EntityVersion = n })
	eachString(check, func(s string) event.EnrichedEvent {
		return event.EnrichedEvent{
			ID: s, Type: s, Source: s, Entity: event.EntityRef{Type: s, ID: s}, Data: json.RawMessage(s),
			Changes: []string{s}, Flags: []string{s, s}, CorrelationID: s, Attributes: map[string]string{s: s},
			Warnings: []event.Warning{{Code: s, Field: s, Message: s}},
			Origin:   event.Origin{Format: s, ID: s, Type: s, Source: s, EntityID: s},
		}
	})
}

func deliveryEdges(check func(string, event.Delivery)) {
	base := sampleDeliveryValue
	first := base
	first.Attempts, first.NextAttemptAt, first.FirstFailureAt, first.LastFailureAt, first.LastStatus, first.LastError = 0, nil, nil, nil, 0, ""
	check("before the first attempt", first)
	vary(check, "time ", base, edgeTimes, func(d *event.Delivery, tm time.Time) {
		d.CreatedAt, d.NextAttemptAt, d.FirstFailureAt, d.LastFailureAt = tm, timePtr(tm), timePtr(tm), nil
	})
	vary(check, "body ", base, edgeData, func(d *event.Delivery, body json.RawMessage) { d.Body = body })
	vary(check, "version ", base, numbered(edgeLongs), func(d *event.Delivery, n int64) { d.EntityVersion = n })
	vary(check, "attempts ", base, numbered(edgeInts), func(d *event.Delivery, n int32) { d.Attempts, d.LastStatus = n, -n })
	eachString(check, func(s string) event.Delivery {
		return event.Delivery{
			ID: s, EventID: s, SubscriptionID: s, EntityKey: s, EventType: s, Body: json.RawMessage(s),
			CorrelationID: s, LastError: s,
		}
	})
}

func attemptEdges(check func(string, event.DeliveryAttempt)) {
	base := sampleAttemptValue
	delivered := base
	delivered.StatusCode, delivered.Outcome, delivered.Error, delivered.NextAttemptAt, delivered.ResponseBody = 204, "delivered", "", nil, ""
	check("delivered", delivered)
	vary(check, "time ", base, edgeTimes, func(a *event.DeliveryAttempt, tm time.Time) { a.StartedAt, a.NextAttemptAt = tm, timePtr(tm) })
	vary(check, "duration ", base, numbered(edgeLongs), func(a *event.DeliveryAttempt, n int64) { a.Duration = time.Duration(n) })
	vary(check, "attempt ", base, numbered(edgeInts), func(a *event.DeliveryAttempt, n int32) { a.Attempt, a.StatusCode = n, -n })
	vary(check, "headers ", base, edgeAttributes, func(a *event.DeliveryAttempt, m map[string]string) { a.ResponseHeaders = m })
	eachString(check, func(s string) event.DeliveryAttempt {
		return event.DeliveryAttempt{
			DeliveryID: s, EventID: s, SubscriptionID: s, EntityKey: s, URL: s, Outcome: s, Error: s,
			ResponseHeaders: map[string]string{s: s}, ResponseBody: s, CorrelationID: s,
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// gen generates random values, biased towards edge cases.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) gen { return gen{rand.New(rand.NewPCG(seed, 0x5eed))} }

func (g gen) str() string {
	switch g.r.IntN(8) {
	case 0:
		return ""
	case 1:
		return edgeStrings[g.r.IntN(len(edgeStrings))]
	case 2: // random bytes, mostly not UTF-8
		b := make([]byte, g.r.IntN(40))
		for i := range b {
			b[i] = byte(g.r.Uint32())
		}
		return string(b)
	case 3: // long enough for a multi-byte length
		return strings.Repeat("ab", 32+g.r.IntN(200))
	default:
		const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_.:-ÄöüßЖ日本🧀"
		runes := []rune(alphabet)
		out := make([]rune, g.r.IntN(24))
		for i := range out {
			out[i] = runes[g.r.IntN(len(runes))]
		}
		return string(out)
	}
}

// number returns one of edges a 1/n of the time, wide() another 1/n, else
// small().
func number[N int32 | int64](g gen, n int, edges []N, wide, small func() N) N {
	switch g.r.IntN(n) {
	case 0:
		return edges[g.r.IntN(len(edges))]
	case 1:
		return wide()
	default:
		return small()
	}
}

func (g gen) long() int64 {
	return number(g, 4, edgeLongs, func() int64 { return int64(g.r.Uint64()) }, func() int64 { return g.r.Int64N(1<<20) - 1<<19 })
}

func (g gen) int() int32 {
	return number(g, 3, edgeInts, func() int32 { return int32(g.r.Uint32()) }, func() int32 { return int32(g.r.IntN(1000)) - 100 })
}

// entry returns a random value of m (which one also depends on Go's map
// iteration order).
func entry[V any](g gen, m map[string]V) V {
	i := g.r.IntN(len(m))
	for _, v := range m {
		if i == 0 {
			return v
		}
		i--
	}
	panic("entry: the map changed")
}

var zones = []*time.Location{time.UTC, time.Local, time.FixedZone("CEST", 2*3600), time.FixedZone("NST", -(3*3600 + 1800))}

func (g gen) time() time.Time {
	switch g.r.IntN(6) {
	case 0:
		return time.Time{}
	case 1:
		return entry(g, edgeTimes)
	case 2: // anywhere in the int64 nanoseconds range, before or after 1970
		return time.Unix(0, int64(g.r.Uint64())).In(zones[g.r.IntN(len(zones))])
	}
	ms := g.r.Int64N(4e12) - 1e12 // 1938 to 2096
	return time.UnixMilli(ms).Add(time.Duration(g.r.IntN(1e6))).In(zones[g.r.IntN(len(zones))])
}

func (g gen) optTime() *time.Time {
	if g.r.IntN(3) == 0 {
		return nil
	}
	return timePtr(g.time())
}

func (g gen) json() json.RawMessage {
	switch g.r.IntN(6) {
	case 0:
		return nil
	case 1:
		return entry(g, edgeData)
	case 2:
		return json.RawMessage(g.str())
	}
	b, _ := json.Marshal(map[string]any{"id": g.str(), "n": g.long(), "tags": g.strings()})
	return b
}

// length returns the length of a random list or map: -1 for nil a quarter
// of the time, 0 another quarter, else 1 to 20.
func (g gen) length() int {
	switch g.r.IntN(4) {
	case 0:
		return -1
	case 1:
		return 0
	}
	return 1 + g.r.IntN(20)
}

func (g gen) strings() []string {
	n := g.length()
	if n < 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = g.str()
	}
	return out
}

func (g gen) stringMap() map[string]string {
	n := g.length()
	if n < 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		m[g.str()] = g.str()
	}
	return m
}

func (g gen) event() event.Event {
	return event.Event{
		ID: g.str(), Type: g.str(), Source: g.str(), Time: g.time(), ReceivedAt: g.time(),
		Entity: event.EntityRef{Type: g.str(), ID: g.str()}, Data: g.json(), IdempotencyKey: g.str(),
		CorrelationID: g.str(), Format: g.str(), OriginalType: g.str(), Attributes: g.stringMap(),
		Origin: g.origin(),
	}
}

func (g gen) origin() event.Origin {
	if g.r.IntN(3) == 0 {
		return event.Origin{}
	}
	return event.Origin{Format: g.str(), ID: g.str(), Type: g.str(), Source: g.str(), EntityID: g.str()}
}

func (g gen) enriched() event.EnrichedEvent {
	return event.EnrichedEvent{
		ID: g.str(), Type: g.str(), Source: g.str(), Time: g.time(), ReceivedAt: g.time(), EnrichedAt: g.time(),
		Entity: event.EntityRef{Type: g.str(), ID: g.str()}, EntityVersion: g.long(), Data: g.json(),
		Changes: g.strings(), Deleted: g.r.IntN(2) == 0, Flags: g.strings(), CorrelationID: g.str(),
		Attributes: g.stringMap(), Warnings: g.warnings(), Origin: g.origin(),
	}
}

func (g gen) warnings() []event.Warning {
	n := g.r.IntN(4)
	if n == 0 {
		return nil
	}
	ws := make([]event.Warning, n)
	for i := range ws {
		ws[i] = event.Warning{Code: g.str(), Field: g.str(), Message: g.str()}
	}
	return ws
}

func (g gen) delivery() event.Delivery {
	return event.Delivery{
		ID: g.str(), EventID: g.str(), SubscriptionID: g.str(), EntityKey: g.str(), EventType: g.str(),
		EntityVersion: g.long(), Body: g.json(), CreatedAt: g.time(), CorrelationID: g.str(),
		Attempts: g.int(), NextAttemptAt: g.optTime(), FirstFailureAt: g.optTime(), LastFailureAt: g.optTime(),
		LastStatus: g.int(), LastError: g.str(),
	}
}

func (g gen) attempt() event.DeliveryAttempt {
	return event.DeliveryAttempt{
		DeliveryID: g.str(), EventID: g.str(), SubscriptionID: g.str(), EntityKey: g.str(), Attempt: g.int(),
		URL: g.str(), StartedAt: g.time(), Duration: time.Duration(g.long()), StatusCode: g.int(), Outcome: g.str(),
		Error: g.str(), ResponseHeaders: g.stringMap(), ResponseBody: g.str(), NextAttemptAt: g.optTime(),
		CorrelationID: g.str(),
	}
}

// TestFastRandomMatchesGoavro checks a few thousand random values of each
// record.
func TestFastRandomMatchesGoavro(t *testing.T) {
	for _, r := range fastRecords {
		t.Run(r.recordName(), r.testRandomMatchesGoavro)
	}
}

func (ft fastType[T]) testRandomMatchesGoavro(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	c, g := ft.goavroCodec(t), newGen(1+ft.seed)
	for range n {
		ft.check(t, c, ft.random(g))
	}
}

// block encodes one block of an array or map of strings: a negative count
// is followed by the block's size in bytes, as other Avro writers do (size
// < 0: the right size).
func block(count, size int64, items ...string) []byte {
	var body []byte
	for _, s := range items {
		body = avrowire.AppendString(body, s)
	}
	b := avrowire.AppendLong(nil, count)
	if count < 0 {
		if size < 0 {
			size = int64(len(body))
		}
		b = avrowire.AppendLong(b, size)
	}
	return append(b, body...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// enrichedRaw encodes an EnrichedEvent with the given encodings of
// changes, deleted, flags and attributes, no warnings and no origin.
func enrichedRaw(changes, deleted, flags, attributes []byte) []byte {
	return enrichedRawWarnings(changes, deleted, flags, attributes, end)
}

// enrichedRawWarnings is enrichedRaw with the given encoding of warnings
// (the origin is null).
func enrichedRawWarnings(changes, deleted, flags, attributes, warnings []byte) []byte {
	b := avrowire.AppendString(nil, "id")
	b = avrowire.AppendString(b, "order.placed")
	b = avrowire.AppendString(b, "default")
	b = avrowire.AppendLong(b, 1)
	b = avrowire.AppendLong(b, 2)
	b = avrowire.AppendLong(b, -3)
	b = avrowire.AppendString(b, "order")
	b = avrowire.AppendString(b, "100012")
	b = avrowire.AppendLong(b, 4)
	b = avrowire.AppendString(b, `{"a":1}`)
	return cat(b, changes, deleted, flags, avrowire.AppendString(nil, ""), attributes, warnings, end)
}

var (
	end     = []byte{0}
	noFlags = []byte{0}
	kept    = []byte{0} // deleted: false
)

// TestFastReadHandmade reads encodings goavro never writes — several
// blocks, negative block counts — and malformed ones, comparing with
// goavro.
func TestFastReadHandmade(t *testing.T) {
	c := fastEnriched.goavroCodec(t)
	valid := []struct {
		name       string
		b          []byte
		changes    []string
		attributes map[string]string
	}{
		{
			name:    "two blocks",
			b:       enrichedRaw(cat(block(2, 0, "a", "b"), block(1, 0, "c"), end), kept, noFlags, end),
			changes: []string{"a", "b", "c"},
		},
		{
			name:    "negative count with size",
			b:       enrichedRaw(cat(block(-2, -1, "a", "b"), end), kept, noFlags, end),
			changes: []string{"a", "b"},
		},
		{
			name:    "negative then positive",
			b:       enrichedRaw(cat(block(-1, -1, "a"), block(2, 0, "b", "c"), end), kept, noFlags, end),
			changes: []string{"a", "b", "c"},
		},
		{
			name:    "wrong block size, unused",
			b:       enrichedRaw(cat(block(-1, 999, "a"), end), kept, noFlags, end),
			changes: []string{"a"},
		},
		{
			name:       "map in blocks",
			b:          enrichedRaw(end, kept, noFlags, cat(block(1, 0, "k", "v"), block(-2, -1, "k2", "v2", "k3", ""), end)),
			attributes: map[string]string{"k": "v", "k2": "v2", "k3": ""},
		},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			fastEnriched.checkRead(t, c, tt.b)
			e, err := event.EnrichedEventFromAvro(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(e.Changes, tt.changes) || !reflect.DeepEqual(e.Attributes, tt.attributes) {
				t.Errorf("changes %q, attributes %q", e.Changes, e.Attributes)
			}
			if e.Time.UnixMilli() != 1 || e.ReceivedAt.UnixMilli() != 2 || e.EnrichedAt.UnixMilli() != -3 || e.EntityVersion != 4 {
				t.Errorf("decoded %#v", e)
			}
		})
	}

	overlong := []byte{0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00} // 1, in 11 bytes
	good := enrichedRaw(end, kept, noFlags, end)
	invalid := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, avrowire.ErrTruncated},
		{"truncated", good[:len(good)-1], avrowire.ErrTruncated},
		{"trailing byte", cat(good, []byte{0}), avrowire.ErrTrailing},
		{"duplicate key", enrichedRaw(end, kept, noFlags, cat(block(2, 0, "k", "v", "k", "w"), end)), avrowire.ErrDuplicateKey},
		{"duplicate key across blocks", enrichedRaw(end, kept, noFlags, cat(block(1, 0, "k", "v"), block(1, 0, "k", "v"), end)), avrowire.ErrDuplicateKey},
		{"negative string length", enrichedRaw(cat([]byte{2}, avrowire.AppendLong(nil, -1)), kept, noFlags, end), avrowire.ErrNegativeLength},
		{"string past the end", enrichedRaw(cat([]byte{2}, avrowire.AppendLong(nil, 200)), nil, nil, nil), avrowire.ErrTruncated},
		{"min int64 block count", enrichedRaw(cat(avrowire.AppendLong(nil, math.MinInt64), []byte{0}), kept, noFlags, end), avrowire.ErrBlockCount},
		{"huge block count", enrichedRaw(avrowire.AppendLong(nil, 1<<40), kept, noFlags, end), avrowire.ErrBlockCount},
		{"huge negative block count", enrichedRaw(cat(avrowire.AppendLong(nil, -(1<<30)), []byte{2}), kept, noFlags, end), avrowire.ErrBlockCount},
		{"boolean 2", enrichedRaw(end, []byte{2}, noFlags, end), avrowire.ErrBoolean},
		{"overlong varint", cat(overlong, good[1:]), avrowire.ErrVarintOverflow},
		{"varint 10th byte > 1", cat([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02}, good[1:]), avrowire.ErrVarintOverflow},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			fastEnriched.checkRead(t, c, tt.b)
			if _, err := event.EnrichedEventFromAvro(tt.b); !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("warnings in blocks", func(t *testing.T) {
		rec := func(code, field, msg string) []byte {
			return avrowire.AppendString(avrowire.AppendString(avrowire.AppendString(nil, code), field), msg)
		}
		one, two := rec("a", "data.x", "m"), rec("b", "", "")
		b := enrichedRawWarnings(end, kept, noFlags, end,
			cat(avrowire.AppendLong(nil, 1), one, avrowire.AppendLong(nil, -1), avrowire.AppendLong(nil, int64(len(two))), two, end))
		fastEnriched.checkRead(t, c, b)
		e, err := event.EnrichedEventFromAvro(b)
		want := []event.Warning{{Code: "a", Field: "data.x", Message: "m"}, {Code: "b"}}
		if err != nil || !reflect.DeepEqual(e.Warnings, want) {
			t.Errorf("warnings %+v, %v; want %+v", e.Warnings, err, want)
		}
		huge := enrichedRawWarnings(end, kept, noFlags, end, cat(avrowire.AppendLong(nil, 1<<20), one, end))
		fastEnriched.checkRead(t, c, huge)
		if _, err := event.EnrichedEventFromAvro(huge); !errors.Is(err, avrowire.ErrBlockCount) {
			t.Errorf("huge warnings count: error %v", err)
		}
	})
	t.Run("union branch", func(t *testing.T) {
		c := fastEvent.goavroCodec(t)
		good := event.AppendEventAvro(nil, event.Event{Data: json.RawMessage(`{}`)})
		i := bytes.IndexByte(good, 2) // data's branch: the first non-zero byte
		for _, branch := range []int64{-1, 2, 1 << 40} {
			b := cat(good[:i], avrowire.AppendLong(nil, branch), good[i+1:])
			fastEvent.checkRead(t, c, b)
			if _, err := event.EventFromAvro(b); !errors.Is(err, avrowire.ErrUnionBranch) {
				t.Errorf("branch %d: error %v", branch, err)
			}
		}
	})
	t.Run("origin union branch", func(t *testing.T) {
		// origin is the last field of both records: its branch is the
		// last byte of a value without one.
		for name, good := range map[string][]byte{
			"event":    event.AppendEventAvro(nil, event.Event{}),
			"enriched": event.AppendEnrichedEventAvro(nil, event.EnrichedEvent{}),
		} {
			ft := map[string]func([]byte) error{
				"event": func(b []byte) error {
					fastEvent.checkRead(t, fastEvent.goavroCodec(t), b)
					_, err := event.EventFromAvro(b)
					return err
				},
				"enriched": func(b []byte) error {
					fastEnriched.checkRead(t, c, b)
					_, err := event.EnrichedEventFromAvro(b)
					return err
				},
			}[name]
			for _, branch := range []int64{-1, 2, 1 << 40} {
				b := cat(good[:len(good)-1], avrowire.AppendLong(nil, branch))
				if err := ft(b); !errors.Is(err, avrowire.ErrUnionBranch) {
					t.Errorf("%s origin branch %d: error %v", name, branch, err)
				}
			}
			// An origin record cut short.
			b := cat(good[:len(good)-1], []byte{2}, avrowire.AppendString(nil, "cloudevents"))
			if err := ft(b); !errors.Is(err, avrowire.ErrTruncated) {
				t.Errorf("%s origin cut short: error %v", name, err)
			}
		}
	})
	t.Run("event data null as a string", func(t *testing.T) {
		// The fast encoder writes null JSON as the null branch; another
		// writer may not.
		c := fastEvent.goavroCodec(t)
		good := event.AppendEventAvro(nil, event.Event{Data: json.RawMessage(`{}`)})
		i := bytes.IndexByte(good, 2) // data's branch: the first non-zero byte
		for _, data := range []string{"", "null", " null\n", "\u00a0null"} {
			b := cat(good[:i+1], avrowire.AppendString(nil, data), good[i+4:])
			fastEvent.checkRead(t, c, b)
			if e, err := event.EventFromAvro(b); err != nil || e.Data != nil {
				t.Errorf("data %q: %q, %v", data, e.Data, err)
			}
		}
	})
	t.Run("int range", func(t *testing.T) {
		c := fastDelivery.goavroCodec(t)
		good := event.AppendDeliveryAvro(nil, event.Delivery{LastError: "x"})
		i := len(good) - 3 // last_status, before last_error's length and byte
		for _, tt := range []struct {
			n    uint64
			want error
		}{{math.MaxUint32, nil}, {math.MaxUint32 + 1, avrowire.ErrIntRange}, {1 << 62, avrowire.ErrIntRange}} {
			b := cat(good[:i], binary.AppendUvarint(nil, tt.n), good[i+1:])
			fastDelivery.checkRead(t, c, b)
			if _, err := event.DeliveryFromAvro(b); !errors.Is(err, tt.want) {
				t.Errorf("int %d: error %v, want %v", tt.n, err, tt.want)
			}
		}
	})
}
