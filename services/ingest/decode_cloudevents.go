package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/binding"
	ceevent "github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	cetypes "github.com/cloudevents/sdk-go/v2/types"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/httpx"
)

// cloudEventsIDFields are the members of data.<entity type> that carry the
// entity id, in order: Akeneo's product events carry
// {"product":{"uuid":...}}, product models, categories, attributes and
// families {"<entity>":{"code":...}}.
var cloudEventsIDFields = []string{"uuid", "identifier", "code", "id"}

// cloudEventsEntityIDExtension names the extension that sets the entity id.
const cloudEventsEntityIDExtension = "entityid"

// CloudEvents decodes CloudEvents 1.0 with the official SDK: structured
// mode (application/cloudevents+json; also plain JSON carrying a
// "specversion", as Akeneo's Event Platform sends it), binary mode (ce-*
// headers, the body being the data, any JSON content type) and batch mode
// (application/cloudevents-batch+json). body is the request body, already
// read; r gives the headers.
//
// Mapping: ce type → the catalog (Akeneo's names are aliases); ce id →
// Event.ID, and ce source + "/" + ce id → IdempotencyKey (ids are unique
// per source); ce time → Time (d.Now when absent); ce source, subject,
// dataschema and every extension → Attributes ("ce_" + name). The entity
// id is, in order: the "entityid" extension; data.<entity type>.uuid,
// .identifier, .code or .id (Akeneo puts the entity there and uses subject
// for the PIM instance, so data wins over subject; an attribute option is
// "<attribute code>.<option code>"); the subject. The source's identity
// rules may then map it (identity.go). ce id, type and source are kept in
// Origin. Data must
// be JSON (else 415) and an object. Errors and the validation of data are as
// for Canonical; batch fields look like "[3].data.total".
func (d Decoder) CloudEvents(r *http.Request, body []byte) ([]event.Event, error) {
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
		return d.cloudEventsBatch(trimmed)
	case mt == ceevent.ApplicationCloudEventsJSON:
		return d.cloudEventStructured(trimmed)
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
		return oneEvent(d.cloudEventToEvent(ce))
	case mt == "" || isJSONMediaType(mt):
		if len(trimmed) > 0 && trimmed[0] == '[' {
			return d.cloudEventsBatch(trimmed)
		}
		return d.cloudEventStructured(trimmed)
	default:
		return nil, unsupportedMedia("", "content type %q is not CloudEvents: send %s, %s, or binary mode (ce-* headers) with JSON data",
			ct, ceevent.ApplicationCloudEventsJSON, ceevent.ApplicationCloudEventsBatchJSON)
	}
}

func (d Decoder) cloudEventStructured(body []byte) ([]event.Event, error) {
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
	return oneEvent(d.cloudEventToEvent(ce))
}

func (d Decoder) cloudEventsBatch(body []byte) ([]event.Event, error) {
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
		return d.cloudEventToEvent(ce)
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

func (d Decoder) cloudEventToEvent(ce ceevent.Event) (event.Event, error) {
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
	et, err := resolve(d.Catalog, ce.Type(), "type")
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
	if err := d.Validator.validate(et, data, "data"); err != nil {
		return event.Event{}, err
	}
	t := d.Now
	if ct := ce.Time(); !ct.IsZero() {
		t = ct.UTC()
	}
	return event.Event{
		ID:             ce.ID(),
		Type:           et.Name,
		Source:         d.Source.ID,
		Time:           t,
		ReceivedAt:     d.Now,
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
