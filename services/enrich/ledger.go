package enrich

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/surgehq/surge/pkg/event"
)

// The inventory ledger (README.md, "Inventory ledger", is the user-facing
// version of these rules).
//
// State stays partition-local. A SKU's ledger lives in the snapshot of its
// stock entity (key "stock:<sku>"), so only the partition of that key ever
// changes it. An order (key "order:<id>", usually another partition) does
// not touch the ledger: its enrichment writes one movement event per SKU —
// inventory.reserved or inventory.released, keyed "stock:<sku>" — back to
// the raw topic in the same transaction, and the SKU's partition applies
// the movements in the order they were written. Both halves are exactly
// once, so every reservation is counted once; the oversold flag is decided
// where the balance is known, on the SKU's events.

// Fields of a stock entity's data that the ledger owns.
const (
	fieldOnHand       = "on_hand"
	fieldReserved     = "reserved"
	fieldAvailable    = "available"
	fieldLastMovement = "last_movement"
	fieldSKU          = "sku"
	fieldQty          = "qty"
	fieldItems        = "items"
	fieldOrderID      = "order_id"
)

// Movement kinds, in last_movement.kind.
const (
	movementOnHand   = "on_hand"
	movementReserved = "reserved"
	movementReleased = "released"
)

// releaseStatuses are order status (or state) values after which an order
// holds no stock any more: cancelled, or shipped and so taken off on hand
// by the platform's next stock update.
var releaseStatuses = map[string]bool{"canceled": true, "cancelled": true, "closed": true, "complete": true}

// releaseTypes are order event types after which an order holds no stock.
var releaseTypes = map[string]bool{TypeOrderCancelled: true, TypeOrderShipped: true, TypeOrderRefunded: true}

type ledgerOutcome struct {
	changed  bool          // the SKU's balance changed: emit inventory.changed
	oversold bool          // a reservation drove available below zero
	commands []event.Event // movements for SKUs, from an order
}

func isLedgerMovement(entityType, typ string) bool {
	return entityType == EntityStock && (typ == TypeInventoryReserved || typ == TypeInventoryReleased)
}

// applyLedger updates the ledger of a stock entity for one event and
// renders the balance into its data fields.
func applyLedger(ev event.Event, typ string, prev *Ledger, fields map[string]json.RawMessage, next *Snapshot) (ledgerOutcome, error) {
	var out ledgerOutcome
	var l Ledger
	if prev != nil {
		l = *prev
	}
	var movement map[string]json.RawMessage
	switch typ {
	case TypeStockUpdated:
		if fields == nil {
			break
		}
		qty, ok, err := intField(fields, fieldQty)
		if err != nil {
			return out, invalidf("data.qty of %s event %s: %v", typ, ev.ID, err)
		}
		if ok && (l.OnHand == nil || *l.OnHand != qty) {
			l.OnHand = &qty
			movement = map[string]json.RawMessage{"kind": jsonString(movementOnHand), fieldQty: jsonInt(qty)}
		}
	case TypeInventoryReserved, TypeInventoryReleased:
		if ev.Data == nil {
			return out, invalidf("%s event %s has no data; it needs {\"qty\": n}", typ, ev.ID)
		}
		data, err := parseObject(ev.Data)
		if err != nil {
			return out, invalidf("data of %s event %s: %v", typ, ev.ID, err)
		}
		qty, ok, err := intField(data, fieldQty)
		if err != nil || !ok || qty <= 0 {
			return out, invalidf("data.qty of %s event %s must be a positive whole number", typ, ev.ID)
		}
		movement = map[string]json.RawMessage{fieldQty: jsonInt(qty)}
		if id, ok := data[fieldOrderID]; ok {
			movement[fieldOrderID] = id
		}
		if typ == TypeInventoryReserved {
			movement["kind"] = jsonString(movementReserved)
			l.Reserved += qty
			if avail := l.Available(); l.OnHand != nil && avail < 0 {
				out.oversold = true
				movement["oversold_qty"] = jsonInt(min(qty, -avail))
			}
		} else {
			movement["kind"] = jsonString(movementReleased)
			l.Reserved = max(0, l.Reserved-qty)
		}
	}
	if movement != nil {
		movement["event_id"] = jsonString(ev.ID)
		out.changed = true
		next.Ledger = &l
	}
	if next.Ledger != nil && fields != nil {
		b := *next.Ledger
		if b.OnHand != nil {
			fields[fieldOnHand] = jsonInt(*b.OnHand)
		} else {
			fields[fieldOnHand] = json.RawMessage("null")
		}
		fields[fieldReserved] = jsonInt(b.Reserved)
		fields[fieldAvailable] = jsonInt(b.Available())
		if _, ok := fields[fieldSKU]; !ok {
			fields[fieldSKU] = jsonString(ev.Entity.ID)
		}
		if movement != nil {
			fields[fieldLastMovement] = marshalObject(movement)
		}
	}
	return out, nil
}

