package catalog_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/surgehq/surge/pkg/catalog"
)

func TestBuiltinLookup(t *testing.T) {
	cat := catalog.New(catalog.Builtin()...)
	tests := []struct {
		name       string
		in         string
		wantType   string
		wantEntity string
		wantDelete bool
		wantOK     bool
	}{
		{"canonical", "order.placed", "order.placed", "order", false, true},
		{"canonical delete", "order.deleted", "order.deleted", "order", true, true},
		{"nested name", "customer.address.updated", "customer.address.updated", "customer", false, true},
		{"customer group", "customer_group.deleted", "customer_group.deleted", "customer_group", true, true},
		{"stock alias", "stock.adjusted", "stock.updated", "stock", false, true},
		{"inventory shares the stock entity", "inventory.oversold", "inventory.oversold", "stock", false, true},
		{"payment", "payment.captured", "payment.captured", "payment", false, true},
		{"adobe product create", "be-observer.catalog_product_create", "product.created", "product", false, true},
		{"adobe product delete", "be-observer.catalog_product_delete", "product.deleted", "product", true, true},
		{"adobe customer update", "be-observer.customer_update", "customer.updated", "customer", false, true},
		{"adobe customer group", "be-observer.customer_group_delete", "customer_group.deleted", "customer_group", true, true},
		{"adobe order status", "be-observer.sales_order_status_update", "order.status_changed", "order", false, true},
		{"adobe shipment", "be-observer.sales_order_shipment_create", "shipment.created", "shipment", false, true},
		{"adobe shipment update", "be-observer.sales_order_shipment_update", "shipment.updated", "shipment", false, true},
		{"adobe stock", "be-observer.catalog_stock_update", "stock.updated", "stock", false, true},
		{"akeneo product", "com.akeneo.pim.v1.product.updated", "product.updated", "product", false, true},
		{"akeneo product deleted", "com.akeneo.pim.v1.product.deleted", "product.deleted", "product", true, true},
		{"akeneo product model", "com.akeneo.pim.v1.product-model.deleted", "product_model.deleted", "product_model", true, true},
		{"akeneo category", "com.akeneo.pim.v1.category.created", "category.created", "category", false, true},
		{"akeneo attribute", "com.akeneo.pim.v1.attribute.deleted", "attribute.deleted", "attribute", true, true},
		{"akeneo attribute option", "com.akeneo.pim.v1.attribute-option.deleted", "attribute_option.deleted", "attribute_option", true, true},
		{"akeneo family", "com.akeneo.pim.v1.family.deleted", "family.deleted", "family", true, true},
		{"unknown", "order.teleported", "", "", false, false},
		{"empty", "", "", "", false, false},
		{"case matters", "Order.Placed", "", "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := cat.Lookup(tc.in)
			if ok != tc.wantOK {
				t.Fatalf("Lookup(%q) ok = %v, want %v", tc.in, ok, tc.wantOK)
			}
			if got.Name != tc.wantType || got.EntityType != tc.wantEntity || got.Delete != tc.wantDelete {
				t.Errorf("Lookup(%q) = %s/%s delete=%v, want %s/%s delete=%v",
					tc.in, got.Name, got.EntityType, got.Delete, tc.wantType, tc.wantEntity, tc.wantDelete)
			}
		})
	}
}

func TestBuiltinIsComplete(t *testing.T) {
	cat := catalog.New(catalog.Builtin()...)
	want := strings.Fields(`order.placed order.updated order.status_changed order.cancelled order.shipped
		order.invoiced order.refunded order.deleted product.created product.updated product.deleted
		customer.created customer.updated customer.deleted customer.address.updated
		customer_group.created customer_group.updated customer_group.deleted stock.updated
		inventory.changed inventory.oversold inventory.reserved inventory.released
		category.created category.updated category.deleted shipment.created shipment.updated
		payment.captured product_model.created product_model.updated product_model.deleted`)
	for _, name := range want {
		et, ok := cat.Lookup(name)
		if !ok || et.Name != name {
			t.Errorf("built-in type %q missing", name)
		}
		if et.EntityType == "" || et.Description == "" {
			t.Errorf("built-in type %q has no entity type or description", name)
		}
	}
	for _, et := range catalog.Builtin() {
		if got := strings.HasSuffix(et.Name, ".deleted"); got != et.Delete {
			t.Errorf("%s: Delete = %v", et.Name, et.Delete)
		}
	}
}

