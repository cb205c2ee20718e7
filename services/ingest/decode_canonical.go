package ingest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/surgehq/surge/pkg/event"
)

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

// Canonical decodes POST /v1/events: one event
// {"type","entity":{"type","id"},"data"?,"id"?,"time"?,"source"?} or a
// batch {"events":[...]} (a bare JSON array is taken as a batch too).
//
// The type is resolved through d.Catalog (an alias becomes the canonical type;
// OriginalType keeps the sender's name) and the entity type must be the
// catalog's for that type when the catalog names one. Absent or null data
// makes a thin event. Time is RFC 3339, d.Now when absent. Event.ID is the
// sender's id, empty when none (the caller mints ids). IdempotencyKey is
// idemHeader for a single event, idemHeader+":"+index for a batch item,
// else the sender's id. Data is checked against the type's schema when
// d.Validator is not nil.
//
// Errors are *httpx.Error (400 malformed or unknown type, 422 invalid,
// with a field path such as "events[3].entity.id"); a batch is all or
// nothing and its one error lists every bad item.
func (d Decoder) Canonical(body []byte, idemHeader string) ([]event.Event, error) {
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
			return d.canonicalToEvent(ce, string(key))
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
	return oneEvent(d.canonicalToEvent(single, key))
}

func (d Decoder) canonicalToEvent(ce canonicalEvent, idemKey string) (event.Event, error) {
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
	et, err := resolve(d.Catalog, ce.Type, "type")
	if err != nil {
		return event.Event{}, err
	}
	if et.EntityType != "" && ce.Entity.Type != et.EntityType {
		return event.Event{}, invalid("entity.type", "events of type %s are about %q entities, not %q", et.Name, et.EntityType, ce.Entity.Type)
	}
	t := d.Now
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
	if err := d.Validator.validate(et, data, "data"); err != nil {
		return event.Event{}, err
	}
	ev := event.Event{
		ID:             string(ce.ID),
		Type:           et.Name,
		Source:         d.Source.ID,
		Time:           t.UTC(),
		ReceivedAt:     d.Now,
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
