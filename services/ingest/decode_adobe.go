package ingest

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/surgehq/surge/pkg/event"
)

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

// Adobe decodes the Adobe Commerce starter-kit ingestion format
// {"data":{"uid","event","value"}}. The event name is resolved through
// d.Catalog and gives the entity type; value is the event's data and carries the
// entity id (see adobeIDFields). uid is the idempotency key unless
// idemHeader is set, and is kept in Attributes["adobe_uid"]. Errors and the
// validation of data are as for Canonical.
func (d Decoder) Adobe(body []byte, idemHeader string) ([]event.Event, error) {
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
	et, err := resolve(d.Catalog, in.Data.Event, "data.event")
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
	if err := d.Validator.validate(et, value, "data.value"); err != nil {
		return nil, err
	}
	ev := event.Event{
		Type:           et.Name,
		Source:         d.Source.ID,
		Time:           d.Now,
		ReceivedAt:     d.Now,
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