func TestEventTypeValidate(t *testing.T) {
	tests := []struct {
		name      string
		in        catalog.EventType
		wantField string // "" = valid
	}{
		{"minimal", catalog.EventType{Name: "return.requested"}, ""},
		{"full", catalog.EventType{Name: "return.requested", EntityType: "return", Aliases: []string{"rma.new"},
			DataSchema: json.RawMessage(`{"type":"object","required":["reason"]}`)}, ""},
		{"boolean schema", catalog.EventType{Name: "a.b", DataSchema: json.RawMessage(`true`)}, ""},
		{"empty name", catalog.EventType{}, "name"},
		{"wildcard name", catalog.EventType{Name: "order.*"}, "name"},
		{"upper-case name", catalog.EventType{Name: "Order.Placed"}, "name"},
		{"trailing dot", catalog.EventType{Name: "order."}, "name"},
		{"bad entity type", catalog.EventType{Name: "a.b", EntityType: "Order:1"}, "entity_type"},
		{"empty alias", catalog.EventType{Name: "a.b", Aliases: []string{""}}, "aliases[0]"},
		{"alias with space", catalog.EventType{Name: "a.b", Aliases: []string{"x", "a b"}}, "aliases[1]"},
		{"alias is own name", catalog.EventType{Name: "a.b", Aliases: []string{"a.b"}}, "aliases[0]"},
		{"duplicate alias", catalog.EventType{Name: "a.b", Aliases: []string{"x", "x"}}, "aliases[1]"},
		{"schema not JSON", catalog.EventType{Name: "a.b", DataSchema: json.RawMessage(`{`)}, "data_schema"},
		{"schema is a string", catalog.EventType{Name: "a.b", DataSchema: json.RawMessage(`"object"`)}, "data_schema"},
		{"schema does not compile", catalog.EventType{Name: "a.b", DataSchema: json.RawMessage(`{"properties":{"n":{"type":0}}}`)}, "data_schema"},
		{"schema refers to a URL", catalog.EventType{Name: "a.b", DataSchema: json.RawMessage(`{"$ref":"https://example.com/s.json"}`)}, "data_schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.Validate()
			checkField(t, err, tc.wantField)
		})
	}
}

// checkField asserts err is nil when want is "", else that it holds a
// *catalog.FieldError for want.
func checkField(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one for field %q", want)
	}
	var fields []string
	var walk func(error)
	walk = func(err error) {
		if fe, ok := err.(*catalog.FieldError); ok {
			fields = append(fields, fe.Field)
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		} else if u := errors.Unwrap(err); u != nil {
			walk(u)
		}
	}
	walk(err)
	for _, f := range fields {
		if f == want {
			return
		}
	}
	t.Fatalf("error %q names fields %v, want %q", err, fields, want)
}

