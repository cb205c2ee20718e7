package enrich

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
)

var (
	t0      = time.Date(2025, 7, 15, 9, 41, 12, 0, time.UTC)
	builtin = catalog.New(catalog.Builtin()...)
)

// ev builds a raw event; data "" makes it thin.
func ev(id, typ, entity, data string) event.Event {
	kind, eid, _ := strings.Cut(entity, ":")
	e := event.Event{ID: id, Type: typ, Source: "shop", Time: t0, ReceivedAt: t0, Entity: event.EntityRef{Type: kind, ID: eid}, CorrelationID: "corr-" + id}
	if data != "" {
		e.Data = json.RawMessage(data)
	}
	return e
}

func lookup(typ string) catalog.EventType {
	if et, ok := builtin.Lookup(typ); ok {
		return et
	}
	return catalog.EventType{Name: typ}
}

func snap(entity string, version int64, data string) *Snapshot {
	kind, id, _ := strings.Cut(entity, ":")
	s := &Snapshot{Entity: event.EntityRef{Type: kind, ID: id}, Version: version}
	if data != "" {
		s.Data = json.RawMessage(data)
	}
	return s
}

func onHand(n int64) *int64 { return &n }

// outcome is what the tests compare: one line per enriched event and per
// command, plus the interesting snapshot fields.
type outcome struct {
	Events       []string // "version type data changes=[..] flags=[..]"
	Commands     []string // "type key data"
	Version      int64
	Deleted      bool
	Ledger       string // "on_hand/reserved" or ""
	Reservations map[string]int64
	Warnings     []string // of the enriched event: "code field: message"
	Counts       map[string]int
}

func summarize(r Result) outcome {
	var o outcome
	for _, e := range r.Enriched {
		data := "null"
		if e.Data != nil {
			data = string(e.Data)
		}
		line := fmt.Sprintf("%d %s %s changes=%v", e.EntityVersion, e.Type, data, e.Changes)
		if len(e.Flags) > 0 {
			line += fmt.Sprintf(" flags=%v", e.Flags)
		}
		if e.Deleted {
			line += " deleted"
		}
		o.Events = append(o.Events, line)
	}
	for _, c := range r.Commands {
		var d map[string]any
		_ = json.Unmarshal(c.Data, &d)
		o.Commands = append(o.Commands, fmt.Sprintf("%s %s qty=%v order=%v", c.Type, c.Entity.Key(), d["qty"], d["order_id"]))
	}
	o.Version = r.Snapshot.Version
	o.Deleted = r.Snapshot.Deleted
	if l := r.Snapshot.Ledger; l != nil {
		oh := "?"
		if l.OnHand != nil {
			oh = fmt.Sprint(*l.OnHand)
		}
		o.Ledger = fmt.Sprintf("%s/%d", oh, l.Reserved)
	}
	o.Reservations = r.Snapshot.Reservations
	for i, e := range r.Enriched {
		for _, w := range e.Warnings {
			if i > 0 {
				o.Warnings = append(o.Warnings, "on a derived event: "+w.Code)
				continue
			}
			o.Warnings = append(o.Warnings, w.Code+" "+w.Field+": "+w.Message)
		}
	}
	o.Counts = r.WarningCounts
	return o
}

