package filter

import (
	"strings"
	"testing"
)

func TestValidatePattern(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string // "" for a valid pattern
	}{
		{"*", ""},
		{"order.*", ""},
		{"order.placed", ""},
		{"order.item.*", ""},
		{"com.akeneo.pim.v1.product.*", ""},
		{"be-observer.catalog_product_update", ""},
		{"order", ""},
		{"", "is empty"},
		{"ord*er", "'*' may only be the whole pattern or its last word"},
		{"order*", "'*' may only be the whole pattern or its last word"},
		{"*.placed", "'*' may only be the whole pattern or its last word"},
		{"order.*.placed", "'*' may only be the whole pattern or its last word"},
		{"order.**", "'*' may only be the whole pattern or its last word"},
		{"order.", `ends with '.'; for every type under it write "order.*"`},
		{".*", "the prefix must be lower-case dotted words"},
		{"Order.placed", "the type name must be lower-case dotted words"},
		{"order..placed", "the type name must be lower-case dotted words"},
		{"order placed", "the type name must be lower-case dotted words"},
		{".order", "the type name must be lower-case dotted words"},
		{"ORDER.*", "the prefix must be lower-case dotted words"},
		{strings.Repeat("a", 131), "longer than 130 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := ValidatePattern(tt.in)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ValidatePattern(%q) = %v, want nil", tt.in, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("ValidatePattern(%q) = %v, want an error containing %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestTypesMatch(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		match    []string
		noMatch  []string
	}{
		{"everything", []string{"*"}, []string{"order.placed", "product.updated", "x"}, nil},
		{"everything and more", []string{"order.placed", "*"}, []string{"customer.deleted"}, nil},
		{"prefix", []string{"order.*"},
			[]string{"order.placed", "order.updated", "order.item.added"},
			[]string{"order", "orders.placed", "product.updated", "preorder.placed", ""}},
		{"exact", []string{"order.placed"},
			[]string{"order.placed"},
			[]string{"order.placed.v2", "order.placedx", "order.updated", "order"}},
		{"mixed", []string{"order.placed", "product.*", "stock.updated"},
			[]string{"order.placed", "product.updated", "product.deleted", "stock.updated"},
			[]string{"order.updated", "stock.reserved", "customer.deleted"}},
		{"deep prefix", []string{"com.akeneo.pim.v1.product.*"},
			[]string{"com.akeneo.pim.v1.product.deleted"},
			[]string{"com.akeneo.pim.v1.category.deleted"}},
		{"operator events only by name", []string{"*"}, []string{"surgery.booked"}, []string{"surge.endpoint.disabled", "surge.delivery.exhausted"}},
		{"operator events", []string{"surge.*"}, []string{"surge.endpoint.disabled", "surge.delivery.exhausted"}, []string{"order.placed"}},
		{"one operator event", []string{"*", "surge.endpoint.disabled"}, []string{"order.placed", "surge.endpoint.disabled"}, []string{"surge.delivery.exhausted"}},
		{"none", nil, nil, []string{"order.placed", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := CompileTypes(tt.patterns)
			if err != nil {
				t.Fatalf("CompileTypes(%q): %v", tt.patterns, err)
			}
			for _, typ := range tt.match {
				if !ts.Match(typ) {
					t.Errorf("%q does not match %q", tt.patterns, typ)
				}
			}
			for _, typ := range tt.noMatch {
				if ts.Match(typ) {
					t.Errorf("%q matches %q", tt.patterns, typ)
				}
			}
		})
	}
}

func TestCompileTypesErrors(t *testing.T) {
	_, err := CompileTypes([]string{"order.*", "ord*er", "product.updated", "order."})
	if err == nil {
		t.Fatal("CompileTypes accepted bad patterns")
	}
	for _, want := range []string{`"ord*er"`, `"order."`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "product.updated") {
		t.Errorf("error %q names a good pattern", err)
	}
}

func TestNilTypes(t *testing.T) {
	var ts *Types
	if ts.Match("order.placed") {
		t.Error("a nil *Types matched")
	}
	if (&Types{}).Match("order.placed") {
		t.Error("the zero Types matched")
	}
}
