package avroserde

import (
	"testing"

	"github.com/surgehq/surge/pkg/event"
)

// TestFastAllocs pins the allocations of the fast paths: none to encode
// into a buffer that is large enough, and to decode one per non-empty
// string, JSON value, list and set optional time, two per small map.
func TestFastAllocs(t *testing.T) {
	tests := []struct {
		name         string
		encode       func([]byte) []byte
		decode       func([]byte) error
		decodeAllocs float64
	}{
		{
			name:   "event",
			encode: func(b []byte) []byte { return event.AppendEventAvro(b, sampleEventValue) },
			decode: func(b []byte) error { _, err := event.EventFromAvro(b); return err },
			// 9 strings, data, attributes (a small map takes 2, its
			// entry 2 strings), origin (3 non-empty strings)
			decodeAllocs: 9 + 1 + 2 + 2 + 3,
		},
		{
			name:   "enriched",
			encode: func(b []byte) []byte { return event.AppendEnrichedEventAvro(b, sampleEnrichedValue) },
			decode: func(b []byte) error { _, err := event.EnrichedEventFromAvro(b); return err },
			// 6 strings, data, changes and flags (lists and 1 string each),
			// attributes (map and entry), warnings (list and one record of
			// 3 strings), origin (5 strings)
			decodeAllocs: 6 + 1 + 2*2 + 2 + 2 + 1 + 3 + 5,
		},
		{
			name:   "delivery",
			encode: func(b []byte) []byte { return event.AppendDeliveryAvro(b, sampleDeliveryValue) },
			decode: func(b []byte) error { _, err := event.DeliveryFromAvro(b); return err },
			// 7 strings, body, 3 optional times
			decodeAllocs: 7 + 1 + 3,
		},
		{
			name:   "attempt",
			encode: func(b []byte) []byte { return event.AppendDeliveryAttemptAvro(b, sampleAttemptValue) },
			decode: func(b []byte) error { _, err := event.DeliveryAttemptFromAvro(b); return err },
			// 10 strings, response headers (map and entry), 1 optional time
			decodeAllocs: 10 + 2 + 2 + 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := make([]byte, 0, 4096)
			if n := testing.AllocsPerRun(100, func() { buf = tt.encode(buf[:0]) }); n != 0 {
				t.Errorf("encoding: %v allocations, want 0", n)
			}
			b := tt.encode(nil)
			if n := testing.AllocsPerRun(100, func() {
				if err := tt.decode(b); err != nil {
					t.Fatal(err)
				}
			}); n > tt.decodeAllocs {
				t.Errorf("decoding: %v allocations, want at most %v", n, tt.decodeAllocs)
			}
		})
	}
}
