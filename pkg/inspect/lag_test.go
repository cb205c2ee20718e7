package inspect

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/surgehq/surge/pkg/stream"
)

func listed(topic string, offs map[int32]int64) kadm.ListedOffsets {
	l := kadm.ListedOffsets{topic: {}}
	for p, o := range offs {
		l[topic][p] = kadm.ListedOffset{Topic: topic, Partition: p, Offset: o}
	}
	return l
}

// Lag counts from the committed offset (or the start) to the stable end,
// counts records rather than offsets where a probe read them, and marks a
// stall only while the group has not moved past it and has lag there.
func TestLag(t *testing.T) {
	const topic, group = "commerce.events.raw", "surge-enrich"
	committed := kadm.OffsetResponses{topic: {
		0: {Offset: kadm.Offset{Topic: topic, Partition: 0, At: 40}},
		2: {Offset: kadm.Offset{Topic: topic, Partition: 2, At: 90}},
	}}
	o := &Offsets{
		Partitions: map[string][]int32{topic: {0, 1, 2}},
		Starts:     listed(topic, map[int32]int64{0: 0, 1: 5, 2: 0}),
		Stable:     listed(topic, map[int32]int64{0: 50, 1: 25, 2: 90}),
		Committed:  map[string]kadm.OffsetResponses{group: committed},
		States:     map[string]string{group: "Stable"},
		Stalls: map[string]stream.Stall{
			stream.StallKey(group, topic, 0): {Offset: 40, Reason: "loader timeout", After: time.Minute},
			stream.StallKey(group, topic, 2): {Offset: 80, Reason: "moved on since"},
		},
		// Partition 0 was read: of offsets 40..49 only 40, 42, 44 are
		// records (the rest transaction markers).
		probed: map[string]map[int32]probe{topic: {0: {from: 40, offsets: []int64{40, 42, 44}}}},
	}
	gl := o.Lag(topic, group, true)
	if gl.Lag != 3+20 || !gl.Committed || gl.State != "Stable" || gl.Stalled != 1 || len(gl.Partitions) != 3 {
		t.Fatalf("Lag = %+v", gl)
	}
	p0, p1, p2 := gl.Partitions[0], gl.Partitions[1], gl.Partitions[2]
	if p0.Lag != 3 || p0.Committed == nil || *p0.Committed != 40 || p0.Stall == nil || p0.Stall.Reason != "loader timeout" || p0.Stall.StallAfter != "1m0s" {
		t.Errorf("partition 0 = %+v (stall %+v)", p0, p0.Stall)
	}
	if p1.Lag != 20 || p1.Committed != nil || p1.Stall != nil {
		t.Errorf("partition 1 (no commit: from its start 5 to 25) = %+v", p1)
	}
	if p2.Lag != 0 || p2.Stall != nil {
		t.Errorf("partition 2 (moved past its stall, no lag) = %+v", p2)
	}
}
