package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/httpx"
)

// Decoder decodes the bodies of one sender's requests into events, in
// each of the formats ingest takes (Canonical, Adobe, CloudEvents). It
// holds what every format needs; a Decoder is a value made per request.
type Decoder struct {
	// Source is the sender: its id becomes each Event.Source.
	Source catalog.Source
	// Catalog resolves event types (an alias becomes the canonical type).
	Catalog *catalog.Catalog
	// Validator checks each event's data against its type's schema; nil
	// checks nothing.
	Validator *DataValidator
	// Now is when the request arrived: each Event.ReceivedAt, and its
	// Time when the sender gives none.
	Now time.Time
}

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

// oneEvent is a request's one decoded event, or its error.
func oneEvent(ev event.Event, err error) ([]event.Event, error) {
	if err != nil {
		return nil, err
	}
	return []event.Event{ev}, nil
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

// scalarID is a JSON string or number as an id; "" for anything else.
func scalarID(raw json.RawMessage) string {
	var s idString
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return string(s)
}
