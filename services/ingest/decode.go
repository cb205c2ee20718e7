package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/binding"
	ceevent "github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	cetypes "github.com/cloudevents/sdk-go/v2/types"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/httpx"
)

// MaxBatchItems is the most events one batch request may carry.
const MaxBatchItems = 1000

// Keys of event.Event.Attributes set by the decoders.
const (
	AttrSource            = "source"        // canonical envelope's optional "source"
	AttrAdobeUID          = "adobe_uid"     // Adobe starter kit's data.uid
	AttrCloudEventsSource = "ce_source"     // CloudEvents source
	AttrCloudEventsSubj   = "ce_subject"    // CloudEvents subject
	AttrCloudEventsSchema = "ce_dataschema" // CloudEvents dataschema
	// AttrCloudEventsPrefix precedes each CloudEvents extension's name,
	// e.g. "ce_traceparent".
	AttrCloudEventsPrefix = "ce_"
)

// CheckJSONContentType accepts a JSON request Content-Type:
// application/json, any application/*+json, or none. Anything else is a
// 415 *httpx.Error.
func CheckJSONContentType(ct string) error {
	if strings.TrimSpace(ct) == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	// curl -d sends application/x-www-form-urlencoded unless told
	// otherwise; shops' scripts do exactly that, and the body is parsed
	// as JSON (and rejected as malformed if it is not), so it is accepted.
	if err == nil && mt == "application/x-www-form-urlencoded" {
		return nil
	}
	if err != nil || !isJSONMediaType(mt) {
		return httpx.Errorf(http.StatusUnsupportedMediaType, httpx.CodeUnsupportedMedia,
			"content type %q is not JSON; send application/json", ct)
	}
	return nil
}

func isJSONMediaType(mt string) bool {
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

func isNullJSON(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || string(b) == "null"
}

// Error constructors. Field is relative to the event; batches prefix it.

func malformed(field, format string, args ...any) *httpx.Error {
	return &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeMalformed, Field: field, Message: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) *httpx.Error {
	return &httpx.Error{Status: http.StatusUnprocessableEntity, Code: httpx.CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

func unsupportedMedia(field, format string, args ...any) *httpx.Error {
	return &httpx.Error{Status: http.StatusUnsupportedMediaType, Code: httpx.CodeUnsupportedMedia, Field: field, Message: fmt.Sprintf(format, args...)}
}

func unknownType(field, name string) *httpx.Error {
	return &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeUnknownEventType, Field: field,
		Message: fmt.Sprintf("unknown event type %q: not in the catalog; do not retry", name)}
}

// decodeError turns an encoding/json error into a 400 naming the field
// when it can.
func decodeError(what string, err error) *httpx.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return malformed("", "decoding %s: must be a JSON object, got %s", what, te.Value)
		}
		return malformed(te.Field, "decoding %s: %s must not be a JSON %s", what, te.Field, te.Value)
	}
	return malformed("", "decoding %s: %v", what, err)
}

// joinField prefixes a batch item's field: ("events[3]", "entity.id").
func joinField(prefix, field string) string {
	if field == "" {
		return prefix
	}
	return prefix + "." + field
}

