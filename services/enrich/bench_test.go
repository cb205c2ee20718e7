package enrich_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/services/enrich"
)

const benchProduct = `{"sku":"24-MB01","name":"Joust Duffle Bag","price":34.0,"special_price":null,"status":"enabled","visibility":4,"categories":["gear","bags"],"qty":118,"weight":1.2,"description":"The sporty Joust Duffle Bag can't be beat.","updated_at":"2025-07-15T09:41:12Z"}`

// BenchmarkApply is the pure core: a three-field partial update merged
// into a product snapshot of eleven fields. "warm" is the steady state (the
// snapshot's fields are parsed already, as after the entity's previous
// event); "cold" parses the snapshot too, as after a restore.
func BenchmarkApply(b *testing.B) {
	et, _ := catalog.New(catalog.Builtin()...).Lookup("product.updated")
	first, err := enrich.Apply(enrich.Input{Event: rawEvent("ev-0", "product.updated", "product:24-MB01", benchProduct), Type: et, Now: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	ev := rawEvent("ev-1", "product.updated", "product:24-MB01", `{"price":29.0,"qty":117,"updated_at":"2025-07-15T10:00:00Z"}`)
	now := time.Now()
	for _, tc := range []struct {
		name string
		snap func() *enrich.Snapshot
	}{
		{"warm", func() *enrich.Snapshot { return first.Snapshot }},
		{"cold", func() *enrich.Snapshot {
			s := first.Snapshot
			return &enrich.Snapshot{Entity: s.Entity, Version: s.Version, Data: s.Data}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := enrich.Apply(enrich.Input{Event: ev, Type: et, Snapshot: tc.snap(), Now: now})
				if err != nil || len(res.Enriched) != 1 {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkEnrichKafka measures enrich end to end on kfake with snapshots
// on: b.N partial product updates over 10,000 products (three fields each,
// merged into the snapshot) are produced to commerce.events.raw first, then
// the timer runs from starting enrich until read_committed readers see
// every enriched event. Run it with a fixed count, e.g.
// -bench EnrichKafka -benchtime 100000x.
func BenchmarkEnrichKafka(b *testing.B) {
	h := newHarness(b, 6)
	const keys = 10000
	rs := make([]*kgo.Record, 0, b.N)
	for i := range b.N {
		data := benchProduct
		if i >= keys {
			data = `{"price":` + strconv.Itoa(i%100) + `.5,"qty":` + strconv.Itoa(i%500) + `,"updated_at":"2025-07-15T10:00:00Z"}`
		}
		rs = append(rs, h.record(rawEvent(idf("ev", i), "product.updated", "product:P"+strconv.Itoa(i%keys), data)))
	}
	h.Produce(rs...)
	out := h.Follow(topics.EventsEnriched)
	b.ResetTimer()
	cpu0 := kafkatest.CPUTime()
	start := time.Now()
	h.start("bench", enrich.Deps{})
	kafkatest.WaitFor(b, 10*time.Minute, "every event", func() bool { return out.Len() >= b.N })
	elapsed := time.Since(start)
	cpu := kafkatest.CPUTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	// CPU used by the whole process (enrich, kfake, the registry and the
	// reader) per event: less sensitive than events/s to other load on
	// the machine. 1e6 / this is events per second per core.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/event")
}
