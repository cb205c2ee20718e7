package enrich

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/surgehq/surge/pkg/event"
)

// What enrich does with what it cannot use of an event ingest accepted:
// it enriches and delivers the event all the same, and says what it could
// not use in the event's warnings (event.Warning), counted by code in
// surge_enrich_warnings_total. A side feature (the inventory ledger, a
// loader) never costs the event itself. README.md, "What enrich does with
// what it cannot use", is the user-facing version.

// Warning codes (event.Warning.Code).
const (
	// WarnLineItemSkipped: an entry of an order's data.items could not be
	// read (no SKU, no whole-number quantity, not an object). It reserves
	// nothing; when its SKU was readable, the order keeps what it held of
	// that SKU.
	WarnLineItemSkipped = "line_item_skipped"
	// WarnItemsUnreadable: an order's data.items is not a list. The order
	// keeps every reservation it held (none for a new order).
	WarnItemsUnreadable = "items_unreadable"
	// WarnQuantityUnreadable: the quantity of a stock level
	// (stock.updated) or of an inventory movement is missing or not a
	// whole number. The SKU's ledger is unchanged.
	WarnQuantityUnreadable = "quantity_unreadable"
	// WarnNotLoaded: the source's loader could not fill a thin event (404,
	// another 4xx, a body that is not a JSON object, or it kept failing).
	// The event carries the entity's last known data ({} for a new one).
	WarnNotLoaded = "not_loaded"
	// WarnSnapshotUnreadable: the stored snapshot's data is not a JSON
	// object (a corrupted commerce.entities). The entity goes on from this
	// event's data alone.
	WarnSnapshotUnreadable = "snapshot_unreadable"
	// WarnTruncated: more warnings than an event lists; its message counts
	// the rest by code.
	WarnTruncated = "warnings_truncated"
)

// WarningCodes lists every code, for metrics and documentation.
var WarningCodes = []string{WarnLineItemSkipped, WarnItemsUnreadable, WarnQuantityUnreadable, WarnNotLoaded, WarnSnapshotUnreadable}

// maxWarnings bounds the warnings one event lists, so an order of
// thousands of unreadable line items does not make a record larger than
// Kafka takes. Every warning is counted, listed or not.
const maxWarnings = 20

// warnings collects the warnings of one event. The zero value is ready.
type warnings struct {
	list    []event.Warning
	counts  map[string]int // every warning, by code
	dropped map[string]int // those past maxWarnings, by code
}

func (w *warnings) add(code, field, format string, args ...any) {
	if w.counts == nil {
		w.counts = map[string]int{}
	}
	w.counts[code]++
	if len(w.list) >= maxWarnings {
		if w.dropped == nil {
			w.dropped = map[string]int{}
		}
		w.dropped[code]++
		return
	}
	w.list = append(w.list, event.Warning{Code: code, Field: field, Message: fmt.Sprintf(format, args...)})
}

// done returns the warnings to put on the event: the first maxWarnings,
// then one WarnTruncated counting the others.
func (w *warnings) done() []event.Warning {
	if len(w.dropped) == 0 {
		return w.list
	}
	var parts []string
	n := 0
	for _, code := range slices.Sorted(maps.Keys(w.dropped)) {
		parts = append(parts, fmt.Sprintf("%d %s", w.dropped[code], code))
		n += w.dropped[code]
	}
	return append(w.list, event.Warning{Code: WarnTruncated,
		Message: fmt.Sprintf("%d more warnings not listed: %s", n, strings.Join(parts, ", "))})
}

// shown is a JSON value for a warning's message, cut to a readable length.
func shown(raw []byte) string {
	const limit = 40
	if len(raw) == 0 {
		return "nothing"
	}
	if len(raw) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(raw[cut]) {
			cut--
		}
		return string(raw[:cut]) + "…"
	}
	return string(raw)
}
