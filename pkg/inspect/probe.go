package inspect

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/kafkax"
)

// MaxProbe is the widest gap between a group's position and a
// partition's stable end that Probe reads to count its records.
const MaxProbe = 100

// probeTimeout bounds Probe's read; past it the lags stay offset
// differences.
const probeTimeout = 5 * time.Second

// probe is what reading a partition from an offset to its stable end
// found: the offsets of the data records, leaving out transaction markers.
type probe struct {
	from    int64
	offsets []int64 // sorted
}

// Probe reads every partition of readers' topics (topic → groups) that
// some group is at most MaxProbe offsets behind on, from the lowest such
// position to the stable end, and keeps the offsets of its data records
// so Lag counts records rather than offsets there. It gives up quietly
// (the lags stay offset differences) if that takes more than a few
// seconds. opts are the Kafka client's options.
func (o *Offsets) Probe(ctx context.Context, opts []kgo.Opt, readers map[string][]string) {
	from := map[string]map[int32]int64{}
	for topic, groups := range readers {
		for _, group := range groups {
			for _, p := range o.Partitions[topic] {
				pos := o.Position(topic, p, group)
				if gap := Offset(o.Stable, topic, p) - pos; gap <= 0 || gap > MaxProbe {
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
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
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
			ranges[t][p] = kafkax.Range{From: f, End: Offset(o.Stable, t, p)}
		}
	}
	err := kafkax.RangeReader{Opts: opts}.Read(ctx, ranges, func(r *kgo.Record) error {
		k := tp{r.Topic, r.Partition}
		found[k] = append(found[k], r.Offset)
		return nil
	})
	if err != nil {
		return
	}
	o.probed = map[string]map[int32]probe{}
	for t, ps := range from {
		o.probed[t] = map[int32]probe{}
		for p, f := range ps {
			offs := found[tp{t, p}]
			slices.Sort(offs)
			o.probed[t][p] = probe{from: f, offsets: offs}
		}
	}
}