// reserveForOrder works out which units of which SKUs the order holds
// after this event and writes a movement for each difference from what it
// held before.
func reserveForOrder(ev event.Event, typ string, fields map[string]json.RawMessage, next *Snapshot, out *ledgerOutcome) error {
	held := next.Reservations
	var want map[string]int64
	switch {
	case fields == nil || releaseTypes[typ] || releasedByStatus(fields):
		// Deleted, cancelled, shipped or refunded: holds nothing.
	case typ == TypeOrderPlaced || len(held) > 0:
		// Placing reserves the items; a later change to the items of an
		// order that holds stock adjusts what it holds.
		items, err := orderItems(ev, fields)
		if err != nil {
			return err
		}
		want = items
	default:
		return nil // an order Surge never saw placed holds nothing
	}
	skus := slices.Sorted(maps.Keys(held))
	for sku := range want {
		if _, ok := held[sku]; !ok {
			skus = append(skus, sku)
		}
	}
	slices.Sort(skus)
	for _, sku := range skus {
		switch d := want[sku] - held[sku]; {
		case d > 0:
			out.commands = append(out.commands, movementEvent(ev, TypeInventoryReserved, sku, d))
		case d < 0:
			out.commands = append(out.commands, movementEvent(ev, TypeInventoryReleased, sku, -d))
		}
	}
	if len(want) == 0 {
		want = nil
	}
	next.Reservations = want
	return nil
}

func releasedByStatus(fields map[string]json.RawMessage) bool {
	for _, name := range []string{"status", "state"} {
		var s string
		if raw, ok := fields[name]; ok && json.Unmarshal(raw, &s) == nil && releaseStatuses[s] {
			return true
		}
	}
	return false
}

// orderItems reads data.items, a list of {"sku": string, "qty": n}, into
// units per SKU. No items field means no items.
func orderItems(ev event.Event, fields map[string]json.RawMessage) (map[string]int64, error) {
	raw, ok := fields[fieldItems]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, invalidf("data.items of order event %s: want a list of {\"sku\", \"qty\"} objects", ev.ID)
	}
	out := make(map[string]int64, len(items))
	for i, it := range items {
		var sku string
		if err := json.Unmarshal(it[fieldSKU], &sku); err != nil || sku == "" {
			return nil, invalidf("data.items[%d].sku of order event %s: want a non-empty string", i, ev.ID)
		}
		qty, ok, err := intField(it, fieldQty)
		if err != nil || !ok || qty <= 0 {
			return nil, invalidf("data.items[%d].qty of order event %s: want a positive whole number", i, ev.ID)
		}
		out[sku] += qty
	}
	return out, nil
}

// movementEvent is the inventory movement an order event writes for one
// SKU. Its id is derived from the order event's, so handling the order
// again (after an aborted transaction) writes the same event.
func movementEvent(order event.Event, typ, sku string, qty int64) event.Event {
	data := map[string]json.RawMessage{
		fieldSKU:           jsonString(sku),
		fieldQty:           jsonInt(qty),
		fieldOrderID:       jsonString(order.Entity.ID),
		"order_event_id":   jsonString(order.ID),
		"order_event_type": jsonString(order.Type),
	}
	return event.Event{
		ID:            DerivedID(order.ID, order.ReceivedAt, typ+"/"+sku),
		Type:          typ,
		Source:        order.Source,
		Time:          order.Time,
		ReceivedAt:    order.ReceivedAt,
		Entity:        event.EntityRef{Type: EntityStock, ID: sku},
		Data:          marshalObject(data),
		CorrelationID: order.CorrelationID,
		Format:        event.FormatCanonical,
		Attributes:    map[string]string{AttrCausationID: order.ID},
	}
}