// decodeBatch decodes every item with one, all or nothing: when any item
// is bad it returns one error listing every bad item, with fields such as
// "events[3].entity.id" (name "events") or "[3].data" (name ""). The
// error is a 400 with the items' code when every item failed with the
// same 400, else a 422. A plain (non-HTTP) error from an item is returned
// as is.
func decodeBatch(items []json.RawMessage, name string, one func(i int, raw json.RawMessage) (event.Event, error)) ([]event.Event, error) {
	if len(items) == 0 {
		return nil, malformed(name, "the batch has no events")
	}
	if len(items) > MaxBatchItems {
		return nil, malformed(name, "the batch has %d events, more than the %d allowed; split it", len(items), MaxBatchItems)
	}
	evs := make([]event.Event, 0, len(items))
	var bad []httpx.ItemError
	sameKind := true
	for i, raw := range items {
		ev, err := one(i, raw)
		if err == nil {
			evs = append(evs, ev)
			continue
		}
		var he *httpx.Error
		if !errors.As(err, &he) {
			return nil, err
		}
		if he.Status != http.StatusBadRequest || (len(bad) > 0 && he.Code != bad[0].Code) {
			sameKind = false
		}
		bad = append(bad, httpx.ItemError{
			Index:   i,
			Code:    he.Code,
			Message: he.Message,
			Field:   joinField(name+"["+strconv.Itoa(i)+"]", he.Field),
		})
	}
	if len(bad) == 0 {
		return evs, nil
	}
	e := &httpx.Error{Items: bad}
	switch {
	case sameKind && bad[0].Code == httpx.CodeUnknownEventType:
		e.Status, e.Code = http.StatusBadRequest, httpx.CodeUnknownEventType
		e.Message = fmt.Sprintf("%d of %d events have an event type that is not in the catalog; nothing was accepted; do not retry this batch", len(bad), len(items))
	case sameKind:
		e.Status, e.Code = http.StatusBadRequest, bad[0].Code
		e.Message = fmt.Sprintf("%d of %d events are malformed; nothing was accepted", len(bad), len(items))
	default:
		e.Status, e.Code = http.StatusUnprocessableEntity, httpx.CodeInvalid
		e.Message = fmt.Sprintf("%d of %d events are invalid; nothing was accepted", len(bad), len(items))
	}
	return nil, e
}

// resolve looks a sender's type name up in the catalog.
func resolve(cat *catalog.Catalog, name, field string) (catalog.EventType, error) {
	et, ok := cat.Lookup(name)
	if !ok {
		return catalog.EventType{}, unknownType(field, name)
	}
	return et, nil
}

// entityTypeOf is the entity type of events of et when the sender does not
// name one: the catalog's, else the canonical name's first word
// ("return.requested" is about a "return").
func entityTypeOf(et catalog.EventType) string {
	if et.EntityType != "" {
		return et.EntityType
	}
	first, _, _ := strings.Cut(et.Name, ".")
	return first
}

// checkData returns the event's data, nil for a thin event, and requires
// it to be a JSON object: enrich merges it into the entity's snapshot.
func checkData(data json.RawMessage, field string) (json.RawMessage, error) {
	data = bytes.TrimSpace(data)
	if isNullJSON(data) {
		return nil, nil
	}
	if data[0] != '{' {
		return nil, invalid(field, "%s must be a JSON object (the entity or the changed fields)", field)
	}
	return data, nil
}

// idString is an identifier sent as a JSON string or number; a number
// keeps its literal text (100012 -> "100012").
type idString string

func (s *idString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '"':
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*s = idString(strings.TrimSpace(str))
		return nil
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		*s = idString(b)
		return nil
	default:
		// An UnmarshalTypeError gets its field path filled in by
		// encoding/json.
		kind := "value"
		switch b[0] {
		case '{':
			kind = "object"
		case '[':
			kind = "array"
		case 't', 'f':
			kind = "bool"
		}
		return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[string]()}
	}
}

// --- canonical envelope ---

// canonicalEvent is one event of the canonical envelope; unknown fields are
// ignored.
type canonicalEvent struct {
	Type   string `json:"type"`
	Entity *struct {
		Type string   `json:"type"`
		ID   idString `json:"id"`
	} `json:"entity"`
	Data   json.RawMessage `json:"data"`
	ID     idString        `json:"id"`
	Time   string          `json:"time"`
	Source string          `json:"source"`
	// Events makes the body a batch; it is ignored inside a batch.
	Events json.RawMessage `json:"events"`
}

