package enrich

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

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
	fieldQuantity     = "quantity"
	fieldItems        = "items"
	fieldOrderID      = "order_id"
)

// quantityNames are the names a quantity goes by, tried in this order:
// Surge's own, then the one Shopify's line items and Magento's source
// items use.
var quantityNames = []string{fieldQty, fieldQuantity}

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

// quantityOf reads the first quantity name present (and not null) in
// fields: the name, its value, and whether one was present; err says why
// a present one is not a whole number.
func quantityOf(fields map[string]json.RawMessage) (name string, n int64, ok bool, err error) {
	for _, name := range quantityNames {
		if n, ok, err := intField(fields, name); ok {
			return name, n, true, err
		}
	}
	return fieldQty, 0, false, nil
}

// applyLedger updates the ledger of a stock entity for one event and
// renders the balance into its data fields. said holds what the event
// itself says (its data, else what the loader returned), where a stock
// level's quantity is read; fields is the merged entity. A quantity it
// cannot read leaves the ledger as it was, with a warning.
func applyLedger(ev event.Event, typ string, prev *Ledger, said []map[string]json.RawMessage, fields map[string]json.RawMessage, next *Snapshot, w *warnings) (ledgerOutcome, error) {
	var out ledgerOutcome
	var l Ledger
	if prev != nil {
		l = *prev
	}
	var movement map[string]json.RawMessage
	switch typ {
	case TypeStockUpdated:
		for _, f := range said {
			name, qty, ok, err := quantityOf(f)
			if !ok {
				continue
			}
			if err != nil {
				w.add(WarnQuantityUnreadable, "data."+name, "want a whole number of units on hand, got %s; on_hand is unchanged", shown(f[name]))
			} else if l.OnHand == nil || *l.OnHand != qty {
				l.OnHand = &qty
				movement = map[string]json.RawMessage{"kind": jsonString(movementOnHand), fieldQty: jsonInt(qty)}
			}
			break // the event's data speaks before the loader's body
		}
	case TypeInventoryReserved, TypeInventoryReleased:
		if ev.Data == nil {
			w.add(WarnQuantityUnreadable, "data.qty", "a thin %s moves nothing: send {\"qty\": n}; the ledger is unchanged", typ)
			break
		}
		data, err := parseObject(ev.Data)
		if err != nil {
			return out, invalidf("data of %s event %s: %v", typ, ev.ID, err)
		}
		name, qty, ok, err := quantityOf(data)
		if err != nil || !ok || qty <= 0 {
			got := "nothing"
			if ok {
				got = shown(data[name])
			}
			w.add(WarnQuantityUnreadable, "data."+name, "want a positive whole number of units, got %s; the ledger is unchanged", got)
			break
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
func reserveForOrder(ev event.Event, typ string, fields map[string]json.RawMessage, next *Snapshot, out *ledgerOutcome, w *warnings) {
	held := next.Reservations
	var want map[string]int64
	switch {
	case fields == nil || releaseTypes[typ] || releasedByStatus(fields):
		// Deleted, cancelled, shipped or refunded: holds nothing.
	case typ == TypeOrderPlaced || len(held) > 0:
		// Placing reserves the items; a later change to the items of an
		// order that holds stock adjusts what it holds.
		want = orderItems(fields, held, w)
	default:
		return // an order Surge never saw placed holds nothing
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

// orderItems reads data.items, a list of {"sku": string, "qty": n} ("qty"
// may be spelt "quantity"), into the units per SKU the order should hold,
// given what it held. No items field means no items. What it cannot read
// it skips, with a warning, and never refuses the order:
//
//   - an entry that is not an object, or has no readable SKU, holds
//     nothing;
//   - an entry whose SKU is readable but whose quantity is missing or not a
//     whole number keeps what the order held of that SKU (nothing for a new
//     order), whatever the other entries of that SKU say;
//   - items that are not a list keep everything the order held.
func orderItems(fields map[string]json.RawMessage, held map[string]int64, w *warnings) map[string]int64 {
	raw, ok := fields[fieldItems]
	if !ok || string(raw) == "null" {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		w.add(WarnItemsUnreadable, "data.items", "want a list of {\"sku\", \"qty\"} objects, got %s; %s",
			shown(raw), keptMessage(held, ""))
		return maps.Clone(held)
	}
	out := make(map[string]int64, len(items))
	var kept map[string]bool
	for i, rawItem := range items {
		path := "data.items[" + strconv.Itoa(i) + "]"
		var it map[string]json.RawMessage
		if json.Unmarshal(rawItem, &it) != nil || it == nil {
			w.add(WarnLineItemSkipped, path, "want an object {\"sku\", \"qty\"}, got %s; not reserved", shown(rawItem))
			continue
		}
		var sku string
		if err := json.Unmarshal(it[fieldSKU], &sku); err != nil || sku == "" {
			w.add(WarnLineItemSkipped, path+".sku", "want the SKU as a non-empty string, got %s; not reserved", shown(it[fieldSKU]))
			continue
		}
		name, qty, ok, err := quantityOf(it)
		switch {
		case !ok:
			w.add(WarnLineItemSkipped, path+".qty", "no quantity: want \"qty\" or \"quantity\", a whole number of units; %s", keptMessage(held, sku))
		case err != nil || qty < 0:
			w.add(WarnLineItemSkipped, path+"."+name, "want a whole number of units, got %s; %s", shown(it[name]), keptMessage(held, sku))
		default:
			out[sku] += qty
			continue
		}
		if kept == nil {
			kept = map[string]bool{}
		}
		kept[sku] = true
	}
	for sku := range kept {
		out[sku] = held[sku]
	}
	maps.DeleteFunc(out, func(_ string, n int64) bool { return n == 0 })
	return out
}

// keptMessage says what an unreadable line item of sku (all items when
// sku is empty) leaves the order holding.
func keptMessage(held map[string]int64, sku string) string {
	if sku == "" {
		if len(held) == 0 {
			return "no stock reserved"
		}
		return "the order keeps the stock it held"
	}
	if n := held[sku]; n > 0 {
		return fmt.Sprintf("the order keeps its hold of %d on %s", n, sku)
	}
	return "not reserved"
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
