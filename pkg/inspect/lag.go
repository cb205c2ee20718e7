package inspect

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/surgehq/surge/pkg/stream"
)

// GroupLag is one consumer group's position on one topic.
type GroupLag struct {
	Group      string         `json:"group"`
	Stage      bool           `json:"stage"`           // the Surge stage that reads the topic
	State      string         `json:"state,omitempty"` // Stable, Empty, ...
	Members    *int           `json:"members,omitempty"`
	Committed  bool           `json:"committed"` // has a committed offset on some partition
	Lag        int64          `json:"lag"`
	Stalled    int            `json:"stalled_partitions"` // partitions whose lag is stalled (see StallOf)
	Partitions []PartitionLag `json:"partitions,omitempty"`
}

// PartitionLag is a group's lag on one partition.
type PartitionLag struct {
	Partition int32      `json:"partition"`
	Committed *int64     `json:"committed"` // nil: none, the lag counts from the start
	Lag       int64      `json:"lag"`
	Stall     *StallMark `json:"stall,omitempty"` // set while the stage reports the partition stalled
}

// Offsets is what lags are computed from, read once from the cluster.
// Partitions, Starts, Stable and Committed are needed; States, Members and
// Stalls only add to what a GroupLag says.
type Offsets struct {
	Partitions map[string][]int32              // topic → its partitions, sorted
	Starts     kadm.ListedOffsets              // log start offsets
	Stable     kadm.ListedOffsets              // last stable offsets: read_committed's end
	Committed  map[string]kadm.OffsetResponses // group → committed offsets
	States     map[string]string               // group → state, if listed
	Members    map[string]int                  // group → members, if described
	// Stalls are the stages' stall reports by stream.StallKey.
	Stalls map[string]stream.Stall

	probed map[string]map[int32]probe // small gaps read record by record (Probe)
}

// Lag is group's position on topic; stage says the group is the Surge
// stage that reads it. A partition's lag is the number of records from
// the group's committed offset (or the partition's start, where Surge's
// stages begin, if it has none) to the stable end. Every transaction
// leaves a commit marker that takes an offset but is no record, and a
// transactional consumer commits the offset after its last record, before
// the marker: so after Probe a gap of up to MaxProbe offsets counts its
// records, and a wider gap is the offset difference, a few markers over.
func (o *Offsets) Lag(topic, group string, stage bool) GroupLag {
	gl := GroupLag{Group: group, Stage: stage, State: o.States[group]}
	if n, ok := o.Members[group]; ok {
		gl.Members = &n
	}
	for _, p := range o.Partitions[topic] {
		pos := o.Position(topic, p, group)
		pl := PartitionLag{Partition: p, Lag: o.records(topic, p, pos)}
		if c, ok := o.Committed[group].Lookup(topic, p); ok && c.Err == nil && c.At >= 0 {
			at := c.At
			pl.Committed = &at
			gl.Committed = true
		}
		if pl.Stall = o.StallOf(topic, p, group, pl.Lag); pl.Stall != nil {
			gl.Stalled++
		}
		gl.Lag += pl.Lag
		gl.Partitions = append(gl.Partitions, pl)
	}
	return gl
}

// Position is where group reads partition p of topic from: its committed
// offset, else the partition's start.
func (o *Offsets) Position(topic string, p int32, group string) int64 {
	start := Offset(o.Starts, topic, p)
	if c, ok := o.Committed[group].Lookup(topic, p); ok && c.Err == nil && c.At >= 0 {
		return max(c.At, start)
	}
	return start
}

// records counts the records from pos to the stable end.
func (o *Offsets) records(topic string, p int32, pos int64) int64 {
	end := Offset(o.Stable, topic, p)
	if pos >= end {
		return 0
	}
	if pr, ok := o.probed[topic][p]; ok && pos >= pr.from {
		i, _ := slices.BinarySearch(pr.offsets, pos)
		return int64(len(pr.offsets) - i)
	}
	return end - pos
}

// Offset is the offset listed for partition p of topic, 0 if none.
func Offset(l kadm.ListedOffsets, topic string, p int32) int64 {
	if lo, ok := l.Lookup(topic, p); ok && lo.Err == nil {
		return lo.Offset
	}
	return 0
}