// DecodeCanonical decodes POST /v1/events: one event
// {"type","entity":{"type","id"},"data"?,"id"?,"time"?,"source"?} or a
// batch {"events":[...]} (a bare JSON array is taken as a batch too).
//
// The type is resolved through cat (an alias becomes the canonical type;
// OriginalType keeps the sender's name) and the entity type must be the
// catalog's for that type when the catalog names one. Absent or null data
// makes a thin event. Time is RFC 3339, now when absent. Event.ID is the
// sender's id, empty when none (the caller mints ids). IdempotencyKey is
// idemHeader for a single event, idemHeader+":"+index for a batch item,
// else the sender's id. Data is checked against the type's schema when v
// is not nil.
//
// Errors are *httpx.Error (400 malformed or unknown type, 422 invalid,
// with a field path such as "events[3].entity.id"); a batch is all or
// nothing and its one error lists every bad item.
func DecodeCanonical(body []byte, idemHeader string, src catalog.Source, cat *catalog.Catalog, v *DataValidator, now time.Time) ([]event.Event, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, malformed("", "the body is empty; send one event or {\"events\":[...]}")
	}
	decodeItems := func(raw json.RawMessage, name string) ([]event.Event, error) {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, malformed(name, "decoding the batch: must be a JSON array of events")
		}
		return decodeBatch(items, name, func(i int, raw json.RawMessage) (event.Event, error) {
			var ce canonicalEvent
			if err := json.Unmarshal(raw, &ce); err != nil {
				return event.Event{}, decodeError("event", err)
			}
			key := ce.ID
			if idemHeader != "" {
				key = idString(idemHeader + ":" + strconv.Itoa(i))
			}
			return canonicalToEvent(ce, string(key), src, cat, v, now)
		})
	}
	if trimmed[0] == '[' {
		return decodeItems(trimmed, "")
	}
	var single canonicalEvent
	if err := json.Unmarshal(trimmed, &single); err != nil {
		return nil, decodeError("body", err)
	}
	if single.Events != nil {
		return decodeItems(single.Events, "events")
	}
	key := string(single.ID)
	if idemHeader != "" {
		key = idemHeader
	}
	ev, err := canonicalToEvent(single, key, src, cat, v, now)
	if err != nil {
		return nil, err
	}
	return []event.Event{ev}, nil
}

func canonicalToEvent(ce canonicalEvent, idemKey string, src catalog.Source, cat *catalog.Catalog, v *DataValidator, now time.Time) (event.Event, error) {
	switch {
	case strings.TrimSpace(ce.Type) == "":
		return event.Event{}, malformed("type", "type is required")
	case ce.Entity == nil:
		return event.Event{}, malformed("entity", "entity is required: {\"type\":\"order\",\"id\":\"100012\"}")
	case strings.TrimSpace(ce.Entity.Type) == "":
		return event.Event{}, malformed("entity.type", "entity.type is required")
	case ce.Entity.ID == "":
		return event.Event{}, malformed("entity.id", "entity.id is required")
	}
	et, err := resolve(cat, ce.Type, "type")
	if err != nil {
		return event.Event{}, err
	}
	if et.EntityType != "" && ce.Entity.Type != et.EntityType {
		return event.Event{}, invalid("entity.type", "events of type %s are about %q entities, not %q", et.Name, et.EntityType, ce.Entity.Type)
	}
	t := now
	if ce.Time != "" {
		t, err = time.Parse(time.RFC3339Nano, ce.Time)
		if err != nil {
			return event.Event{}, invalid("time", "time %q is not an RFC 3339 timestamp such as 2024-05-01T12:00:00Z", ce.Time)
		}
	}
	data, err := checkData(ce.Data, "data")
	if err != nil {
		return event.Event{}, err
	}
	if err := v.validate(et, data, "data"); err != nil {
		return event.Event{}, err
	}
	ev := event.Event{
		ID:             string(ce.ID),
		Type:           et.Name,
		Source:         src.ID,
		Time:           t.UTC(),
		ReceivedAt:     now,
		Entity:         event.EntityRef{Type: ce.Entity.Type, ID: string(ce.Entity.ID)},
		Data:           data,
		IdempotencyKey: idemKey,
		Format:         event.FormatCanonical,
		OriginalType:   ce.Type,
		Origin:         event.Origin{Format: event.FormatCanonical, ID: string(ce.ID), Type: ce.Type, Source: ce.Source},
	}
	if ce.Source != "" {
		ev.Attributes = map[string]string{AttrSource: ce.Source}
	}
	return ev, nil
}

