package inspect

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/kafkax"
)

// MaxRateRecords is the most records of each partition TopicRecords reads
// to count a window's records; past it the count is estimated.
const MaxRateRecords = 10000

// TopicRecords is how many records a topic took in a window.
type TopicRecords struct {
	Topic  string    `json:"topic"`
	Window string    `json:"window"`
	Since  time.Time `json:"since"`
	// Offsets are the offsets the window spans, summed over the
	// partitions: transaction markers take offsets too, so this overcounts
	// the records of a transactional writer by one per transaction.
	Offsets int64 `json:"offsets"`
	// Records are the records counted in the window. Estimated says a
	// partition spanned more than MaxRateRecords offsets: its newest
	// MaxRateRecords were read and the rest scaled by the records per
	// offset seen there.
	Records   int64 `json:"records"`
	Estimated bool  `json:"estimated"`
}

// TopicRecords counts the records of topic (the full name) from the first
// offset at or after now − window to the stable end of each partition.
// A topic that does not exist is an error the caller checks first with
// TopicExists.
func (in *Inspector) TopicRecords(ctx context.Context, topic string, window time.Duration, now time.Time) (*TopicRecords, error) {
	since := now.Add(-window)
	after, err := in.adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), topic)
	if err == nil {
		err = after.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing the offsets of %s after %s: %w", topic, since.Format(time.RFC3339), err)
	}
	out := &TopicRecords{Topic: topic, Window: window.String(), Since: since.UTC()}
	spans := map[int32]int64{} // partition → the offsets the window spans
	rs, err := in.ranges(ctx, topic, func(p int32, start, end int64) int64 {
		from := Offset(after, topic, p)
		if from < 0 || from > end {
			from = end
		}
		from = max(from, start)
		spans[p] = end - from
		out.Offsets += end - from
		return max(from, end-MaxRateRecords)
	})
	if err != nil {
		return nil, err
	}
	if rs == nil {
		return nil, fmt.Errorf("topic %s does not exist", topic)
	}
	counted := map[int32]int64{}
	err = kafkax.RangeReader{Opts: in.cfg.ClientOpts}.Read(ctx, rs, func(r *kgo.Record) error {
		counted[r.Partition]++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", topic, err)
	}
	for p, span := range spans {
		out.Records += scaleRecords(counted[p], min(span, MaxRateRecords), span)
		out.Estimated = out.Estimated || span > MaxRateRecords
	}
	return out, nil
}

// scaleRecords is the records of a span of offsets, estimated from the
// records counted in the read part of it: the whole span scaled by the
// records per offset read, or the count itself when all was read.
func scaleRecords(counted, read, span int64) int64 {
	if read >= span || read <= 0 {
		return counted
	}
	return (counted*span + read/2) / read
}

// TopicExists reports whether topic (the full name) exists.
func (in *Inspector) TopicExists(ctx context.Context, topic string) (bool, error) {
	meta, err := in.adm.ListTopics(ctx, topic)
	if err != nil {
		return false, fmt.Errorf("listing topic %s: %w", topic, err)
	}
	d, ok := meta[topic]
	return ok && d.Err == nil, nil
}
