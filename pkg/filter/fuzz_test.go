package filter

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

// fuzzBodies are what a compiled filter is evaluated on: an order, a
// deletion without data, a body at the edge of the size hints and one
// past them (so that both the untracked and the tracked program run).
func fuzzBodies() []*Body {
	items := make([]any, 300)
	for i := range items {
		items[i] = map[string]any{"sku": fmt.Sprintf("SKU-%d", i), "qty": float64(i % 7), "price": 19.9}
	}
	changes := make([]string, maxHintChanges)
	for i := range changes {
		changes[i] = fmt.Sprintf("field_%d", i)
	}
	t := time.Date(2026, 11, 3, 14, 5, 9, 0, time.UTC)
	return []*Body{
		{ID: "2pQ4xK7vR1bN0mZ8sT3wY6uE9cA", Type: "order.placed", Source: "magento-eu", Time: t,
			Entity: Entity{Type: "order", ID: "100012", Version: 4},
			Data: map[string]any{"increment_id": "100012", "status": "shipped", "total": 159.9, "currency": "EUR",
				"customer": map[string]any{"group": "wholesale"}, "items": []any{map[string]any{"sku": "SKU-7", "qty": 2.0}}, "tags": []any{"linen"}},
			Changes: []string{"status", "total"}},
		{ID: "2pQ4xK7vR1bN0mZ8sT3wY6uE9cB", Type: "customer.deleted", Source: "shop", Time: t,
			Entity: Entity{Type: "customer", ID: "4711", Version: 9}},
		{ID: strings.Repeat("i", maxHintString), Type: "product.updated", Source: strings.Repeat("s", maxHintString), Time: t,
			Entity:  Entity{Type: "product", ID: strings.Repeat("p", maxHintString), Version: 1 << 40},
			Data:    map[string]any{"sku": "SKU-1", "qty": 3.0, "items": items, "name": strings.Repeat("long ", 2000)},
			Changes: changes},
		{ID: "x", Type: "stock.updated", Source: "erp", Time: t, Entity: Entity{Type: "stock", ID: "SKU-1"},
			Data: map[string]any{"qty": -1.0, "items": items}, Changes: append(changes, "one_more")},
	}
}

// FuzzCompile: whatever the expression, Compile either gives a filter or
// a *CompileError positioned inside the expression; the same twice. A
// filter that compiled evaluates on every body within its cost bound:
// the tracked program never reports spending more than MaxCost, and when
// Compile judged the cost statically bounded (the untracked program), the
// tracked program agrees with it and never hits the limit on a body
// within the size hints.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`type == "order.placed" && data.total > 100.0`,
		`data.total > 100`,
		`"status" in changes && data.status == "shipped"`,
		`entity.type == "product" && has(data.qty) && data.qty < 5`,
		`entity == {"type": "order", "id": "100012", "version": 4}`,
		`data.items.exists(i, i.sku == "SKU-7" && i.qty >= 1)`,
		`data.items.all(i, data.items.all(j, i.qty + j.qty >= 0.0))`,
		`time > timestamp("2026-11-01T00:00:00Z") && time.getHours() == 14`,
		`changes.exists(c, c.startsWith("stat")) && !changes.all(c, c == "qty")`,
		`changes[0] == "status" && size(changes + ["x"]) == 2`,
		`source == "magento-eu" && id.startsWith("2pQ4")`,
		`type == "customer.deleted" && data == null`,
		`data.name.matches("^long( long)*") || size(data.name) > 3`,
		`size([0,1,2,3,4,5,6,7,8,9].map(a, [0,1,2,3,4,5,6,7,8,9].map(b, [0,1,2,3,4,5,6,7,8,9].map(c, a+b+c)))) > 0`,
		`type == "order.placed" &&` + "\n" + `  dta.qty < 5`,
		`type == "order.placed`,
		`data.total + 1`,
		`1/0 == 1`,
		`{b"k": 1}.size() == 1`, // cel-go panicked folding it (found by CI's fuzz run)
		``,
	} {
		f.Add(s)
	}
	bodies := fuzzBodies()
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := Compile(expr)
		_, err2 := Compile(expr)
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("two compiles differ: %v / %v", err, err2)
		}
		if err != nil {
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("%q: not a *CompileError: %v", expr, err)
			}
			if ce.Expr != expr || ce.Message == "" || ce.Line < 1 || ce.Column < 1 || ce.Line > strings.Count(expr, "\n")+1 {
				t.Fatalf("%q: compile error %+v is not positioned in the expression", expr, ce)
			}
			return
		}
		if flt.String() != expr || len(expr) > MaxExprLen {
			t.Fatalf("compiled %d bytes, String %q", len(expr), flt.String())
		}
		for i, b := range bodies {
			ok, err := flt.Match(b)
			if err != nil && ok {
				t.Fatalf("body %d: true with an error: %v", i, err)
			}
			out, det, terr := flt.tracked.Eval((*activation)(b))
			if terr == nil {
				if c := det.ActualCost(); c == nil || *c > MaxCost {
					t.Fatalf("%q on body %d: cost %v past the limit %d without an error", expr, i, c, MaxCost)
				}
			}
			if flt.bounded == nil || !withinHints(b) {
				continue
			}
			var cancelled interpreter.EvalCancelledError
			if errors.As(terr, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
				t.Fatalf("%q was judged to cost at most %d, but body %d hit the limit", expr, MaxCost, i)
			}
			bout, _, berr := flt.bounded.Eval((*activation)(b))
			if (terr == nil) != (berr == nil) || terr == nil && out.Equal(bout) != types.True {
				t.Fatalf("%q on body %d: tracked %v %v, untracked %v %v", expr, i, out, terr, bout, berr)
			}
		}
	})
}