// --- Adobe Commerce starter kit ---

// adobeIDFields are the members of an Adobe starter-kit data.value that
// carry the entity id, tried in order: first the generic ones, then those
// of the entity type, except for a product, whose SKU comes first.
//
//	product:         sku, then entity_id, id
//	any other:       entity_id, id, then
//	order:           order_id, increment_id
//	customer:        customer_id, email
//	customer_group:  customer_group_id
//	stock:           source_item, sku
//
// A product's SKU is what names it across systems (Akeneo's identifier,
// a catalog.Source identity rule's data.product.identifier, the stock
// entity of the ledger); its entity_id is a row of one shop's database.
// So Adobe Commerce creates, updates and deletes products by SKU, as the
// starter kit's own payloads do. A field counts when it is a non-empty
// string or a number.
var adobeIDFields = map[string][]string{
	"":               {"entity_id", "id"},
	"product":        {"sku"},
	"order":          {"order_id", "increment_id"},
	"customer":       {"customer_id", "email"},
	"customer_group": {"customer_group_id"},
	"stock":          {"source_item", "sku"},
}

// adobeIDOrder is the order adobeIDFields are tried in for entityType.
func adobeIDOrder(entityType string) []string {
	generic, own := adobeIDFields[""], adobeIDFields[entityType]
	if entityType == "product" {
		generic, own = own, generic
	}
	return append(append([]string(nil), generic...), own...)
}

// DecodeAdobe decodes the Adobe Commerce starter-kit ingestion format
// {"data":{"uid","event","value"}}. The event name is resolved through cat
// and gives the entity type; value is the event's data and carries the
// entity id (see adobeIDFields). uid is the idempotency key unless
// idemHeader is set, and is kept in Attributes["adobe_uid"]. Errors and v
// are as for DecodeCanonical.
func DecodeAdobe(body []byte, idemHeader string, src catalog.Source, cat *catalog.Catalog, v *DataValidator, now time.Time) ([]event.Event, error) {
	var in struct {
		Data *struct {
			UID   idString        `json:"uid"`
			Event string          `json:"event"`
			Value json.RawMessage `json:"value"`
		} `json:"data"`
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, malformed("", "the body is empty; send {\"data\":{\"uid\",\"event\",\"value\"}}")
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, decodeError("body", err)
	}
	switch {
	case in.Data == nil:
		return nil, malformed("data", "data is required: {\"data\":{\"uid\",\"event\",\"value\"}}")
	case strings.TrimSpace(in.Data.Event) == "":
		return nil, malformed("data.event", "data.event is required")
	}
	et, err := resolve(cat, in.Data.Event, "data.event")
	if err != nil {
		return nil, err
	}
	if isNullJSON(in.Data.Value) {
		return nil, invalid("data.value", "data.value is required: it carries the entity and its id")
	}
	value, err := checkData(in.Data.Value, "data.value")
	if err != nil {
		return nil, err
	}
	entityType := entityTypeOf(et)
	id := adobeEntityID(value, entityType)
	if id == "" {
		return nil, invalid("data.value", "no %s id in data.value: set one of %s", entityType, strings.Join(adobeIDOrder(entityType), ", "))
	}
	if err := v.validate(et, value, "data.value"); err != nil {
		return nil, err
	}
	ev := event.Event{
		Type:           et.Name,
		Source:         src.ID,
		Time:           now,
		ReceivedAt:     now,
		Entity:         event.EntityRef{Type: entityType, ID: id},
		Data:           value,
		IdempotencyKey: idemHeader,
		Format:         event.FormatAdobe,
		OriginalType:   in.Data.Event,
		Origin:         event.Origin{Format: event.FormatAdobe, ID: string(in.Data.UID), Type: in.Data.Event},
	}
	if uid := string(in.Data.UID); uid != "" {
		ev.Attributes = map[string]string{AttrAdobeUID: uid}
		if ev.IdempotencyKey == "" {
			ev.IdempotencyKey = uid
		}
	}
	return []event.Event{ev}, nil
}

