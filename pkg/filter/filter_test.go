package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// body builds a Body the way fanout does: data parsed by encoding/json.
func body(t testing.TB, typ, entityType, entityID string, version int64, data string, changes ...string) *Body {
	t.Helper()
	var d any
	if data != "" {
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			t.Fatalf("parsing data %s: %v", data, err)
		}
	}
	return &Body{
		ID:      "2pQ4xK7vR1bN0mZ8sT3wY6uE9cA",
		Type:    typ,
		Source:  "magento-eu",
		Time:    time.Date(2026, 11, 3, 14, 5, 9, 0, time.UTC),
		Entity:  Entity{Type: entityType, ID: entityID, Version: version},
		Data:    d,
		Changes: changes,
	}
}

func orderPlaced(t testing.TB, total float64) *Body {
	return body(t, "order.placed", "order", "100012", 1,
		fmt.Sprintf(`{"increment_id":"100012","status":"pending","total":%v,"currency":"EUR",
			"customer":{"email":"ada@example.com","group":"wholesale"},
			"items":[{"sku":"SKU-1","qty":2,"price":19.9},{"sku":"SKU-7","qty":1,"price":%v}]}`, total, total-39.8),
		"increment_id", "status", "total", "currency", "customer", "items")
}

func orderShipped(t testing.TB) *Body {
	return body(t, "order.updated", "order", "100012", 4,
		`{"increment_id":"100012","status":"shipped","total":59.9,"currency":"EUR","items":[]}`, "status")
}

func productLowStock(t testing.TB, qty int) *Body {
	return body(t, "product.updated", "product", "SKU-1", 12,
		fmt.Sprintf(`{"sku":"SKU-1","name":"Linen shirt","price":19.9,"qty":%d,"tags":["summer","linen"]}`, qty), "qty")
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name string
		expr string
		in   *Body
		want bool
	}{
		{"big order", `type == "order.placed" && data.total > 100.0`, orderPlaced(t, 149.5), true},
		{"small order", `type == "order.placed" && data.total > 100.0`, orderPlaced(t, 59.9), false},
		{"int literal against a JSON number", `data.total > 100`, orderPlaced(t, 149.5), true},
		{"int literal against a JSON number, not above", `data.total > 100`, orderPlaced(t, 100), false},
		{"JSON number equals an int", `data.total == 100`, orderPlaced(t, 100), true},
		{"other type", `type == "order.placed" && data.total > 100.0`, orderShipped(t), false},
		{"status changed", `"status" in changes`, orderShipped(t), true},
		{"status not changed", `"status" in changes`, productLowStock(t, 3), false},
		{"status changed to shipped", `"status" in changes && data.status == "shipped"`, orderShipped(t), true},
		{"low stock", `entity.type == "product" && data.qty < 5`, productLowStock(t, 3), true},
		{"enough stock", `entity.type == "product" && data.qty < 5`, productLowStock(t, 40), false},
		{"not a product", `entity.type == "product" && data.qty < 5`, orderShipped(t), false},
		{"entity id and version", `entity.id == "SKU-1" && entity.version >= 10`, productLowStock(t, 3), true},
		{"entity version below", `entity.version > 12`, productLowStock(t, 3), false},
		{"has guards a missing field", `has(data.qty) && data.qty < 5`, orderShipped(t), false},
		{"has on entity", `has(entity.version) && !has(entity.name)`, orderShipped(t), true},
		{"entity as a whole", `entity == {"type": "order", "id": "100012", "version": 4}`, orderShipped(t), true},
		{"key in entity", `"id" in entity && !("name" in entity)`, orderShipped(t), true},
		{"nested field", `data.customer.group == "wholesale"`, orderPlaced(t, 149.5), true},
		{"any item", `data.items.exists(i, i.sku == "SKU-7" && i.qty >= 1)`, orderPlaced(t, 149.5), true},
		{"no such item", `data.items.exists(i, i.sku == "SKU-9")`, orderPlaced(t, 149.5), false},
		{"list in data", `"linen" in data.tags`, productLowStock(t, 3), true},
		{"source and id", `source == "magento-eu" && id.startsWith("2pQ4")`, orderShipped(t), true},
		{"time", `time > timestamp("2026-11-01T00:00:00Z") && time.getHours() == 14`, orderShipped(t), true},
		{"time before", `time < timestamp("2026-11-01T00:00:00Z")`, orderShipped(t), false},
		{"changes equal a list", `changes == ["status"] && ["status"] == changes`, orderShipped(t), true},
		{"changes differ from a list", `changes == ["status", "total"]`, orderShipped(t), false},
		{"changes indexed", `changes[0] == "status" && size(changes + ["x"]) == 2`, orderShipped(t), true},
		{"changes iterated", `changes.exists(c, c.startsWith("stat")) && !changes.all(c, c == "qty")`, orderShipped(t), true},
		{"non-string in changes", `dyn(1) in changes`, orderShipped(t), false},
		{"type prefix", `type.startsWith("order.") && size(changes) == 1`, orderShipped(t), true},
		{"thin event has null data", `data == null`, body(t, "order.placed", "order", "1", 1, ""), true},
		{"deleted entity", `type == "customer.deleted" && data == null`, body(t, "customer.deleted", "customer", "7", 3, "null"), true},
		{"no changes", `size(changes) == 0`, body(t, "customer.deleted", "customer", "7", 3, "null"), true},
		{"dyn result that is a bool", `data.active`, body(t, "customer.updated", "customer", "7", 3, `{"active":true}`), true},
		{"multi-line", "type == \"order.placed\"\n  && data.total > 100.0 // big orders\n", orderPlaced(t, 149.5), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.expr, err)
			}
			got, err := f.Match(tt.in)
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if got != tt.want {
				t.Errorf("%s on %s = %v, want %v", tt.expr, tt.in.Type, got, tt.want)
			}
			if f.String() != tt.expr {
				t.Errorf("String() = %q, want %q", f.String(), tt.expr)
			}
		})
	}
}