func TestCatalogPutAndReplace(t *testing.T) {
	cat := catalog.New(catalog.Builtin()...)

	// A new type with an alias.
	if err := cat.Put(catalog.EventType{Name: "return.requested", EntityType: "return", Aliases: []string{"rma.created"}}); err != nil {
		t.Fatal(err)
	}
	if et, ok := cat.Lookup("rma.created"); !ok || et.Name != "return.requested" {
		t.Fatalf("alias not resolved: %v %v", et, ok)
	}

	// Redefining a type replaces its aliases.
	if err := cat.Put(catalog.EventType{Name: "return.requested", EntityType: "return", Aliases: []string{"rma.opened"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := cat.Lookup("rma.created"); ok {
		t.Error("old alias still resolves after redefinition")
	}
	if _, ok := cat.Lookup("rma.opened"); !ok {
		t.Error("new alias does not resolve")
	}

	// A built-in can be given a schema.
	schema := json.RawMessage(`{"type":"object","required":["total"]}`)
	placed, _ := cat.Lookup("order.placed")
	placed.DataSchema = schema
	if err := cat.Put(placed); err != nil {
		t.Fatal(err)
	}
	if et, _ := cat.Lookup("order.placed"); string(et.DataSchema) != string(schema) {
		t.Errorf("schema %s", et.DataSchema)
	}

	conflicts := []struct {
		name      string
		in        catalog.EventType
		wantField string
	}{
		{"alias taken by another type", catalog.EventType{Name: "x.y", Aliases: []string{"stock.adjusted"}}, "aliases[0]"},
		{"alias is another type's name", catalog.EventType{Name: "x.y", Aliases: []string{"order.placed"}}, "aliases[0]"},
		{"name is another type's alias", catalog.EventType{Name: "stock.adjusted"}, "name"},
		{"invalid", catalog.EventType{Name: "X"}, "name"},
	}
	before := len(cat.List())
	for _, tc := range conflicts {
		t.Run(tc.name, func(t *testing.T) {
			checkField(t, cat.Put(tc.in), tc.wantField)
		})
	}
	if after := len(cat.List()); after != before {
		t.Errorf("failed Puts changed the catalog: %d types, was %d", after, before)
	}

	// Replace is all or nothing.
	err := cat.Replace([]catalog.EventType{{Name: "a.b", Aliases: []string{"z"}}, {Name: "c.d", Aliases: []string{"z"}}})
	checkField(t, err, "aliases[0]")
	if _, ok := cat.Lookup("order.placed"); !ok {
		t.Fatal("a failed Replace changed the catalog")
	}
	if err := cat.Replace([]catalog.EventType{{Name: "a.b"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := cat.Lookup("order.placed"); ok {
		t.Error("Replace kept an old type")
	}
	if got := cat.List(); len(got) != 1 || got[0].Name != "a.b" {
		t.Errorf("List = %v", got)
	}
}

func TestCatalogZeroValueAndNil(t *testing.T) {
	var zero catalog.Catalog
	if _, ok := zero.Lookup("order.placed"); ok {
		t.Error("zero catalog resolved a type")
	}
	if err := zero.Put(catalog.EventType{Name: "a.b"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := zero.Lookup("a.b"); !ok {
		t.Error("Put on a zero catalog did not take")
	}
	var nilCat *catalog.Catalog
	if _, ok := nilCat.Lookup("a.b"); ok || nilCat.List() != nil {
		t.Error("nil catalog is not empty")
	}
}

func TestCatalogListIsACopy(t *testing.T) {
	cat := catalog.New(catalog.EventType{Name: "a.b", Aliases: []string{"x"}})
	l := cat.List()
	l[0].Aliases[0] = "mutated"
	if et, ok := cat.Lookup("x"); !ok || et.Aliases[0] != "x" {
		t.Error("List shares its slices with the catalog")
	}
}

func TestNewPanicsOnInvalidBuiltins(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New did not panic on a duplicate")
		}
	}()
	catalog.New(catalog.EventType{Name: "a.b"}, catalog.EventType{Name: "a.b"})
}

func TestCatalogConcurrentUse(t *testing.T) {
	cat := catalog.New(catalog.Builtin()...)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if _, ok := cat.Lookup("be-observer.catalog_product_update"); !ok {
					t.Error("built-in alias vanished during writes")
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := cat.Put(catalog.EventType{Name: fmt.Sprintf("custom.t%d", w), Aliases: []string{fmt.Sprintf("c%d-%d", w, i)}}); err != nil {
					t.Error(err)
					return
				}
				_ = cat.List()
			}
		}()
	}
	wg.Wait()
}

func TestEventTypeJSON(t *testing.T) {
	in := `{"name":"order.placed","entity_type":"order","aliases":["checkout.completed"],"description":"d","data_schema":{"type":"object"},"delete":false}`
	var et catalog.EventType
	if err := json.Unmarshal([]byte(in), &et); err != nil {
		t.Fatal(err)
	}
	if et.Name != "order.placed" || et.EntityType != "order" || len(et.Aliases) != 1 || string(et.DataSchema) != `{"type":"object"}` {
		t.Fatalf("decoded %+v", et)
	}
	out, err := json.Marshal(catalog.EventType{Name: "a.b", Delete: true})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"name":"a.b","delete":true}` {
		t.Errorf("encoded %s", out)
	}
}

func TestLeaves(t *testing.T) {
	a, b, c := errors.New("a"), &catalog.FieldError{Field: "f", Message: "b"}, errors.New("c")
	wrapped := fmt.Errorf("w: %w", c)
	got := catalog.Leaves(errors.Join(a, errors.Join(b, wrapped)))
	if len(got) != 3 || got[0] != a || got[1] != error(b) || got[2] != wrapped {
		t.Fatalf("Leaves of a nested join: %v", got)
	}
	if got := catalog.Leaves(a); len(got) != 1 || got[0] != a {
		t.Fatalf("Leaves of a plain error: %v", got)
	}
	if got := catalog.Leaves(nil); got != nil {
		t.Fatalf("Leaves(nil) = %v", got)
	}
}

// TestReservedNamesAreRefused: no operator-set type or alias may take the
// namespace of Surge's operator events, so a sender can never post one.
func TestReservedNamesAreRefused(t *testing.T) {
	for _, et := range []catalog.EventType{
		{Name: "surge.endpoint.disabled"},
		{Name: "shop.thing", Aliases: []string{"surge.delivery.exhausted"}},
	} {
		err := et.Validate()
		if err == nil || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("%+v: %v, want it refused as reserved", et, err)
		}
	}
	if err := (catalog.EventType{Name: "surgery.booked"}).Validate(); err != nil {
		t.Errorf("surgery.booked is not in the namespace: %v", err)
	}
}
