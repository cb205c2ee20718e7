package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// How `surge topics` knows a stage's lag is stalled. It is a separate
// process that does not know where the stages run (one `surge dev`, or
// many instances of each stage on other machines), so it cannot ask their
// /readyz or /metrics. Nor can it tell from the committed offsets alone:
// a partition whose offset stands still while it has lag may be waiting
// by design (a key parked for hours on the dispatcher's retry topic, a
// paused subscription), and judging "stands still" would take two reads
// --stall-after apart. So the stage that owns a partition, which knows both
// its reason and its bound, writes the verdict to commerce.stalls when the
// partition stalls, and a tombstone when it moves again (pkg/stream
// StallReporter); `surge topics` reads that topic to its end. A record is
// believed only while the group's committed position has not passed the
// stall's offset, so the record of an instance killed mid-stall stops
// counting as soon as any instance moves the partition on.

// stallMark is a partition's stall as `surge topics` shows it.
type stallMark struct {
	Offset     int64     `json:"offset"`
	Reason     string    `json:"reason"`
	Since      time.Time `json:"since"`
	DetectedAt time.Time `json:"detected_at"`
	StallAfter string    `json:"stall_after"`
	Instance   string    `json:"instance,omitempty"`
}

// readStalls reads commerce.stalls to its end: the last record of each
// key, tombstones removing it. A missing topic means no stalls.
func readStalls(ctx context.Context, kafka config.Kafka, registryURL string, exists bool) (map[string]stream.Stall, error) {
	return readReports(ctx, kafka, registryURL, topics.Stalls, exists, stream.NewStallCodec)
}

// readReports reads the compacted topic base (without the prefix), whose
// values newCodec decodes, to its end: the last value of each key,
// tombstones removing it. A topic that does not exist holds nothing.
func readReports[V any](ctx context.Context, kafka config.Kafka, registryURL, base string, exists bool,
	newCodec func(*avroserde.Registry, string) *avroserde.Codec[V]) (map[string]V, error) {
	topic := topics.Namer{Prefix: kafka.TopicPrefix}.Name(base)
	out := map[string]V{}
	if !exists {
		return out, nil
	}
	reg, err := avroserde.Connect(registryURL)
	if err != nil {
		return nil, err
	}
	codec := newCodec(reg, topic)
	cl, err := kgo.NewClient(kafkax.ClientOpts(kafka, nil,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return nil, fmt.Errorf("creating a reader of %s: %w", topic, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var decodeErr error
	err = kafkax.CatchUp(ctx, cl, topic, func(r *kgo.Record) {
		if r.Value == nil {
			delete(out, string(r.Key))
			return
		}
		v, err := codec.Decode(ctx, r.Value)
		if err != nil {
			decodeErr = fmt.Errorf("decoding %s at offset %d (is --registry the stages' registry?): %w", topic, r.Offset, err)
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

// stallOf is the stall of group on partition p of topic, if one is
// recorded, the group has not moved past it and it still has lag there.
func (v *topicsView) stallOf(topic string, p int32, group string, lag int64) *stallMark {
	s, ok := v.stalls[stream.StallKey(group, topic, p)]
	if !ok || lag == 0 || v.position(topic, p, group) > s.Offset {
		return nil
	}
	return &stallMark{Offset: s.Offset, Reason: s.Reason, Since: s.Since.UTC(), DetectedAt: s.DetectedAt.UTC(), StallAfter: s.After.String(), Instance: s.Instance}
}
