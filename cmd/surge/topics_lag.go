package main

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkax"
)

// probe is what reading a partition from an offset to its stable end
// found: the offsets of the data records, leaving out transaction markers.
type probe struct {
	from    int64
	offsets []int64 // sorted
}

// maxProbe is the widest gap between a group's position and a
// partition's stable end that is read to count its records.
const maxProbe = 100

// groupLag is one group's position on one topic.
type groupLag struct {
	Group      string         `json:"group"`
	Stage      bool           `json:"stage"`           // the Surge stage that reads the topic
	State      string         `json:"state,omitempty"` // Stable, Empty, ...
	Members    *int           `json:"members,omitempty"`
	Committed  bool           `json:"committed"` // has a committed offset on some partition
	Lag        int64          `json:"lag"`
	Stalled    int            `json:"stalled_partitions"` // partitions whose lag is stalled (see stallOf)
	Partitions []partitionLag `json:"partitions,omitempty"`
}

type partitionLag struct {
	Partition int32      `json:"partition"`
	Committed *int64     `json:"committed"` // nil: none, the lag counts from the start
	Lag       int64      `json:"lag"`
	Stall     *stallMark `json:"stall,omitempty"` // set while the stage reports the partition stalled
}

// lag is group's position on topic. A partition's lag is the number of
// records from the group's committed offset (or the partition's start,
// where Surge's stages begin, if it has none) to the stable end. Every
// transaction leaves a commit marker that takes an offset but is no record,
// and a transactional consumer commits the offset after its last record,
// before the marker: so a gap of up to maxProbe offsets is read and its
// records counted, and a wider gap is the offset difference, a few
// markers over.
func (v *topicsView) lag(topic, group string) groupLag {
	gl := groupLag{Group: group, Stage: group == v.stage(topic), State: v.states[group]}
	if n, ok := v.members[group]; ok {
		gl.Members = &n
	}
	for _, p := range v.partitions(topic) {
		pos := v.position(topic, p, group)
		pl := partitionLag{Partition: p, Lag: v.records(topic, p, pos)}
		if o, ok := v.groups[group].Lookup(topic, p); ok && o.Err == nil && o.At >= 0 {
			at := o.At
			pl.Committed = &at
			gl.Committed = true
		}
		if pl.Stall = v.stallOf(topic, p, group, pl.Lag); pl.Stall != nil {
			gl.Stalled++
		}
		gl.Lag += pl.Lag
		gl.Partitions = append(gl.Partitions, pl)
	}
	return gl
}

// position is where group reads partition p of topic from: its committed
// offset, else the partition's start.
func (v *topicsView) position(topic string, p int32, group string) int64 {
	start := v.offset(v.starts, topic, p)
	if o, ok := v.groups[group].Lookup(topic, p); ok && o.Err == nil && o.At >= 0 {
		return max(o.At, start)
	}
	return start
}

// records counts the records from pos to the stable end.
func (v *topicsView) records(topic string, p int32, pos int64) int64 {
	end := v.offset(v.stable, topic, p)
	if pos >= end {
		return 0
	}
	if pr, ok := v.probed[topic][p]; ok && pos >= pr.from {
		i, _ := slices.BinarySearch(pr.offsets, pos)
		return int64(len(pr.offsets) - i)
	}
	return end - pos
}

// probeGaps reads every partition some group is at most maxProbe offsets
// behind on, from the lowest such position to the stable end, and keeps
// the offsets of its data records. It gives up quietly (the lag stays an
// offset difference) if that takes more than a few seconds.
func (v *topicsView) probeGaps(ctx context.Context, kafka config.Kafka) {
	from := map[string]map[int32]int64{}
	for _, topic := range v.meta.Names() {
		if v.only != "" && topic != v.only {
			continue
		}
		for _, group := range v.readers(topic) {
			for _, p := range v.partitions(topic) {
				pos := v.position(topic, p, group)
				if gap := v.offset(v.stable, topic, p) - pos; gap <= 0 || gap > maxProbe {
					continue
				}
				if from[topic] == nil {
					from[topic] = map[int32]int64{}
				}
				if f, ok := from[topic][p]; !ok || pos < f {
					from[topic][p] = pos
				}
			}
		}
	}
	if len(from) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	type tp struct {
		t string
		p int32
	}
	ranges := kafkax.Ranges{}
	found := map[tp][]int64{}
	for t, ps := range from {
		ranges[t] = map[int32]kafkax.Range{}
		for p, f := range ps {
			ranges[t][p] = kafkax.Range{From: f, End: v.offset(v.stable, t, p)}
		}
	}
	err := kafkax.RangeReader{Opts: kafkax.ClientOpts(kafka, nil)}.Read(ctx, ranges, func(r *kgo.Record) error {
		k := tp{r.Topic, r.Partition}
		found[k] = append(found[k], r.Offset)
		return nil
	})
	if err != nil {
		return
	}
	v.probed = map[string]map[int32]probe{}
	for t, ps := range from {
		v.probed[t] = map[int32]probe{}
		for p, f := range ps {
			v.probed[t][p] = probe{from: f, offsets: found[tp{t, p}]}
		}
	}
}