func adobeEntityID(value json.RawMessage, entityType string) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(value, &fields) != nil {
		return ""
	}
	for _, name := range adobeIDOrder(entityType) {
		if id := scalarID(fields[name]); id != "" {
			return id
		}
	}
	return ""
}

// scalarID is a JSON string or number as an id; "" for anything else.
func scalarID(raw json.RawMessage) string {
	var s idString
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return string(s)
}

// --- CloudEvents 1.0 ---

// cloudEventsIDFields are the members of data.<entity type> that carry the
// entity id, in order: Akeneo's product events carry
// {"product":{"uuid":...}}, product models, categories, attributes and
// families {"<entity>":{"code":...}}.
var cloudEventsIDFields = []string{"uuid", "identifier", "code", "id"}

// cloudEventsEntityIDExtension names the extension that sets the entity id.
const cloudEventsEntityIDExtension = "entityid"

// DecodeCloudEvents decodes CloudEvents 1.0 with the official SDK: structured
// mode (application/cloudevents+json; also plain JSON carrying a
// "specversion", as Akeneo's Event Platform sends it), binary mode (ce-*
// headers, the body being the data, any JSON content type) and batch mode
// (application/cloudevents-batch+json). body is the request body, already
// read; r gives the headers.
//
// Mapping: ce type → the catalog (Akeneo's names are aliases); ce id →
// Event.ID, and ce source + "/" + ce id → IdempotencyKey (ids are unique
// per source); ce time → Time (now when absent); ce source, subject,
// dataschema and every extension → Attributes ("ce_" + name). The entity
// id is, in order: the "entityid" extension; data.<entity type>.uuid,
// .identifier, .code or .id (Akeneo puts the entity there and uses subject
// for the PIM instance, so data wins over subject; an attribute option is
// "<attribute code>.<option code>"); the subject. The source's identity
// rules may then map it (identity.go). ce id, type and source are kept in
// Origin. Data must
// be JSON (else 415) and an object. Errors and v are as for
// DecodeCanonical; batch fields look like "[3].data.total".
func DecodeCloudEvents(r *http.Request, body []byte, src catalog.Source, cat *catalog.Catalog, v *DataValidator, now time.Time) ([]event.Event, error) {
	header := http.Header{}
	ctx := context.Background()
	if r != nil {
		header, ctx = r.Header, r.Context()
	}
	ct := header.Get("Content-Type")
	mt := ""
	if strings.TrimSpace(ct) != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return nil, unsupportedMedia("", "content type %q is not a valid media type", ct)
		}
	}
	trimmed := bytes.TrimSpace(body)

	switch {
	case mt == ceevent.ApplicationCloudEventsBatchJSON:
		return decodeCloudEventsBatch(trimmed, src, cat, v, now)
	case mt == ceevent.ApplicationCloudEventsJSON:
		return decodeCloudEventStructured(trimmed, src, cat, v, now)
	case strings.HasPrefix(mt, "application/cloudevents"):
		return nil, unsupportedMedia("", "CloudEvents format %q is not supported; use %s or %s", mt, ceevent.ApplicationCloudEventsJSON, ceevent.ApplicationCloudEventsBatchJSON)
	case header.Get("Ce-Specversion") != "":
		if err := CheckJSONContentType(ct); err != nil {
			return nil, unsupportedMedia("datacontenttype", "binary-mode data of type %q is not JSON; send application/json", ct)
		}
		ce, err := binaryCloudEvent(ctx, header, body)
		if err != nil {
			return nil, err
		}
		ev, err := cloudEventToEvent(ce, src, cat, v, now)
		if err != nil {
			return nil, err
		}
		return []event.Event{ev}, nil
	case mt == "" || isJSONMediaType(mt):
		if len(trimmed) > 0 && trimmed[0] == '[' {
			return decodeCloudEventsBatch(trimmed, src, cat, v, now)
		}
		return decodeCloudEventStructured(trimmed, src, cat, v, now)
	default:
		return nil, unsupportedMedia("", "content type %q is not CloudEvents: send %s, %s, or binary mode (ce-* headers) with JSON data",
			ct, ceevent.ApplicationCloudEventsJSON, ceevent.ApplicationCloudEventsBatchJSON)
	}
}