func TestMatchErrors(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		in      *Body
		wantErr string
	}{
		{"missing key", `data.total > 100.0`, productLowStock(t, 3), "no such key: total"},
		{"missing key on entity", `entity.name == "x"`, productLowStock(t, 3), "no such key: name"},
		{"field of thin event", `data.total > 100.0`, body(t, "order.placed", "order", "1", 1, ""), "filter: evaluating"},
		{"string against number", `data.status > 100`, orderShipped(t), "no such overload"},
		{"number against string", `data.total == "59.9" || data.total < "60"`, orderShipped(t), "no such overload"},
		{"dyn result that is not a bool", `data.status`, orderShipped(t), "gave string, not a bool"},
		{"nil body", `true`, nil, "no body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.expr, err)
			}
			got, err := f.Match(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Match error = %v, want one containing %q", err, tt.wantErr)
			}
			if got {
				t.Errorf("Match = true with an error")
			}
			if errors.Is(err, ErrCostLimit) {
				t.Errorf("error %v wraps ErrCostLimit", err)
			}
		})
	}
}

func TestCostLimit(t *testing.T) {
	// Within the limit: an order with a few hundred items.
	items := make([]any, 300)
	for i := range items {
		items[i] = map[string]any{"sku": fmt.Sprintf("SKU-%d", i), "qty": float64(i % 4)}
	}
	b := &Body{Type: "order.placed", Entity: Entity{Type: "order", ID: "1", Version: 1},
		Data: map[string]any{"items": items}}
	f, err := Compile(`data.items.exists(i, i.sku == "SKU-299")`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Match(b); err != nil || !ok {
		t.Fatalf("300 items: Match = %v, %v; want true, nil", ok, err)
	}

	// Over it: a comprehension nested in one over the items.
	f, err = Compile(`data.items.all(i, data.items.all(j, i.qty + j.qty >= 0.0))`)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := f.Match(b)
	if !errors.Is(err, ErrCostLimit) {
		t.Fatalf("nested comprehension: Match error = %v, want ErrCostLimit", err)
	}
	if ok {
		t.Error("Match = true with an error")
	}

	// The same filter is cheap on a small order.
	b.Data = map[string]any{"items": items[:3]}
	if ok, err := f.Match(b); err != nil || !ok {
		t.Fatalf("3 items: Match = %v, %v; want true, nil", ok, err)
	}
}

func TestCompileErrors(t *testing.T) {
	long := `type == "order.placed" && (` + strings.Repeat(`data.sku == "SKU-000001" || `, 200) + `false)`
	tests := []struct {
		name     string
		expr     string
		wantLine int // 0: any
		wantCol  int
		wantMsg  string
	}{
		{"empty", ``, 1, 1, "empty"},
		{"blank", " \n\t", 1, 1, "empty"},
		{"undeclared", `data.total > 1 && dta.qty < 5`, 1, 19, "undeclared reference to 'dta'"},
		{"undeclared on line 2", "type == \"order.placed\" &&\n   totl > 100", 2, 4, "undeclared reference to 'totl'"},
		{"syntax", `type == "order.placed" &&`, 1, 26, "Syntax error"},
		{"unclosed paren", "(type == \"order.placed\"\n  || type == \"order.updated\"", 2, 29, "Syntax error"},
		{"unterminated string", `type == "order.placed`, 1, 9, "Syntax error"},
		{"string compared to int", `type == 3`, 1, 6, "no matching overload"},
		{"changes is a list of strings", `changes > 1`, 1, 9, "no matching overload"},
		{"non-bool result", `data.total + 1`, 1, 1, "gives int; a filter must give bool"},
		{"string result", `type`, 1, 1, "gives string; a filter must give bool"},
		{"list result", `changes`, 1, 1, "a filter must give bool"},
		{"too long", long, 1, MaxExprLen + 1, fmt.Sprintf("is %d bytes long; the limit is %d", len(long), MaxExprLen)},
		{"always too costly", `size([0,1,2,3,4,5,6,7,8,9].map(a, [0,1,2,3,4,5,6,7,8,9].map(b, [0,1,2,3,4,5,6,7,8,9].map(c, [0,1,2,3,4,5,6,7,8,9].map(d, a+b+c+d))))) > 0`, 1, 1, "costs at least"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.expr)
			if err == nil {
				t.Fatalf("Compile(%q) = %v, want an error", tt.expr, f)
			}
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *CompileError", err, err)
			}
			if ce.Line != tt.wantLine || ce.Column != tt.wantCol {
				t.Errorf("position = line %d, column %d; want line %d, column %d (%s)", ce.Line, ce.Column, tt.wantLine, tt.wantCol, ce.Message)
			}
			if !strings.Contains(ce.Message, tt.wantMsg) {
				t.Errorf("message = %q, want one containing %q", ce.Message, tt.wantMsg)
			}
			if ce.Expr != tt.expr {
				t.Errorf("Expr = %q, want the source", ce.Expr)
			}
			wantPrefix := fmt.Sprintf("filter: line %d, column %d: ", ce.Line, ce.Column)
			if !strings.HasPrefix(err.Error(), wantPrefix) || !strings.HasSuffix(err.Error(), ce.Message) {
				t.Errorf("Error() = %q, want %q + message", err.Error(), wantPrefix)
			}
		})
	}
}

