package trace

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/topics"
)

// Topics are the topics trace reads, in pipeline order. The
// subscriptions table is read for the current state of the subscriptions
// the event was delivered to (paused, disabled, deleted, URL).
var Topics = []string{
	topics.EventsRaw,
	topics.EventsEnriched,
	topics.EventsDLQ,
	topics.Deliveries,
	topics.DeliveriesRetry,
	topics.DeliveryAttempts,
	topics.DeliveriesDLQ,
	topics.Subscriptions,
}

// plan is where each partition is read from and up to: only the
// topics and partitions with something to read are in ranges.
type plan struct {
	ranges  kafkax.Ranges
	missing []string
}

// planRead lists, for every topic, the end offsets (last stable offsets:
// reads are read_committed) and the offsets to start at: the first offset
// at or after from, or the log start when from is zero and for the
// subscriptions table (its current state is wanted, not its history).
func planRead(ctx context.Context, adm *kadm.Client, full []string, from time.Time, subsTopic string) (plan, error) {
	p := plan{ranges: kafkax.Ranges{}}
	ends, err := adm.ListCommittedOffsets(ctx, full...)
	if err != nil {
		return p, fmt.Errorf("listing end offsets: %w", err)
	}
	var present, timed []string
	for _, tp := range full {
		lo, ok := ends[tp]
		if !ok {
			p.missing = append(p.missing, tp)
			continue
		}
		if bad, ok := lo[-1]; ok && errors.Is(bad.Err, kerr.UnknownTopicOrPartition) {
			p.missing = append(p.missing, tp)
			continue
		}
		for _, o := range lo {
			if o.Err != nil {
				return p, fmt.Errorf("listing end offsets of %s/%d: %w", tp, o.Partition, o.Err)
			}
		}
		present = append(present, tp)
		if !from.IsZero() && tp != subsTopic {
			timed = append(timed, tp)
		}
	}
	if len(present) == 0 {
		return p, nil
	}
	starts, err := adm.ListStartOffsets(ctx, present...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return p, fmt.Errorf("listing start offsets: %w", err)
	}
	if len(timed) > 0 {
		after, err := adm.ListOffsetsAfterMilli(ctx, from.UnixMilli(), timed...)
		if err == nil {
			err = after.Error()
		}
		if err != nil {
			return p, fmt.Errorf("listing offsets at %s: %w", from.UTC().Format(time.RFC3339), err)
		}
		for tp, ps := range after {
			for part, o := range ps {
				if s, ok := starts[tp][part]; ok && o.Offset >= 0 {
					s.Offset = max(s.Offset, o.Offset)
					starts[tp][part] = s
				}
			}
		}
	}
	for _, tp := range present {
		for part, end := range ends[tp] {
			start := int64(0)
			if s, ok := starts[tp][part]; ok {
				start = s.Offset
			}
			if start >= end.Offset {
				continue // nothing after from
			}
			if p.ranges[tp] == nil {
				p.ranges[tp] = map[int32]kafkax.Range{}
			}
			p.ranges[tp][part] = kafkax.Range{From: start, End: end.Offset}
		}
	}
	return p, nil
}

// readPlan consumes every planned partition, all topics at once, to the
// end offsets of the plan, handing each data record to match.
func readPlan(ctx context.Context, opts []kgo.Opt, p plan, prog *progress, match func(context.Context, *kgo.Record)) error {
	rr := kafkax.RangeReader{
		Opts:        opts,
		Markers:     true, // counted as records read
		OnTopicDone: func(string) { prog.topicsDone(1) },
	}
	return rr.Read(ctx, p.ranges, func(r *kgo.Record) error {
		prog.record()
		if !r.Attrs.IsControl() {
			match(ctx, r)
		}
		return nil
	})
}