func decodeCloudEventStructured(body []byte, src catalog.Source, cat *catalog.Catalog, v *DataValidator, now time.Time) ([]event.Event, error) {
	if len(body) == 0 {
		return nil, malformed("", "the body is empty; send a CloudEvent")
	}
	if body[0] != '{' {
		return nil, malformed("", "a structured-mode CloudEvent must be a JSON object")
	}
	ce, err := unmarshalCloudEvent(body)
	if err != nil {
		return nil, err
	}
	ev, err := cloudEventToEvent(ce, src, cat, v, now)
	if err != nil {
		return nil, err
	}
	return []event.Event{ev}, nil
}

func decodeCloudEventsBatch(body []byte, src catalog.Source, cat *catalog.Catalog, v *DataValidator, now time.Time) ([]event.Event, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, malformed("", "decoding the batch: must be a JSON array of CloudEvents")
	}
	return decodeBatch(items, "", func(_ int, raw json.RawMessage) (event.Event, error) {
		if b := bytes.TrimSpace(raw); len(b) == 0 || b[0] != '{' {
			return event.Event{}, malformed("", "a CloudEvent must be a JSON object")
		}
		ce, err := unmarshalCloudEvent(raw)
		if err != nil {
			return event.Event{}, err
		}
		return cloudEventToEvent(ce, src, cat, v, now)
	})
}

// unmarshalCloudEvent decodes one structured-mode CloudEvent with the SDK.
// The SDK can panic on some malformed input (a one-character data_base64
// before specversion slices out of range), so a panic is a 400 too.
func unmarshalCloudEvent(b []byte) (ce ceevent.Event, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = malformed("", "decoding CloudEvent: malformed event")
		}
	}()
	if err := json.Unmarshal(b, &ce); err != nil {
		var ve ceevent.ValidationError
		if errors.As(err, &ve) {
			return ce, validationError(ve)
		}
		return ce, malformed("", "decoding CloudEvent: %v", err)
	}
	return ce, nil
}

// binaryCloudEvent decodes a binary-mode CloudEvent with the SDK's HTTP
// binding, from the headers and the already-read body.
func binaryCloudEvent(ctx context.Context, header http.Header, body []byte) (ce ceevent.Event, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = malformed("", "decoding binary-mode CloudEvent: malformed event")
		}
	}()
	got, err := binding.ToEvent(ctx, cehttp.NewMessage(header, io.NopCloser(bytes.NewReader(body))))
	if err != nil {
		var ve ceevent.ValidationError
		if errors.As(err, &ve) {
			return ce, validationError(ve)
		}
		if first := firstAttributeError(ctx, header); first != nil {
			err = first
		}
		return ce, malformed("", "decoding binary-mode CloudEvent: %v", err)
	}
	return *got, nil
}

