package catalog

import (
	"encoding/json"
	"strings"
)

// Adobe Commerce integration starter kit ("be-observer.*") and Akeneo Event
// Platform ("com.akeneo.pim.v1.*") name prefixes.
const (
	adobePrefix  = "be-observer."
	akeneoPrefix = "com.akeneo.pim.v1."
)

// Builtin returns the canonical commerce event types with the Adobe Commerce
// starter-kit and Akeneo Event Platform names as aliases. Every "*.deleted"
// type deletes its entity. Each call returns a fresh slice.
//
// Entity types: order, product, product_model, customer, customer_group,
// stock (a SKU's stock; stock.* and inventory.* share it so one SKU's
// events keep their order), category, shipment, payment, attribute,
// attribute_option and family.
func Builtin() []EventType {
	var out []EventType
	add := func(name, entity, desc string, aliases ...string) {
		out = append(out, EventType{
			Name:        name,
			EntityType:  entity,
			Aliases:     aliases,
			Description: desc,
			Delete:      strings.HasSuffix(name, ".deleted"),
		})
	}
	// crud adds <entity>.created|updated|deleted, with aliases built from
	// the Adobe and Akeneo stems when given ("" for none).
	crud := func(entity, noun, adobeStem, akeneoStem string) {
		for _, verb := range []struct{ event, adobe, desc string }{
			{"created", "create", "created"},
			{"updated", "update", "changed"},
			{"deleted", "delete", "deleted"},
		} {
			var aliases []string
			if adobeStem != "" {
				aliases = append(aliases, adobePrefix+adobeStem+"_"+verb.adobe)
			}
			if akeneoStem != "" {
				aliases = append(aliases, akeneoPrefix+akeneoStem+"."+verb.event)
			}
			add(entity+"."+verb.event, entity, "A "+noun+" was "+verb.desc+".", aliases...)
		}
	}

	add("order.placed", "order", "An order was placed.")
	add("order.updated", "order", "An order was changed.")
	add("order.status_changed", "order", "An order's status changed.", adobePrefix+"sales_order_status_update")
	add("order.cancelled", "order", "An order was cancelled.")
	add("order.shipped", "order", "An order was shipped.")
	add("order.invoiced", "order", "An order was invoiced.")
	add("order.refunded", "order", "An order was refunded (credit memo).")
	add("order.deleted", "order", "An order was deleted.")

	crud("product", "product", "catalog_product", "product")
	crud("product_model", "product model (configurable product)", "", "product-model")
	crud("customer", "customer", "customer", "")
	add("customer.address.updated", "customer", "A customer's address was changed.")
	crud("customer_group", "customer group", "customer_group", "")
	crud("category", "category", "", "category")
	crud("attribute", "product attribute", "", "attribute")
	crud("attribute_option", "product attribute option", "", "attribute-option")
	crud("family", "product family (attribute set)", "", "family")

	add("stock.updated", "stock", "A SKU's stock level changed.", "stock.adjusted", adobePrefix+"catalog_stock_update")
	add("inventory.changed", "stock", "A SKU's inventory ledger changed.")
	add("inventory.oversold", "stock", "A SKU was sold beyond its available stock.")
	add("inventory.reserved", "stock", "Stock of a SKU was reserved for a cart or order.")
	out[len(out)-1].DataSchema = json.RawMessage(MovementSchema)
	add("inventory.released", "stock", "A stock reservation was released.")
	out[len(out)-1].DataSchema = json.RawMessage(MovementSchema)

	add("shipment.created", "shipment", "A shipment was created.", adobePrefix+"sales_order_shipment_create")
	add("shipment.updated", "shipment", "A shipment was changed.", adobePrefix+"sales_order_shipment_update")
	add("payment.captured", "payment", "A payment was captured.")
	return out
}

// MovementSchema is the data schema of the built-in inventory.reserved
// and inventory.released: a movement moves a positive whole number of
// units, "qty" (or "quantity"), given as a number or as a numeric string
// such as Magento's "2.0000". A movement is the whole point of those
// events, so ingest refuses one the inventory ledger could not apply (422
// naming data.qty) rather than accept it and have the ledger skip it.
// Thin movements are not checked (no schema checks a thin event); enrich
// delivers them with a warning and moves nothing.
const MovementSchema = `{
  "type": "object",
  "properties": {
    "qty": {"$ref": "#/$defs/units"},
    "quantity": {"$ref": "#/$defs/units"}
  },
  "anyOf": [{"required": ["qty"]}, {"required": ["quantity"]}],
  "$defs": {
    "units": {
      "description": "A positive whole number of units: a number, or a string such as \"2\" or \"2.0000\".",
      "type": ["integer", "string"],
      "minimum": 1,
      "pattern": "^0*[1-9][0-9]*(\\.0*)?$"
    }
  }
}`

// DefaultSource is the source `surge dev` creates: id "default", unsigned.
func DefaultSource() Source {
	return Source{ID: DefaultSourceID, AllowUnsigned: true}
}