func TestApply(t *testing.T) {
	stock10 := snap("stock:SKU-1", 4, `{"available":7,"on_hand":10,"qty":10,"reserved":3,"sku":"SKU-1"}`)
	stock10.Ledger = &Ledger{OnHand: onHand(10), Reserved: 3}
	untracked := snap("stock:SKU-9", 1, `{"available":-2,"on_hand":null,"reserved":2,"sku":"SKU-9"}`)
	untracked.Ledger = &Ledger{Reserved: 2}
	placed := snap("order:7", 1, `{"items":[{"sku":"A","qty":2},{"sku":"B","qty":1}],"status":"pending"}`)
	placed.Reservations = map[string]int64{"A": 2, "B": 1}
	deleted := &Snapshot{Entity: event.EntityRef{Type: "order", ID: "7"}, Version: 3, Deleted: true}

	tests := []struct {
		name    string
		in      Input
		want    outcome
		wantErr error
	}{
		{
			name: "first event of an entity",
			in:   Input{Event: ev("e1", "order.placed", "order:1", `{"total": 59.9, "status":"pending"}`)},
			want: outcome{Events: []string{`1 order.placed {"status":"pending","total":59.9} changes=[status total]`}, Version: 1},
		},
		{
			name: "partial update merges top-level fields; equal values are no change",
			in: Input{Event: ev("e2", "order.updated", "order:1", `{"status":"processing","total":59.90}`),
				Snapshot: snap("order:1", 1, `{"status":"pending","total":59.9,"email":"a@b.c"}`)},
			want: outcome{Events: []string{`2 order.updated {"email":"a@b.c","status":"processing","total":59.90} changes=[status]`}, Version: 2},
		},
		{
			name: "nested objects replace, null stays",
			in: Input{Event: ev("e3", "customer.updated", "customer:5", `{"address":{"city":"Lyon"},"phone":null}`),
				Snapshot: snap("customer:5", 8, `{"address":{"city":"Paris","zip":"75001"},"phone":"+33 1"}`)},
			want: outcome{Events: []string{`9 customer.updated {"address":{"city":"Lyon"},"phone":null} changes=[address phone]`}, Version: 9},
		},
		{
			name: "key order and spacing inside a value are no change",
			in: Input{Event: ev("e4", "product.updated", "product:P", `{"attrs": {"b": 1, "a": 2}}`),
				Snapshot: snap("product:P", 2, `{"attrs":{"a":2,"b":1}}`)},
			want: outcome{Events: []string{`3 product.updated {"attrs":{"b":1,"a":2}} changes=[]`}, Version: 3},
		},
		{
			name: "a loaded body replaces the data whole",
			in: Input{Event: ev("e5", "order.placed", "order:2", ""), Loaded: json.RawMessage(`{"increment_id":"2","status":"pending"}`),
				Snapshot: snap("order:2", 1, `{"old":true,"status":"new"}`)},
			want: outcome{Events: []string{`2 order.placed {"increment_id":"2","status":"pending"} changes=[increment_id old status]`}, Version: 2},
		},
		{
			name: "thin event with nothing loaded and no snapshot",
			in:   Input{Event: ev("e6", "product.updated", "product:Q", "")},
			want: outcome{Events: []string{`1 product.updated {} changes=[]`}, Version: 1},
		},
		{
			name: "thin event reuses the snapshot",
			in:   Input{Event: ev("e7", "product.updated", "product:Q", ""), Snapshot: snap("product:Q", 1, `{"name":"Bag"}`)},
			want: outcome{Events: []string{`2 product.updated {"name":"Bag"} changes=[]`}, Version: 2},
		},
		{
			name: "delete tombstones, keeps the version and delivers the last known state with the deletion's data",
			in:   Input{Event: ev("e8", "order.deleted", "order:1", `{"reason":"gdpr"}`), Snapshot: snap("order:1", 2, `{"status":"processing","total":1}`)},
			want: outcome{Events: []string{`3 order.deleted {"reason":"gdpr","status":"processing","total":1} changes=[status total] deleted`}, Version: 3, Deleted: true},
		},
		{
			name: "Akeneo's delete name deletes too",
			in:   Input{Event: ev("e9", "com.akeneo.pim.v1.product.deleted", "product:P", ""), Snapshot: snap("product:P", 5, `{"name":"x"}`)},
			want: outcome{Events: []string{`6 product.deleted {"name":"x"} changes=[name] deleted`}, Version: 6, Deleted: true},
		},
		{
			name: "re-created after a delete: the version goes on",
			in:   Input{Event: ev("e10", "order.placed", "order:7", `{"status":"new"}`), Snapshot: deleted},
			want: outcome{Events: []string{`4 order.placed {"status":"new"} changes=[status]`}, Version: 4},
		},
		{
			name: "stock level sets on hand and emits inventory.changed",
			in:   Input{Event: ev("s1", "stock.updated", "stock:SKU-1", `{"sku":"SKU-1","qty":12}`), Snapshot: stock10},
			want: outcome{Events: []string{
				`5 stock.updated {"available":9,"last_movement":{"event_id":"s1","kind":"on_hand","qty":12},"on_hand":12,"qty":12,"reserved":3,"sku":"SKU-1"} changes=[available last_movement on_hand qty]`,
				`6 inventory.changed {"available":9,"last_movement":{"event_id":"s1","kind":"on_hand","qty":12},"on_hand":12,"qty":12,"reserved":3,"sku":"SKU-1"} changes=[available last_movement on_hand qty]`,
			}, Version: 6, Ledger: "12/3"},
		},
		{
			name: "stock level unchanged: no ledger change",
			in:   Input{Event: ev("s2", "stock.updated", "stock:SKU-1", `{"qty":"10.0000"}`), Snapshot: stock10},
			want: outcome{Events: []string{`5 stock.updated {"available":7,"on_hand":10,"qty":"10.0000","reserved":3,"sku":"SKU-1"} changes=[qty]`}, Version: 5, Ledger: "10/3"},
		},
		{
			name: "first stock level of a SKU",
			in:   Input{Event: ev("s3", "stock.updated", "stock:SKU-2", `{"qty":5}`)},
			want: outcome{Events: []string{
				`1 stock.updated {"available":5,"last_movement":{"event_id":"s3","kind":"on_hand","qty":5},"on_hand":5,"qty":5,"reserved":0,"sku":"SKU-2"} changes=[available last_movement on_hand qty reserved sku]`,
				`2 inventory.changed {"available":5,"last_movement":{"event_id":"s3","kind":"on_hand","qty":5},"on_hand":5,"qty":5,"reserved":0,"sku":"SKU-2"} changes=[available last_movement on_hand qty reserved sku]`,
			}, Version: 2, Ledger: "5/0"},
		},
		{
			name: "reservation within stock",
			in:   Input{Event: ev("r1", "inventory.reserved", "stock:SKU-1", `{"sku":"SKU-1","qty":7,"order_id":"7"}`), Snapshot: stock10},
			want: outcome{Events: []string{
				`5 inventory.reserved {"available":0,"last_movement":{"event_id":"r1","kind":"reserved","order_id":"7","qty":7},"on_hand":10,"qty":10,"reserved":10,"sku":"SKU-1"} changes=[available last_movement reserved]`,
				`6 inventory.changed {"available":0,"last_movement":{"event_id":"r1","kind":"reserved","order_id":"7","qty":7},"on_hand":10,"qty":10,"reserved":10,"sku":"SKU-1"} changes=[available last_movement reserved]`,
			}, Version: 6, Ledger: "10/10"},
		},
		{
			name: "reservation past stock is oversold",
			in:   Input{Event: ev("r2", "inventory.reserved", "stock:SKU-1", `{"qty":9,"order_id":"8"}`), Snapshot: stock10},
			want: outcome{Events: []string{
				`5 inventory.reserved {"available":-2,"last_movement":{"event_id":"r2","kind":"reserved","order_id":"8","oversold_qty":2,"qty":9},"on_hand":10,"qty":10,"reserved":12,"sku":"SKU-1"} changes=[available last_movement reserved] flags=[oversold]`,
				`6 inventory.changed {"available":-2,"last_movement":{"event_id":"r2","kind":"reserved","order_id":"8","oversold_qty":2,"qty":9},"on_hand":10,"qty":10,"reserved":12,"sku":"SKU-1"} changes=[available last_movement reserved] flags=[oversold]`,
				`7 inventory.oversold {"available":-2,"last_movement":{"event_id":"r2","kind":"reserved","order_id":"8","oversold_qty":2,"qty":9},"on_hand":10,"qty":10,"reserved":12,"sku":"SKU-1"} changes=[available last_movement reserved] flags=[oversold]`,
			}, Version: 7, Ledger: "10/12"},
		},
		{
			name: "a SKU with no stock level is never oversold",
			in:   Input{Event: ev("r3", "inventory.reserved", "stock:SKU-9", `{"qty":1}`), Snapshot: untracked},
			want: outcome{Events: []string{
				`2 inventory.reserved {"available":-3,"last_movement":{"event_id":"r3","kind":"reserved","qty":1},"on_hand":null,"reserved":3,"sku":"SKU-9"} changes=[available last_movement reserved]`,
				`3 inventory.changed {"available":-3,"last_movement":{"event_id":"r3","kind":"reserved","qty":1},"on_hand":null,"reserved":3,"sku":"SKU-9"} changes=[available last_movement reserved]`,
			}, Version: 3, Ledger: "?/3"},
		},
		{
			name: "release never goes below zero",
			in:   Input{Event: ev("l1", "inventory.released", "stock:SKU-1", `{"qty":5,"order_id":"7"}`), Snapshot: stock10},
			want: outcome{Events: []string{
				`5 inventory.released {"available":10,"last_movement":{"event_id":"l1","kind":"released","order_id":"7","qty":5},"on_hand":10,"qty":10,"reserved":0,"sku":"SKU-1"} changes=[available last_movement reserved]`,
				`6 inventory.changed {"available":10,"last_movement":{"event_id":"l1","kind":"released","order_id":"7","qty":5},"on_hand":10,"qty":10,"reserved":0,"sku":"SKU-1"} changes=[available last_movement reserved]`,
			}, Version: 6, Ledger: "10/0"},
		},
		{
			name: "placing an order reserves its items per SKU",
			in:   Input{Event: ev("o1", "order.placed", "order:7", `{"items":[{"sku":"B","qty":1},{"sku":"A","qty":"2"},{"sku":"B","qty":2}]}`)},
			want: outcome{
				Events:       []string{`1 order.placed {"items":[{"sku":"B","qty":1},{"sku":"A","qty":"2"},{"sku":"B","qty":2}]} changes=[items]`},
				Commands:     []string{"inventory.reserved stock:A qty=2 order=7", "inventory.reserved stock:B qty=3 order=7"},
				Version:      1,
				Reservations: map[string]int64{"A": 2, "B": 3},
			},
		},
		{
			name: "placing the same order again reserves nothing more",
			in:   Input{Event: ev("o2", "order.placed", "order:7", `{"items":[{"sku":"A","qty":2},{"sku":"B","qty":1}]}`), Snapshot: placed},
			want: outcome{
				Events:       []string{`2 order.placed {"items":[{"sku":"A","qty":2},{"sku":"B","qty":1}],"status":"pending"} changes=[]`},
				Version:      2,
				Reservations: map[string]int64{"A": 2, "B": 1},
			},
		},
		{
			name: "editing the items of a reserving order adjusts the holds",
			in:   Input{Event: ev("o3", "order.updated", "order:7", `{"items":[{"sku":"A","qty":3},{"sku":"C","qty":1}]}`), Snapshot: placed},
			want: outcome{
				Events:       []string{`2 order.updated {"items":[{"sku":"A","qty":3},{"sku":"C","qty":1}],"status":"pending"} changes=[items]`},
				Commands:     []string{"inventory.reserved stock:A qty=1 order=7", "inventory.released stock:B qty=1 order=7", "inventory.reserved stock:C qty=1 order=7"},
				Version:      2,
				Reservations: map[string]int64{"A": 3, "C": 1},
			},
		},
		{
			name: "a thin cancellation releases what the order holds",
			in:   Input{Event: ev("o4", "order.cancelled", "order:7", ""), Snapshot: placed},
			want: outcome{
				Events:   []string{`2 order.cancelled {"items":[{"sku":"A","qty":2},{"sku":"B","qty":1}],"status":"pending"} changes=[]`},
				Commands: []string{"inventory.released stock:A qty=2 order=7", "inventory.released stock:B qty=1 order=7"},
				Version:  2,
			},
		},
		{
			name: "a status change to canceled releases too",
			in:   Input{Event: ev("o5", "be-observer.sales_order_status_update", "order:7", `{"status":"canceled"}`), Snapshot: placed},
			want: outcome{
				Events:   []string{`2 order.status_changed {"items":[{"sku":"A","qty":2},{"sku":"B","qty":1}],"status":"canceled"} changes=[status]`},
				Commands: []string{"inventory.released stock:A qty=2 order=7", "inventory.released stock:B qty=1 order=7"},
				Version:  2,
			},
		},
		{
			name: "deleting a reserving order releases",
			in:   Input{Event: ev("o6", "order.deleted", "order:7", ""), Snapshot: placed},
			want: outcome{
				Events:   []string{`2 order.deleted {"items":[{"sku":"A","qty":2},{"sku":"B","qty":1}],"status":"pending"} changes=[items status] deleted`},
				Commands: []string{"inventory.released stock:A qty=2 order=7", "inventory.released stock:B qty=1 order=7"},
				Version:  2, Deleted: true,
			},
		},
		{
			name: "an order Surge never saw placed reserves nothing",
			in:   Input{Event: ev("o7", "order.updated", "order:8", `{"items":[{"sku":"A","qty":1}]}`)},
			want: outcome{Events: []string{`1 order.updated {"items":[{"sku":"A","qty":1}]} changes=[items]`}, Version: 1},
		},
		{
			name: "line items spelt quantity reserve like qty",
			in:   Input{Event: ev("q1", "order.placed", "order:9", `{"items":[{"sku":"A","quantity":2},{"sku":"B","qty":1,"quantity":5},{"sku":"A","quantity":"1.0000"}]}`)},
			want: outcome{
				Events:       []string{`1 order.placed {"items":[{"sku":"A","quantity":2},{"sku":"B","qty":1,"quantity":5},{"sku":"A","quantity":"1.0000"}]} changes=[items]`},
				Commands:     []string{"inventory.reserved stock:A qty=3 order=9", "inventory.reserved stock:B qty=1 order=9"},
				Version:      1,
				Reservations: map[string]int64{"A": 3, "B": 1},
			},
		},
		{
			name: "unreadable line items are skipped and the order is delivered",
			in: Input{Event: ev("q2", "order.placed", "order:9",
				`{"items":[{"sku":"A","qty":2},{"sku":"B"},{"sku":"C","qty":1.5},{"qty":1},"D",{"sku":"E","quantity":-1},{"sku":"F","qty":0},null]}`)},
			want: outcome{
				Events:       []string{`1 order.placed {"items":[{"sku":"A","qty":2},{"sku":"B"},{"sku":"C","qty":1.5},{"qty":1},"D",{"sku":"E","quantity":-1},{"sku":"F","qty":0},null]} changes=[items]`},
				Commands:     []string{"inventory.reserved stock:A qty=2 order=9"},
				Version:      1,
				Reservations: map[string]int64{"A": 2},
				Warnings: []string{
					`line_item_skipped data.items[1].qty: no quantity: want "qty" or "quantity", a whole number of units; not reserved`,
					`line_item_skipped data.items[2].qty: want a whole number of units, got 1.5; not reserved`,
					`line_item_skipped data.items[3].sku: want the SKU as a non-empty string, got nothing; not reserved`,
					`line_item_skipped data.items[4]: want an object {"sku", "qty"}, got "D"; not reserved`,
					`line_item_skipped data.items[5].quantity: want a whole number of units, got -1; not reserved`,
					`line_item_skipped data.items[7]: want an object {"sku", "qty"}, got null; not reserved`,
				},
				Counts: map[string]int{WarnLineItemSkipped: 6},
			},
		},
		{
			name: "an unreadable line item of a reserving order keeps what the order held of its SKU",
			in:   Input{Event: ev("q3", "order.updated", "order:7", `{"items":[{"sku":"A","qty":5},{"sku":"B","qty":"one"}]}`), Snapshot: placed},
			want: outcome{
				Events:       []string{`2 order.updated {"items":[{"sku":"A","qty":5},{"sku":"B","qty":"one"}],"status":"pending"} changes=[items]`},
				Commands:     []string{"inventory.reserved stock:A qty=3 order=7"},
				Version:      2,
				Reservations: map[string]int64{"A": 5, "B": 1},
				Warnings:     []string{`line_item_skipped data.items[1].qty: want a whole number of units, got "one"; the order keeps its hold of 1 on B`},
				Counts:       map[string]int{WarnLineItemSkipped: 1},
			},
		},
		{
			name: "items that are not a list keep every hold",
			in:   Input{Event: ev("q4", "order.updated", "order:7", `{"items":{"sku":"A"}}`), Snapshot: placed},
			want: outcome{
				Events:       []string{`2 order.updated {"items":{"sku":"A"},"status":"pending"} changes=[items]`},
				Version:      2,
				Reservations: map[string]int64{"A": 2, "B": 1},
				Warnings:     []string{`items_unreadable data.items: want a list of {"sku", "qty"} objects, got {"sku":"A"}; the order keeps the stock it held`},
				Counts:       map[string]int{WarnItemsUnreadable: 1},
			},
		},
		{
			name: "items that are not a list on a new order reserve nothing",
			in:   Input{Event: ev("q5", "order.placed", "order:1", `{"items":"A x2"}`)},
			want: outcome{
				Events:   []string{`1 order.placed {"items":"A x2"} changes=[items]`},
				Version:  1,
				Warnings: []string{`items_unreadable data.items: want a list of {"sku", "qty"} objects, got "A x2"; no stock reserved`},
				Counts:   map[string]int{WarnItemsUnreadable: 1},
			},
		},
		{
			name: "a stock level spelt quantity sets on hand",
			in:   Input{Event: ev("q6", "stock.updated", "stock:SKU-1", `{"quantity":8}`), Snapshot: stock10},
			want: outcome{Events: []string{
				`5 stock.updated {"available":5,"last_movement":{"event_id":"q6","kind":"on_hand","qty":8},"on_hand":8,"qty":10,"quantity":8,"reserved":3,"sku":"SKU-1"} changes=[available last_movement on_hand quantity]`,
				`6 inventory.changed {"available":5,"last_movement":{"event_id":"q6","kind":"on_hand","qty":8},"on_hand":8,"qty":10,"quantity":8,"reserved":3,"sku":"SKU-1"} changes=[available last_movement on_hand quantity]`,
			}, Version: 6, Ledger: "8/3"},
		},
		{
			name: "a stock level that is not a number leaves on hand and is delivered",
			in:   Input{Event: ev("q7", "stock.updated", "stock:SKU-1", `{"qty":"many","name":"Bag"}`), Snapshot: stock10},
			want: outcome{
				Events:   []string{`5 stock.updated {"available":7,"name":"Bag","on_hand":10,"qty":"many","reserved":3,"sku":"SKU-1"} changes=[name qty]`},
				Version:  5,
				Ledger:   "10/3",
				Warnings: []string{`quantity_unreadable data.qty: want a whole number of units on hand, got "many"; on_hand is unchanged`},
				Counts:   map[string]int{WarnQuantityUnreadable: 1},
			},
		},
		{
			name: "a stock update without a quantity does not reread the stored one",
			in:   Input{Event: ev("q8", "stock.updated", "stock:SKU-1", `{"name":"Bag"}`), Snapshot: snap("stock:SKU-1", 4, `{"qty":"many","sku":"SKU-1"}`)},
			want: outcome{Events: []string{`5 stock.updated {"name":"Bag","qty":"many","sku":"SKU-1"} changes=[name]`}, Version: 5},
		},
		{
			name: "a thin reservation moves nothing and is delivered",
			in:   Input{Event: ev("q9", "inventory.reserved", "stock:SKU-1", ""), Snapshot: stock10},
			want: outcome{
				Events:   []string{`5 inventory.reserved {"available":7,"on_hand":10,"qty":10,"reserved":3,"sku":"SKU-1"} changes=[]`},
				Version:  5,
				Ledger:   "10/3",
				Warnings: []string{`quantity_unreadable data.qty: a thin inventory.reserved moves nothing: send {"qty": n}; the ledger is unchanged`},
				Counts:   map[string]int{WarnQuantityUnreadable: 1},
			},
		},
		{
			name: "a release of zero moves nothing and is delivered",
			in:   Input{Event: ev("q10", "inventory.released", "stock:SKU-1", `{"quantity":0}`), Snapshot: stock10},
			want: outcome{
				Events:   []string{`5 inventory.released {"available":7,"on_hand":10,"qty":10,"reserved":3,"sku":"SKU-1"} changes=[]`},
				Version:  5,
				Ledger:   "10/3",
				Warnings: []string{`quantity_unreadable data.quantity: want a positive whole number of units, got 0; the ledger is unchanged`},
				Counts:   map[string]int{WarnQuantityUnreadable: 1},
			},
		},
		{
			name: "a reservation spelt quantity reserves",
			in:   Input{Event: ev("q11", "inventory.reserved", "stock:SKU-9", `{"quantity":"2"}`), Snapshot: untracked},
			want: outcome{Events: []string{
				`2 inventory.reserved {"available":-4,"last_movement":{"event_id":"q11","kind":"reserved","qty":2},"on_hand":null,"reserved":4,"sku":"SKU-9"} changes=[available last_movement reserved]`,
				`3 inventory.changed {"available":-4,"last_movement":{"event_id":"q11","kind":"reserved","qty":2},"on_hand":null,"reserved":4,"sku":"SKU-9"} changes=[available last_movement reserved]`,
			}, Version: 3, Ledger: "?/4"},
		},
		{
			name: "a failed load is delivered with the last known data",
			in: Input{Event: ev("q12", "order.updated", "order:2", ""), LoadFailure: "the loader answered 404 not found",
				Snapshot: snap("order:2", 3, `{"status":"pending"}`)},
			want: outcome{
				Events:   []string{`4 order.updated {"status":"pending"} changes=[]`},
				Version:  4,
				Warnings: []string{`not_loaded data: the loader answered 404 not found; the event carries the last data known of order:2`},
				Counts:   map[string]int{WarnNotLoaded: 1},
			},
		},
		{
			name: "a loader body that is not an object is not used",
			in:   Input{Event: ev("q13", "order.placed", "order:3", ""), Loaded: json.RawMessage(`[1]`)},
			want: outcome{
				Events:   []string{`1 order.placed {} changes=[]`},
				Version:  1,
				Warnings: []string{`not_loaded data: the loader's body is not a JSON object; the event carries the last data known of order:3`},
				Counts:   map[string]int{WarnNotLoaded: 1},
			},
		},
		{
			name: "an unreadable stored snapshot: the entity goes on from the event",
			in:   Input{Event: ev("q14", "product.updated", "product:P", `{"price":3}`), Snapshot: snap("product:P", 6, `"corrupt"`)},
			want: outcome{
				Events:   []string{`7 product.updated {"price":3} changes=[price]`},
				Version:  7,
				Warnings: []string{`snapshot_unreadable : the stored state of product:P is not a JSON object; it goes on from this event's data alone`},
				Counts:   map[string]int{WarnSnapshotUnreadable: 1},
			},
		},
		{
			name: "warnings stay on the event they are about, not on derived ones",
			in:   Input{Event: ev("q15", "stock.updated", "stock:SKU-3", `{"qty":4}`), Snapshot: snap("stock:SKU-3", 1, `[]`)},
			want: outcome{
				Events: []string{
					`2 stock.updated {"available":4,"last_movement":{"event_id":"q15","kind":"on_hand","qty":4},"on_hand":4,"qty":4,"reserved":0,"sku":"SKU-3"} changes=[available last_movement on_hand qty reserved sku]`,
					`3 inventory.changed {"available":4,"last_movement":{"event_id":"q15","kind":"on_hand","qty":4},"on_hand":4,"qty":4,"reserved":0,"sku":"SKU-3"} changes=[available last_movement on_hand qty reserved sku]`,
				},
				Version:  3,
				Ledger:   "4/0",
				Warnings: []string{`snapshot_unreadable : the stored state of stock:SKU-3 is not a JSON object; it goes on from this event's data alone`},
				Counts:   map[string]int{WarnSnapshotUnreadable: 1},
			},
		},
		// What ingest never writes (it mints ids, requires an entity and
		// object data) is still refused, for the dead-letter topic.
		{name: "no id", in: Input{Event: ev("", "order.placed", "order:1", `{}`)}, wantErr: ErrInvalid},
		{name: "no entity id", in: Input{Event: ev("x1", "order.placed", "order:", `{}`)}, wantErr: ErrInvalid},
		{name: "data that is not an object", in: Input{Event: ev("x2", "order.placed", "order:1", `[1,2]`)}, wantErr: ErrInvalid},
		{name: "movement data that is not an object", in: Input{Event: ev("x3", "inventory.reserved", "stock:A", `"2"`)}, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Type = lookup(tt.in.Event.Type)
			tt.in.Now = t0.Add(time.Second)
			got, err := Apply(tt.in)
			if tt.wantErr != nil || err != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Apply error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if s := summarize(got); !reflect.DeepEqual(s, tt.want) {
				t.Errorf("Apply =\n%s\nwant\n%s", dump(s), dump(tt.want))
			}
			for i, e := range got.Enriched {
				if i == 0 && e.ID != tt.in.Event.ID {
					t.Errorf("enriched id %q, want the event's %q", e.ID, tt.in.Event.ID)
				}
				if i > 0 && (e.ID == tt.in.Event.ID || e.Attributes[AttrCausationID] != tt.in.Event.ID) {
					t.Errorf("derived event %d: id %q, attributes %v", i, e.ID, e.Attributes)
				}
				if e.CorrelationID != tt.in.Event.CorrelationID || !e.EnrichedAt.Equal(tt.in.Now) {
					t.Errorf("event %d: correlation %q, enriched_at %v", i, e.CorrelationID, e.EnrichedAt)
				}
			}
			for _, c := range got.Commands {
				if c.CorrelationID != tt.in.Event.CorrelationID || c.Attributes[AttrCausationID] != tt.in.Event.ID || c.Source != tt.in.Event.Source {
					t.Errorf("command %+v does not carry the order's correlation, causation and source", c)
				}
			}
		})
	}
}