// firstAttributeError is the error of the first ce- header, in name
// order (Ce-Specversion first), that the SDK cannot read. The SDK reads
// the headers in map order and stops at the first bad one, so a request
// with two bad headers would otherwise be answered with either error. It
// runs only when a decode failed, adding the headers one at a time.
func firstAttributeError(ctx context.Context, header http.Header) error {
	var names []string
	h := http.Header{}
	for name, v := range header {
		switch {
		case strings.EqualFold(name, "Ce-Specversion"):
			h[name] = v
		case len(name) > 3 && strings.EqualFold(name[:3], "Ce-"):
			names = append(names, name)
		default:
			h[name] = v
		}
	}
	sort.Strings(names)
	for _, name := range names {
		h[name] = header[name]
		_, err := binding.ToEvent(ctx, cehttp.NewMessage(h, io.NopCloser(bytes.NewReader(nil))))
		var ve ceevent.ValidationError
		if err != nil && !errors.As(err, &ve) {
			return err
		}
	}
	return nil
}

// validationError names the first bad attribute of an SDK ValidationError.
func validationError(ve ceevent.ValidationError) *httpx.Error {
	keys := make([]string, 0, len(ve))
	for k := range ve {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return malformed("", "invalid CloudEvent")
	}
	return malformed(keys[0], "invalid CloudEvent: %s: %v", keys[0], ve[keys[0]])
}

func cloudEventToEvent(ce ceevent.Event, src catalog.Source, cat *catalog.Catalog, v *DataValidator, now time.Time) (event.Event, error) {
	if err := ce.Validate(); err != nil {
		var ve ceevent.ValidationError
		if errors.As(err, &ve) {
			return event.Event{}, validationError(ve)
		}
		return event.Event{}, malformed("", "invalid CloudEvent: %v", err)
	}
	if ce.SpecVersion() != ceevent.CloudEventsVersionV1 {
		return event.Event{}, malformed("specversion", "specversion %q is not supported; send %s", ce.SpecVersion(), ceevent.CloudEventsVersionV1)
	}
	et, err := resolve(cat, ce.Type(), "type")
	if err != nil {
		return event.Event{}, err
	}
	if mt := ce.DataMediaType(); mt != "" && !isJSONMediaType(mt) {
		return event.Event{}, unsupportedMedia("datacontenttype", "data of type %q is not JSON; send application/json", mt)
	}
	var data json.RawMessage
	if raw := bytes.TrimSpace(ce.Data()); !isNullJSON(raw) {
		if !json.Valid(raw) {
			return event.Event{}, malformed("data", "data is not valid JSON")
		}
		if data, err = checkData(bytes.Clone(raw), "data"); err != nil {
			return event.Event{}, err
		}
	}

	if attr := notUTF8(ce); attr != "" {
		return event.Event{}, malformed(attr, "%s is not valid UTF-8 text", attr)
	}

	attrs := map[string]string{AttrCloudEventsSource: ce.Source()}
	if s := ce.Subject(); s != "" {
		attrs[AttrCloudEventsSubj] = s
	}
	if s := ce.DataSchema(); s != "" {
		attrs[AttrCloudEventsSchema] = s
	}
	for name, val := range ce.Extensions() {
		if s, err := cetypes.Format(val); err == nil {
			attrs[AttrCloudEventsPrefix+name] = s
		}
	}

	entityType := entityTypeOf(et)
	id, err := cloudEventEntityID(ce, data, entityType)
	if err != nil {
		return event.Event{}, err
	}
	if id == "" {
		return event.Event{}, invalid("subject", "no %s id: set subject, the %s extension, or data.%s.uuid|identifier|code",
			entityType, cloudEventsEntityIDExtension, entityType)
	}
	if err := v.validate(et, data, "data"); err != nil {
		return event.Event{}, err
	}
	t := now
	if ct := ce.Time(); !ct.IsZero() {
		t = ct.UTC()
	}
	return event.Event{
		ID:             ce.ID(),
		Type:           et.Name,
		Source:         src.ID,
		Time:           t,
		ReceivedAt:     now,
		Entity:         event.EntityRef{Type: entityType, ID: id},
		Data:           data,
		IdempotencyKey: ce.Source() + "/" + ce.ID(),
		Format:         event.FormatCloudEvents,
		OriginalType:   ce.Type(),
		Attributes:     attrs,
		Origin:         event.Origin{Format: event.FormatCloudEvents, ID: ce.ID(), Type: ce.Type(), Source: ce.Source()},
	}, nil
}

