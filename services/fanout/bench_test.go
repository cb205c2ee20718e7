package fanout_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/services/fanout"
)

// benchTypes are the event types of the benchmark: the built-in commerce
// types plus custom ones, 50 in all.
func benchTypes() []string {
	types := []string{"order.placed", "order.updated", "order.shipped", "order.cancelled", "product.updated", "product.deleted", "customer.updated", "stock.updated"}
	for i := len(types); i < 50; i++ {
		types = append(types, fmt.Sprintf("custom.type%02d", i))
	}
	return types
}

// BenchmarkFanoutKafka measures fanout end to end on kfake: b.N enriched
// events are produced to commerce.events.enriched first, then the timer
// runs from starting fanout until read_committed readers see every
// delivery. 100 subscriptions, two per event type over 50 types, so each
// event matches two by type; 10 of them have CEL filters (half of the
// events pass each). Run it with a fixed count, e.g.
// -bench FanoutKafka -benchtime 200000x.
func BenchmarkFanoutKafka(b *testing.B) {
	h := newHarness(b, 6)
	types := benchTypes()
	filtered := map[string]bool{}
	for i := range 100 {
		s := event.Subscription{ID: fmt.Sprintf("sub_%03d", i), EventTypes: []string{types[i%50]}, Enabled: true}
		if i%10 == 0 {
			s.Filter = `data.total > 100.0 && "total" in changes`
			filtered[s.ID] = true
		}
		h.subscribe(s)
	}
	events := make([]event.EnrichedEvent, 0, b.N)
	version := map[string]int64{}
	want := 0
	for i := range b.N {
		key := "order:O" + strconv.Itoa(i%10000)
		version[key]++
		typ := types[i%50]
		total := float64(i%200) + 0.5
		events = append(events, enrichedEvent(idf("ev", i), typ, key, version[key],
			fmt.Sprintf(`{"increment_id":"%d","status":"processing","total":%g,"currency":"EUR","customer_email":"c%d@example.com","items":[{"sku":"24-MB01","qty":1,"price":34.0}]}`, i, total, i%997)))
		// Two subscriptions per type: i%50 and i%50+50; subscriptions
		// 0, 10, 20, 30, 40 (and +50) filter on total > 100.
		for _, s := range []int{i % 50, i%50 + 50} {
			if !filtered[fmt.Sprintf("sub_%03d", s)] || total > 100 {
				want++
			}
		}
	}
	h.produce(events...)
	out := h.Follow(topics.Deliveries)
	b.ResetTimer()
	cpu0 := kafkatest.CPUTime()
	start := time.Now()
	h.start("bench", fanout.Deps{})
	kafkatest.WaitFor(b, 10*time.Minute, "every delivery", func() bool { return out.Len() >= want })
	elapsed := time.Since(start)
	cpu := kafkatest.CPUTime() - cpu0
	b.StopTimer()
	if got := out.Len(); got != want {
		b.Fatalf("%d deliveries, want %d", got, want)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/event")
}
