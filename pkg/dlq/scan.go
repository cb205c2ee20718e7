package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// span is the offsets [from, end) of one partition to read.
type span struct{ from, end int64 }

// Progress is how far a reading has got: records (offsets, counting
// transaction markers) read of the total to read.
type Progress struct {
	Read    int64
	Total   int64
	Elapsed time.Duration
}

// errStop ends a scan early without an error.
var errStop = errors.New("stop scanning")

// bounds returns, per partition of topic, its first offset and its last
// stable offset (the end a read_committed reader sees).
func (s *Service) bounds(ctx context.Context, topic string) (map[int32]span, error) {
	starts, err := s.adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	var ends kadm.ListedOffsets
	if err == nil {
		ends, err = s.adm.ListCommittedOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, fmt.Errorf("topic %s does not exist (start surge dev or the services once to create it): %w", topic, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("listing the offsets of %s: %w", topic, err)
	}
	out := map[int32]span{}
	ends.Each(func(e kadm.ListedOffset) {
		sp := span{end: e.Offset}
		if st, ok := starts.Lookup(topic, e.Partition); ok {
			sp.from = st.Offset
		}
		out[e.Partition] = sp
	})
	return out, nil
}

// total is the number of offsets in spans.
func total(spans map[int32]span) int64 {
	var n int64
	for _, sp := range spans {
		if sp.end > sp.from {
			n += sp.end - sp.from
		}
	}
	return n
}

// scan reads spans of topic with read_committed and calls fn for every
// record, transaction markers included (r.Attrs.IsControl()), in offset
// order per partition; partitions interleave. It returns when every span
// was read, fn returned an error (errStop: nil), or ctx ended. tick, when
// set, is called after each fetch with the progress so far.
func (s *Service) scan(ctx context.Context, topic string, spans map[int32]span, fn func(*kgo.Record) error, tick func(Progress)) error {
	from := map[int32]kgo.Offset{}
	remaining := map[int32]int64{}
	pos := map[int32]int64{} // next offset per partition, for progress
	for p, sp := range spans {
		if sp.end > sp.from {
			from[p] = kgo.NewOffset().At(sp.from)
			remaining[p] = sp.end
			pos[p] = sp.from
		}
	}
	if len(remaining) == 0 {
		return nil
	}
	opts := append(slices.Clone(s.cfg.ClientOpts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("creating Kafka client: %w", err)
	}
	defer cl.Close()

	start := time.Now()
	all := total(spans)
	var read int64
	for len(remaining) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("reading %s/%d: %w", t, p, err))
		})
		if ferr != nil {
			return ferr
		}
		for _, r := range fetches.Records() {
			end, ok := remaining[r.Partition]
			if !ok || r.Offset >= end {
				continue // past the end of its span
			}
			read += r.Offset + 1 - pos[r.Partition]
			pos[r.Partition] = r.Offset + 1
			if r.Offset >= end-1 {
				delete(remaining, r.Partition)
			}
			if err := fn(r); err != nil {
				if errors.Is(err, errStop) {
					return nil
				}
				return err
			}
		}
		if tick != nil {
			tick(Progress{Read: read, Total: all, Elapsed: time.Since(start)})
		}
	}
	return nil
}
