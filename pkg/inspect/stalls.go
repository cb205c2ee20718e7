package inspect

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/stream"
)

// How a stage's lag is known to be stalled. Whoever reads the lag (`surge
// topics`, the admin API) is a separate process that does not know where
// the stages run, so it cannot ask their /readyz or /metrics. Nor can it
// tell from the committed offsets alone: a partition whose offset stands
// still while it has lag may be waiting by design (a key parked for hours
// on the dispatcher's retry topic, a paused subscription), and judging
// "stands still" would take two reads a stall bound apart. So the stage
// that owns a partition, which knows both its reason and its bound, writes
// the verdict to commerce.stalls when the partition stalls, and a
// tombstone when it moves again (pkg/stream StallReporter); the reader
// reads that topic to its end. A record is believed only while the group's
// committed position has not passed the stall's offset, so the record of
// an instance killed mid-stall stops counting as soon as any instance
// moves the partition on.

// StallMark is a partition's stall as the lag shows it.
type StallMark struct {
	Offset     int64     `json:"offset"`
	Reason     string    `json:"reason"`
	Since      time.Time `json:"since"`
	DetectedAt time.Time `json:"detected_at"`
	StallAfter string    `json:"stall_after"`
	Instance   string    `json:"instance,omitempty"`
}

// StallOf is the stall of group on partition p of topic, if one is
// recorded, the group has not moved past it and it still has lag there.
func (o *Offsets) StallOf(topic string, p int32, group string, lag int64) *StallMark {
	s, ok := o.Stalls[stream.StallKey(group, topic, p)]
	if !ok || lag == 0 || o.Position(topic, p, group) > s.Offset {
		return nil
	}
	return &StallMark{Offset: s.Offset, Reason: s.Reason, Since: s.Since.UTC(), DetectedAt: s.DetectedAt.UTC(), StallAfter: s.After.String(), Instance: s.Instance}
}

// ReadStalls reads commerce.stalls (topic, with its prefix) to its end.
func ReadStalls(ctx context.Context, opts []kgo.Opt, reg *avroserde.Registry, topic string) (map[string]stream.Stall, error) {
	return ReadTable(ctx, opts, topic, stream.NewStallCodec(reg, topic))
}

// readTableTimeout bounds ReadTable.
const readTableTimeout = 10 * time.Second

// ReadTable reads the compacted topic, whose values codec decodes, to its
// end: the last value of each key, tombstones removing it. Call it only
// for a topic that exists.
func ReadTable[V any](ctx context.Context, opts []kgo.Opt, topic string, codec *avroserde.Codec[V]) (map[string]V, error) {
	out := map[string]V{}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return nil, fmt.Errorf("creating a reader of %s: %w", topic, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, readTableTimeout)
	defer cancel()
	var decodeErr error
	err = kafkax.CatchUp(ctx, cl, topic, func(r *kgo.Record) {
		if r.Value == nil {
			delete(out, string(r.Key))
			return
		}
		v, err := codec.Decode(ctx, r.Value)
		if err != nil {
			decodeErr = fmt.Errorf("decoding %s at offset %d (is the registry the stages' registry?): %w", topic, r.Offset, err)
			return
		}
		out[string(r.Key)] = v
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
