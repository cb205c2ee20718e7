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

	"github.com/surgehq/surge/pkg/kafkax"
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

// scan reads spans of topic with read_committed and calls fn for every
// record, transaction markers included (r.Attrs.IsControl()), in offset
// order per partition; partitions interleave. It returns when every span
// was read, fn returned an error (errStop: nil), or ctx ended. tick, when
// set, is called after each fetch with the progress so far.
func (s *Service) scan(ctx context.Context, topic string, spans map[int32]span, fn func(*kgo.Record) error, tick func(Progress)) error {
	ranges := map[int32]kafkax.Range{}
	for p, sp := range spans {
		ranges[p] = kafkax.Range{From: sp.from, End: sp.end}
	}
	rr := kafkax.RangeReader{
		Opts:    append(slices.Clone(s.cfg.ClientOpts), kgo.FetchMaxWait(250*time.Millisecond)),
		Markers: true,
	}
	if tick != nil {
		rr.OnFetch = func(p kafkax.RangeProgress) { tick(Progress(p)) }
	}
	err := rr.Read(ctx, kafkax.Ranges{topic: ranges}, fn)
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}
