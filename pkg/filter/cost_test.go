package filter

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// maxBody is a body at the sizes the cost estimate assumes.
func maxBody(changes int) *Body {
	long := strings.Repeat("x", maxHintString)
	b := &Body{ID: long, Type: long, Source: long, Entity: Entity{Type: long, ID: long, Version: 1},
		Data: map[string]any{"total": 150.0, "qty": 3.0, "status": "shipped"}}
	for i := range changes {
		b.Changes = append(b.Changes, fmt.Sprintf("field_%d", i))
	}
	return b
}

// TestBoundedFiltersStayWithinMaxCost checks the premise of evaluating
// without cost tracking: on a body at the hinted sizes, a filter Compile
// found bounded really costs no more than CEL's estimate, and that is
// within MaxCost.
func TestBoundedFiltersStayWithinMaxCost(t *testing.T) {
	e, err := env()
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{
		`data.total > 100.0`,
		`type == "order.placed" && "status" in changes && data.total > 100.0`,
		`entity.type == "product" && data.qty < 5`,
		`type.matches("^order[.]") || entity.id.contains("SKU-")`,
		`changes.exists(c, c.startsWith("stat")) || size(changes) > 3`,
		`"field_1023" in changes && source + id != type`,
		`time > timestamp("2026-01-01T00:00:00Z") && data.status == "shipped"`,
	} {
		t.Run(expr, func(t *testing.T) {
			f, err := Compile(expr)
			if err != nil {
				t.Fatal(err)
			}
			if f.bounded == nil {
				t.Fatal("the filter is not bounded")
			}
			ast, _ := e.Compile(expr)
			est, err := e.EstimateCost(ast, sizeHints{})
			if err != nil {
				t.Fatal(err)
			}
			b := maxBody(maxHintChanges)
			if !withinHints(b) {
				t.Fatal("the largest body within the hints is not within them")
			}
			_, det, err := f.tracked.Eval((*activation)(b))
			if err != nil {
				t.Fatal(err)
			}
			if got := *det.ActualCost(); got > est.Max || est.Max > MaxCost {
				t.Errorf("actual cost %d, estimated at most %d, limit %d", got, est.Max, MaxCost)
			}
		})
	}
}

func TestUnboundedFiltersAreTracked(t *testing.T) {
	for _, expr := range []string{
		`data.items.exists(i, i.sku == "SKU-1")`,
		`"linen" in data.tags`,
		`data.name.matches("shirt")`,
		`changes.exists(c, changes.exists(d, c + d == "xy"))`,
	} {
		f, err := Compile(expr)
		if err != nil {
			t.Fatalf("Compile(%q): %v", expr, err)
		}
		if f.bounded != nil {
			t.Errorf("%s is evaluated without cost tracking", expr)
		}
	}
}

// TestBodyBeyondHintsIsTracked: a filter that is bounded on bodies within
// the hints still hits the cost limit on one far beyond them.
func TestBodyBeyondHintsIsTracked(t *testing.T) {
	f, err := Compile(`changes.exists(c, c == "nope")`)
	if err != nil {
		t.Fatal(err)
	}
	if f.bounded == nil {
		t.Fatal("the filter is not bounded")
	}
	if ok, err := f.Match(maxBody(maxHintChanges)); err != nil || ok {
		t.Fatalf("within the hints: Match = %v, %v; want false, nil", ok, err)
	}
	big := maxBody(20 * maxHintChanges)
	if withinHints(big) {
		t.Fatal("a body beyond the hints is within them")
	}
	if ok, err := f.Match(big); !errors.Is(err, ErrCostLimit) || ok {
		t.Fatalf("beyond the hints: Match = %v, %v; want false, ErrCostLimit", ok, err)
	}
	long := maxBody(1)
	long.Source += "x"
	if withinHints(long) {
		t.Fatal("a body with a source beyond the hints is within them")
	}
}