func TestCompileErrorString(t *testing.T) {
	_, err := Compile(`type == dta`)
	const want = `filter: line 1, column 9: undeclared reference to 'dta' (did you mean 'data'?)`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
}

func TestLongestExpressionCompiles(t *testing.T) {
	expr := `"status" in changes` + strings.Repeat(" ", MaxExprLen-len(`"status" in changes`))
	if len(expr) != MaxExprLen {
		t.Fatalf("test expression is %d bytes", len(expr))
	}
	if _, err := Compile(expr); err != nil {
		t.Fatalf("an expression of exactly MaxExprLen bytes: %v", err)
	}
	if _, err := Compile(expr + " "); err == nil {
		t.Fatal("an expression of MaxExprLen+1 bytes compiled")
	}
}

// TestConcurrentMatch shares filters between goroutines, each matching its
// own and shared bodies; run it with -race.
func TestConcurrentMatch(t *testing.T) {
	filters := []struct {
		expr string
		want func(total float64, qty int) bool
	}{
		{`type == "order.placed" && data.total > 100.0`, func(total float64, _ int) bool { return total > 100 }},
		{`entity.type == "product" && data.qty < 5`, func(_ float64, qty int) bool { return qty < 5 }},
		{`"status" in changes && entity.version > 0`, func(float64, int) bool { return true }},
	}
	compiled := make([]*Filter, len(filters))
	for i, f := range filters {
		var err error
		if compiled[i], err = Compile(f.expr); err != nil {
			t.Fatal(err)
		}
	}
	shared := orderPlaced(t, 150)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				total, qty := float64(50+(g*37+i)%100), (g+i)%9
				order, product := orderPlaced(t, total), productLowStock(t, qty)
				order.Changes = append(order.Changes, "status")
				product.Changes = append(product.Changes, "status")
				for fi, f := range compiled {
					for _, tc := range []struct {
						b    *Body
						want bool
					}{
						{order, fi != 1 && filters[fi].want(total, qty)},
						{product, fi != 0 && filters[fi].want(total, qty)},
						{shared, fi == 0 || fi == 2},
					} {
						got, err := f.Match(tc.b)
						if err != nil || got != tc.want {
							errs <- fmt.Errorf("goroutine %d: %s on %s (total %v, qty %d) = %v, %v; want %v",
								g, f, tc.b.Type, total, qty, got, err, tc.want)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