// notUTF8 names the first attribute of ce that is not valid UTF-8, or "".
// Binary mode takes attributes from HTTP headers, which may carry any
// byte, but everything Surge stores and delivers is UTF-8 text: a
// subject of "\x80" would become the entity id "\ufffd" in every JSON
// body while the Kafka key kept the raw byte.
func notUTF8(ce ceevent.Event) string {
	for _, a := range []struct{ name, value string }{
		{"id", ce.ID()}, {"source", ce.Source()}, {"subject", ce.Subject()}, {"dataschema", ce.DataSchema()},
	} {
		if !utf8.ValidString(a.value) {
			return a.name
		}
	}
	names := make([]string, 0, len(ce.Extensions()))
	for name := range ce.Extensions() {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if s, err := cetypes.Format(ce.Extensions()[name]); err == nil && !utf8.ValidString(s) {
			return name
		}
	}
	return ""
}

// cloudEventEntityID finds the entity id: the entityid extension, then
// data.<entity type>.{uuid,identifier,code,id} (the entity type also tried
// with '-' for '_', as in Akeneo's "product-model" names), then subject.
//
// An attribute option's code is unique only within its attribute (Akeneo's
// REST path is /attributes/{attribute}/options/{code}), so its id is
// "<attribute code>.<option code>" from data.attribute_option.attribute.code
// and data.attribute_option.code; an option without its attribute is
// refused, as two options of one code would otherwise be one entity.
func cloudEventEntityID(ce ceevent.Event, data json.RawMessage, entityType string) (string, error) {
	if val, ok := ce.Extensions()[cloudEventsEntityIDExtension]; ok {
		if s, err := cetypes.Format(val); err == nil && strings.TrimSpace(s) != "" {
			return strings.TrimSpace(s), nil
		}
	}
	if data != nil {
		var top map[string]json.RawMessage
		if json.Unmarshal(data, &top) == nil {
			for _, key := range []string{entityType, strings.ReplaceAll(entityType, "_", "-")} {
				var obj map[string]json.RawMessage
				if raw, ok := top[key]; !ok || json.Unmarshal(raw, &obj) != nil {
					continue
				}
				if entityType == entityAttributeOption {
					return attributeOptionID(obj, key)
				}
				for _, f := range cloudEventsIDFields {
					if id := scalarID(obj[f]); id != "" {
						return id, nil
					}
				}
			}
		}
	}
	return strings.TrimSpace(ce.Subject()), nil
}

// entityAttributeOption is the entity type of Akeneo's attribute options.
const entityAttributeOption = "attribute_option"

// attributeOptionID is "<attribute code>.<option code>" of
// data.<key> = {"code", "attribute":{"code"}}; "" when it has no code.
func attributeOptionID(obj map[string]json.RawMessage, key string) (string, error) {
	code := scalarID(obj["code"])
	if code == "" {
		return "", nil
	}
	var attr map[string]json.RawMessage
	_ = json.Unmarshal(obj["attribute"], &attr)
	attrCode := scalarID(attr["code"])
	if attrCode == "" {
		field := "data." + key + ".attribute.code"
		return "", invalid(field, "%s is required: an attribute option's code %q is unique only within its attribute, so its id is \"<attribute code>.<option code>\"", field, code)
	}
	return attrCode + "." + code, nil
}
