package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/surgehq/surge/pkg/catalog"
)

// mixEntry is one event type of a --mix.
type mixEntry struct {
	Type   string  // as sent
	Entity string  // the entity type its events are about
	Weight float64 // relative
}

// loadMix is a parsed --mix: event types drawn in proportion to their
// weights.
type loadMix struct {
	entries []mixEntry
	cum     []float64 // running sum of the weights
}

// builtinTypes resolves a mix's event types to their entity types.
var builtinTypes = catalog.New(catalog.Builtin()...)

// parseMix reads "type=weight,type=weight". A type the built-in catalog
// knows (canonical or alias) takes its entity type from it; any other is
// taken to be about the entity its name starts with (a custom
// "cart.abandoned" is about a "cart"); ingest decides whether it accepts it.
func parseMix(s string) (loadMix, error) {
	var m loadMix
	seen := map[string]bool{}
	total := 0.0
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		typ, w, ok := strings.Cut(item, "=")
		typ = strings.TrimSpace(typ)
		if !ok || typ == "" || strings.ContainsAny(typ, " \t*") {
			return loadMix{}, fmt.Errorf("%q: want TYPE=WEIGHT, e.g. order.placed=40", item)
		}
		weight, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
		if err != nil || !(weight > 0) || math.IsInf(weight, 0) {
			return loadMix{}, fmt.Errorf("%q: the weight must be a positive number", item)
		}
		if seen[typ] {
			return loadMix{}, fmt.Errorf("%s is given twice", typ)
		}
		seen[typ] = true
		entity, _, _ := strings.Cut(typ, ".")
		if et, ok := builtinTypes.Lookup(typ); ok && et.EntityType != "" {
			entity = et.EntityType
		}
		total += weight
		m.entries = append(m.entries, mixEntry{Type: typ, Entity: entity, Weight: weight})
		m.cum = append(m.cum, total)
	}
	if len(m.entries) == 0 {
		return loadMix{}, errors.New("no event types; give TYPE=WEIGHT pairs, e.g. " + defaultLoadMix)
	}
	return m, nil
}

// pick draws an event type.
func (m loadMix) pick(rng *rand.Rand) mixEntry {
	x := rng.Float64() * m.cum[len(m.cum)-1]
	i := sort.Search(len(m.cum), func(i int) bool { return m.cum[i] > x })
	return m.entries[min(i, len(m.entries)-1)]
}

// String is the mix as shares of the events, for the report.
func (m loadMix) String() string {
	total := m.cum[len(m.cum)-1]
	parts := make([]string, len(m.entries))
	for i, e := range m.entries {
		parts[i] = fmt.Sprintf("%s %.0f%%", e.Type, 100*e.Weight/total)
	}
	return strings.Join(parts, ", ")
}

// workload says what a run sends, for the report.
func (c loadConfig) workload() string {
	dist := "uniform"
	if c.Skew != 0 {
		top := max(1, c.Entities/100)
		dist = fmt.Sprintf("Zipf S=%g: the hottest %d get %.0f%% of the events", c.Skew, top, 100*zipfShare(c.Entities, c.Skew, top))
	}
	return fmt.Sprintf("%d entities (%s); %s", c.Entities, dist, c.mix)
}

// zipfShare is the share of draws entityPicker gives its top entities.
func zipfShare(n int, s float64, top int) float64 {
	var head, all float64
	for k := 1; k <= n; k++ {
		p := math.Pow(float64(k), -s)
		all += p
		if k <= top {
			head += p
		}
	}
	return head / all
}

// entityPicker draws entity numbers in [0, n): uniformly when skew is 0,
// else from a Zipf distribution, entity k with probability proportional
// to 1/(k+1)^skew (skew > 1), so entity 0 is the hottest.
func entityPicker(rng *rand.Rand, n int, skew float64) func() int {
	if skew == 0 || n == 1 {
		return func() int { return rng.IntN(n) }
	}
	z := rand.NewZipf(rng, skew, 1, uint64(n-1))
	return func() int { return int(z.Uint64()) }
}

// loadGen makes request bodies; one per worker, not safe for concurrent
// use.
type loadGen struct {
	rng    *rand.Rand
	entity func() int
	mix    loadMix
	prefix string // before every entity id
}

func newLoadGen(c loadConfig, worker int, prefix string) *loadGen {
	rng := rand.New(rand.NewPCG(c.Seed, uint64(worker)))
	return &loadGen{rng: rng, entity: entityPicker(rng, c.Entities, c.Skew), mix: c.mix, prefix: prefix}
}

// body builds one request body of n events: a single event for 1, else
// a batch.
func (g *loadGen) body(n int) []byte {
	var b bytes.Buffer
	if n > 1 {
		b.WriteString(`{"events":[`)
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		t := g.mix.pick(g.rng)
		id := g.entity()
		fmt.Fprintf(&b, `{"type":%q,"entity":{"type":%q,"id":"%s%d"},"data":{"sku":"SKU-%d","qty":%d,"total":%d.%02d}}`,
			t.Type, t.Entity, g.prefix, id, id, g.rng.IntN(5)+1, g.rng.IntN(500), g.rng.IntN(100))
	}
	if n > 1 {
		b.WriteString(`]}`)
	}
	return b.Bytes()
}
