package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseMix(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []mixEntry
		wantErr string
	}{
		{
			name: "canonical types take the catalog's entity type",
			in:   "order.placed=40, order.updated=30,product.updated=20,stock.updated=10",
			want: []mixEntry{
				{"order.placed", "order", 40}, {"order.updated", "order", 30},
				{"product.updated", "product", 20}, {"stock.updated", "stock", 10},
			},
		},
		{
			name: "aliases and inventory types resolve through the catalog",
			in:   "be-observer.catalog_product_update=1,inventory.reserved=2.5,stock.adjusted=1",
			want: []mixEntry{
				{"be-observer.catalog_product_update", "product", 1},
				{"inventory.reserved", "stock", 2.5},
				{"stock.adjusted", "stock", 1},
			},
		},
		{
			name: "an unknown type is about the entity its name starts with",
			in:   "cart.abandoned=1",
			want: []mixEntry{{"cart.abandoned", "cart", 1}},
		},
		{name: "the default parses", in: defaultLoadMix},
		{name: "empty", in: " , ", wantErr: "no event types"},
		{name: "no weight", in: "order.placed", wantErr: "want TYPE=WEIGHT"},
		{name: "no type", in: "=3", wantErr: "want TYPE=WEIGHT"},
		{name: "a pattern is not a type", in: "order.*=3", wantErr: "want TYPE=WEIGHT"},
		{name: "zero weight", in: "order.placed=0", wantErr: "positive number"},
		{name: "negative weight", in: "order.placed=-1", wantErr: "positive number"},
		{name: "not a number", in: "order.placed=lots", wantErr: "positive number"},
		{name: "NaN", in: "order.placed=NaN", wantErr: "positive number"},
		{name: "twice", in: "order.placed=1,order.placed=2", wantErr: "given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMix(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				return
			}
			if len(got.entries) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got.entries, tc.want)
			}
			for i := range tc.want {
				if got.entries[i] != tc.want[i] {
					t.Errorf("entry %d: got %+v, want %+v", i, got.entries[i], tc.want[i])
				}
			}
		})
	}
}

func TestMixPickFollowsTheWeights(t *testing.T) {
	m, err := parseMix("order.placed=40,order.updated=30,product.updated=20,stock.updated=10")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	const n = 200_000
	counts := map[string]int{}
	for range n {
		counts[m.pick(rng).Type]++
	}
	for _, e := range m.entries {
		got := float64(counts[e.Type]) / n
		if want := e.Weight / 100; math.Abs(got-want) > 0.01 {
			t.Errorf("%s: %.3f of the events, want %.2f", e.Type, got, want)
		}
	}
	if s := m.String(); s != "order.placed 40%, order.updated 30%, product.updated 20%, stock.updated 10%" {
		t.Errorf("String() = %q", s)
	}
}

func TestEntityPicker(t *testing.T) {
	const n, draws = 1000, 400_000
	sample := func(skew float64) []int {
		pick := entityPicker(rand.New(rand.NewPCG(1, 2)), n, skew)
		counts := make([]int, n)
		for range draws {
			k := pick()
			if k < 0 || k >= n {
				t.Fatalf("skew %g: drew %d, outside [0,%d)", skew, k, n)
			}
			counts[k]++
		}
		return counts
	}

	t.Run("zipf", func(t *testing.T) {
		const s = 1.2
		counts := sample(s)
		// P(k) ∝ 1/(k+1)^s: entity 0 over entity 9 is 10^s ≈ 15.8.
		ratio := float64(counts[0]) / float64(counts[9])
		if want := math.Pow(10, s); math.Abs(ratio-want)/want > 0.1 {
			t.Errorf("entity 0 drawn %.1f× as often as entity 9, want %.1f×", ratio, want)
		}
		top := 0
		for _, c := range counts[:n/100] {
			top += c
		}
		got, want := float64(top)/draws, zipfShare(n, s, n/100)
		if math.Abs(got-want) > 0.01 {
			t.Errorf("the hottest 1%% got %.3f of the draws, want %.3f", got, want)
		}
		if want < 0.4 || want > 0.6 {
			t.Errorf("zipfShare(1000, 1.2, 10) = %.3f; the help text says about half", want)
		}
	})

	t.Run("uniform", func(t *testing.T) {
		counts := sample(0)
		lo, hi := draws, 0
		for _, c := range counts {
			lo, hi = min(lo, c), max(hi, c)
		}
		// 400 expected per entity; 6 standard deviations is ±120.
		if lo < 280 || hi > 520 {
			t.Errorf("uniform draws per entity between %d and %d, want all near %d", lo, hi, draws/n)
		}
	})

	t.Run("one entity", func(t *testing.T) {
		pick := entityPicker(rand.New(rand.NewPCG(1, 2)), 1, 1.5)
		for range 100 {
			if k := pick(); k != 0 {
				t.Fatalf("drew %d of one entity", k)
			}
		}
	})
}

func TestLoadValidate(t *testing.T) {
	base := func() loadConfig {
		return loadConfig{Rate: "100", Duration: 1e9, Entities: 10, Batch: 1, Concurrency: 1, Mix: defaultLoadMix}
	}
	for _, tc := range []struct {
		name    string
		edit    func(*loadConfig)
		wantErr string
	}{
		{"defaults", func(*loadConfig) {}, ""},
		{"zipf", func(c *loadConfig) { c.Skew = 1.01 }, ""},
		{"skew 1 has no Zipf", func(c *loadConfig) { c.Skew = 1 }, "--skew must be 0"},
		{"negative skew", func(c *loadConfig) { c.Skew = -2 }, "--skew must be 0"},
		{"infinite skew", func(c *loadConfig) { c.Skew = math.Inf(1) }, "--skew must be 0"},
		{"bad mix", func(c *loadConfig) { c.Mix = "order.placed" }, "--mix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			err := c.validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadBody(t *testing.T) {
	c := loadConfig{Entities: 50, Skew: 1.5, Mix: "order.placed=1,stock.updated=1", Seed: 3}
	mix, err := parseMix(c.Mix)
	if err != nil {
		t.Fatal(err)
	}
	c.mix = mix
	gen := newLoadGen(c, 0, "run1-")

	var single struct {
		Type   string `json:"type"`
		Entity struct{ Type, ID string }
	}
	if err := json.Unmarshal(gen.body(1), &single); err != nil {
		t.Fatalf("a single event is not JSON: %v", err)
	}
	var batch struct {
		Events []struct {
			Type   string `json:"type"`
			Entity struct {
				Type string `json:"type"`
				ID   string `json:"id"`
			} `json:"entity"`
			Data map[string]any `json:"data"`
		} `json:"events"`
	}
	if err := json.Unmarshal(gen.body(500), &batch); err != nil {
		t.Fatalf("a batch is not JSON: %v", err)
	}
	if len(batch.Events) != 500 {
		t.Fatalf("batch of %d events, want 500", len(batch.Events))
	}
	for _, ev := range batch.Events {
		want := map[string]string{"order.placed": "order", "stock.updated": "stock"}[ev.Type]
		if want == "" || ev.Entity.Type != want {
			t.Fatalf("event %s about a %s", ev.Type, ev.Entity.Type)
		}
		if !strings.HasPrefix(ev.Entity.ID, "run1-") {
			t.Fatalf("entity id %q lacks the run prefix", ev.Entity.ID)
		}
		if _, ok := ev.Data["total"]; !ok {
			t.Fatalf("event without data.total: %v", ev.Data)
		}
	}
}