// TestWarningsAreBounded: an order of many unreadable line items lists
// the first ones and counts the rest, so its record stays small; the
// counts (what the metric adds) are complete.
func TestWarningsAreBounded(t *testing.T) {
	items := make([]string, 250)
	for i := range items {
		items[i] = fmt.Sprintf(`{"sku":"S%d","qty":"?"}`, i)
	}
	got, err := Apply(Input{Event: ev("b1", "order.placed", "order:1", `{"items":[`+strings.Join(items, ",")+`]}`), Type: lookup("order.placed"), Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	ws := got.Enriched[0].Warnings
	if len(ws) != maxWarnings+1 || ws[maxWarnings-1].Field != fmt.Sprintf("data.items[%d].qty", maxWarnings-1) {
		t.Fatalf("%d warnings, the last listed %+v", len(ws), ws[len(ws)-2])
	}
	last := ws[maxWarnings]
	if want := fmt.Sprintf("%d more warnings not listed: %d line_item_skipped", 250-maxWarnings, 250-maxWarnings); last.Code != WarnTruncated || last.Message != want {
		t.Errorf("last warning %+v, want %s %q", last, WarnTruncated, want)
	}
	if got.WarningCounts[WarnLineItemSkipped] != 250 || len(got.Commands) != 0 {
		t.Errorf("counts %v, commands %d", got.WarningCounts, len(got.Commands))
	}
}

func dump(o outcome) string {
	b, _ := json.MarshalIndent(o, "", "  ")
	return string(b)
}

func TestApplyDoesNotModifyItsInput(t *testing.T) {
	prev := snap("stock:SKU-1", 1, `{"qty":1,"sku":"SKU-1"}`)
	prev.Ledger = &Ledger{OnHand: onHand(1)}
	before := *prev
	if _, err := prev.Fields(); err != nil {
		t.Fatal(err)
	}
	got, err := Apply(Input{Event: ev("r", "inventory.reserved", "stock:SKU-1", `{"qty":2}`), Type: lookup("inventory.reserved"), Snapshot: prev, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if prev.Version != before.Version || string(prev.Data) != string(before.Data) || prev.Ledger.Reserved != 0 {
		t.Errorf("the input snapshot changed: %+v", prev)
	}
	if f, _ := prev.Fields(); len(f) != 2 {
		t.Errorf("the input snapshot's fields changed: %v", f)
	}
	if got.Snapshot == prev || got.Snapshot.Ledger == prev.Ledger {
		t.Error("Apply returned the input snapshot instead of a new one")
	}
}

func TestDerivedIDIsStableAndDistinct(t *testing.T) {
	a := DerivedID("2zm8Sx4bHq0LpW3e7YjKd9NfRtA", t0, "inventory.changed")
	if a != DerivedID("2zm8Sx4bHq0LpW3e7YjKd9NfRtA", t0, "inventory.changed") {
		t.Error("DerivedID is not deterministic")
	}
	if len(a) != 27 {
		t.Errorf("DerivedID %q is not a ksuid", a)
	}
	for _, other := range []string{
		DerivedID("2zm8Sx4bHq0LpW3e7YjKd9NfRtA", t0, "inventory.oversold"),
		DerivedID("2zm8Sx4bHq0LpW3e7YjKd9NfRtB", t0, "inventory.changed"),
		DerivedID("x", time.Time{}, "y"),
	} {
		if other == a || len(other) != 27 {
			t.Errorf("DerivedID gave %q next to %q", other, a)
		}
	}
}

func TestNeedsLoad(t *testing.T) {
	loader := catalog.Loader{URL: "https://shop.example/rest/V1/orders/{id}", CacheTTLS: 60}
	noCache := catalog.Loader{URL: "https://shop.example/rest/V1/orders/{id}"}
	fresh := snap("order:1", 1, `{"a":1}`)
	fresh.LoadedAt = t0.Add(-30 * time.Second)
	stale := snap("order:1", 1, `{"a":1}`)
	stale.LoadedAt = t0.Add(-2 * time.Minute)
	neverLoaded := snap("order:1", 1, `{"a":1}`)
	tests := []struct {
		name      string
		in        event.Event
		snap      *Snapshot
		loader    catalog.Loader
		hasLoader bool
		want      bool
	}{
		{name: "thin, no snapshot", in: ev("1", "order.placed", "order:1", ""), loader: loader, hasLoader: true, want: true},
		{name: "thin, fresh snapshot", in: ev("1", "order.updated", "order:1", ""), snap: fresh, loader: loader, hasLoader: true, want: false},
		{name: "thin, stale snapshot", in: ev("1", "order.updated", "order:1", ""), snap: stale, loader: loader, hasLoader: true, want: true},
		{name: "thin, snapshot from events only", in: ev("1", "order.updated", "order:1", ""), snap: neverLoaded, loader: loader, hasLoader: true, want: true},
		{name: "thin, no cache", in: ev("1", "order.updated", "order:1", ""), snap: fresh, loader: noCache, hasLoader: true, want: true},
		{name: "full event", in: ev("1", "order.placed", "order:1", `{"a":1}`), loader: loader, hasLoader: true, want: false},
		{name: "no loader", in: ev("1", "order.placed", "order:1", ""), want: false},
		{name: "delete", in: ev("1", "order.deleted", "order:1", ""), loader: loader, hasLoader: true, want: false},
		{name: "ledger movement", in: ev("1", "inventory.reserved", "stock:A", ""), loader: loader, hasLoader: true, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsLoad(tt.in, lookup(tt.in.Type), tt.snap, tt.loader, tt.hasLoader, t0); got != tt.want {
				t.Errorf("NeedsLoad = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDeleteCarriesIdentity: a deletion is the one event a receiver cannot
// fetch the entity for, so it carries the last known state merged with
// the deletion's own identifying data, and the sender's identity; the
// snapshot is a tombstone all the same.
func TestDeleteCarriesIdentity(t *testing.T) {
	origin := event.Origin{Format: event.FormatCloudEvents, ID: "018e32f9", Type: "com.akeneo.pim.v1.product.deleted", Source: "pim", EntityID: "6a9f8486"}
	del := ev("d1", "com.akeneo.pim.v1.product.deleted", "product:SKU-1", `{"product":{"uuid":"6a9f8486","identifier":"SKU-1"},"author":{"type":"user"}}`)
	del.Origin = origin
	tests := []struct {
		name     string
		snapshot *Snapshot
		want     string
	}{
		{"a known product", snap("product:SKU-1", 2, `{"sku":"SKU-1","name":"Bag","product":{"uuid":"6a9f8486"}}`),
			`{"author":{"type":"user"},"name":"Bag","product":{"uuid":"6a9f8486","identifier":"SKU-1"},"sku":"SKU-1"}`},
		{"a product Surge never saw", nil, `{"author":{"type":"user"},"product":{"uuid":"6a9f8486","identifier":"SKU-1"}}`},
		{"a product already deleted", &Snapshot{Entity: del.Entity, Version: 3, Deleted: true},
			`{"author":{"type":"user"},"product":{"uuid":"6a9f8486","identifier":"SKU-1"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Apply(Input{Event: del, Type: lookup(del.Type), Snapshot: tc.snapshot, Now: t0})
			if err != nil {
				t.Fatal(err)
			}
			e := r.Enriched[0]
			if string(e.Data) != tc.want || !e.Deleted || e.Origin != origin {
				t.Errorf("enriched data %s deleted %v origin %+v; want %s, deleted, origin %+v", e.Data, e.Deleted, e.Origin, tc.want, origin)
			}
			if !r.Snapshot.Deleted || r.Snapshot.Data != nil {
				t.Errorf("snapshot deleted %v data %s; want a tombstone without data", r.Snapshot.Deleted, r.Snapshot.Data)
			}
		})
	}
	t.Run("a thin delete of an unknown entity delivers {}", func(t *testing.T) {
		r, err := Apply(Input{Event: ev("d2", "product.deleted", "product:X", ""), Type: lookup("product.deleted"), Now: t0})
		if err != nil || string(r.Enriched[0].Data) != `{}` {
			t.Fatalf("%s %v", r.Enriched[0].Data, err)
		}
	})
	t.Run("events enrich derives carry no sender's origin", func(t *testing.T) {
		stock := ev("s1", "stock.updated", "stock:SKU-1", `{"qty":5}`)
		stock.Origin = event.Origin{Format: event.FormatAdobe, ID: "uid-1", Type: "be-observer.catalog_stock_update"}
		r, err := Apply(Input{Event: stock, Type: lookup(stock.Type), Now: t0})
		if err != nil || len(r.Enriched) != 2 {
			t.Fatalf("%+v %v", r.Enriched, err)
		}
		if r.Enriched[0].Origin != stock.Origin || !r.Enriched[1].Origin.IsZero() {
			t.Errorf("origins %+v and %+v; want the sender's, then none on %s", r.Enriched[0].Origin, r.Enriched[1].Origin, r.Enriched[1].Type)
		}
	})
}
