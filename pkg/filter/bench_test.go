package filter

import "testing"

func benchmarkMatch(b *testing.B, expr string, in *Body, want bool) {
	f, err := Compile(expr)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := f.Match(in)
		if err != nil || got != want {
			b.Fatalf("Match = %v, %v; want %v", got, err, want)
		}
	}
}

func BenchmarkMatchSimple(b *testing.B) {
	benchmarkMatch(b, `data.total > 100.0`, orderPlaced(b, 149.5), true)
}

func BenchmarkMatchCompound(b *testing.B) {
	benchmarkMatch(b, `type == "order.placed" && "status" in changes && data.total > 100.0`, orderPlaced(b, 149.5), true)
}

func BenchmarkMatchEntity(b *testing.B) {
	benchmarkMatch(b, `entity.type == "product" && data.qty < 5`, productLowStock(b, 3), true)
}

func BenchmarkTypesMatch(b *testing.B) {
	ts, err := CompileTypes([]string{"order.placed", "order.updated", "product.*", "stock.*", "customer.deleted"})
	if err != nil {
		b.Fatal(err)
	}
	types := []string{"order.placed", "stock.updated", "customer.updated", "com.akeneo.pim.v1.product.deleted"}
	want := []bool{true, true, false, false}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		j := i % len(types)
		if ts.Match(types[j]) != want[j] {
			b.Fatalf("Match(%q) != %v", types[j], want[j])
		}
		i++
	}
}
