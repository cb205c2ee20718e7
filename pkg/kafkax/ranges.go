package kafkax

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Range is the offsets of one partition to read: From up to End,
// exclusive. From is an offset, or LogStart.
type Range struct{ From, End int64 }

// LogStart as a Range's From reads from wherever the partition's log
// starts when the reading does (Kafka's "earliest").
const LogStart int64 = -2

// empty reports whether r has nothing to read.
func (r Range) empty() bool { return r.End <= max(r.From, 0) }

// Ranges are the ranges to read, by topic and partition.
type Ranges map[string]map[int32]Range

// RangeProgress is how far a reading has got: offsets passed (transaction
// markers and compaction gaps included) of all there are to pass. A
// LogStart range counts from offset 0.
type RangeProgress struct {
	Read    int64
	Total   int64
	Elapsed time.Duration
}

// RangeReader reads partitions up to end offsets fixed in advance, so a
// reading never chases records written meanwhile. A zero RangeReader
// reads with a client of no options; set Opts to ClientOpts.
//
// The end is reached by offsets, not by records: a partition is done once
// a record at or past End-1 arrives, whether a data record or a
// transaction marker (control records are always fetched, because a
// partition whose last offsets are a commit or abort marker, or aborted
// records hidden by read_committed, has no data record there), and a
// compaction gap before End-1 is stepped over. An empty range is never
// read. What franz-go cannot show is an end reached only by an empty
// batch (compaction emptied a producer's last batch, which Kafka keeps
// for its producer state): no record arrives, and such a reading ends with
// its ctx.
type RangeReader struct {
	// Opts are the reading client's options (ClientOpts and more); the
	// reader adds what to consume, the isolation level and
	// kgo.KeepControlRecords.
	Opts []kgo.Opt
	// ReadUncommitted reads open and aborted transactions' records too.
	// By default the reading is read_committed, and the ends should be
	// last stable offsets (what ListCommittedOffsets lists).
	ReadUncommitted bool
	// Markers hands transaction markers (r.Attrs.IsControl()) to the
	// record function as well; without, they only move the reading on.
	Markers bool
	// OnFetch, when set, is called after each fetch's records were
	// handed over, with the progress so far.
	OnFetch func(RangeProgress)
	// OnTopicDone, when set, is called once every range of a topic was
	// read, before the record that ended it is handed over.
	OnTopicDone func(topic string)
}

// Read reads ranges with a client of its own, closed when it returns,
// and calls fn for every record inside them, in offset order per
// partition; partitions and topics interleave. It returns nil once every
// range was read; fn's error, unwrapped, as soon as fn returns one; ctx's
// error if ctx ends first; and the fetch errors the client reports, each
// as "reading topic/partition: err".
func (rr RangeReader) Read(ctx context.Context, ranges Ranges, fn func(*kgo.Record) error) error {
	st := newRangeState(ranges)
	if len(st.ends) == 0 {
		return nil
	}
	isolation := kgo.ReadCommitted()
	if rr.ReadUncommitted {
		isolation = kgo.ReadUncommitted()
	}
	cl, err := kgo.NewClient(append(slices.Clone(rr.Opts),
		kgo.ConsumePartitions(st.from),
		kgo.FetchIsolationLevel(isolation),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return fmt.Errorf("creating Kafka client: %w", err)
	}
	defer cl.Close()
	start := time.Now()
	for len(st.ends) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if fetches.IsClientClosed() {
			return errClientClosed
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("reading %s/%d: %w", t, p, err))
		})
		if ferr != nil {
			return ferr
		}
		for _, r := range fetches.Records() {
			if !st.take(r, rr.OnTopicDone) || (r.Attrs.IsControl() && !rr.Markers) {
				continue
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if rr.OnFetch != nil {
			rr.OnFetch(RangeProgress{Read: st.read, Total: st.total, Elapsed: time.Since(start)})
		}
	}
	return nil
}

// errClientClosed is a reading's error when its client was closed.
var errClientClosed = errors.New("client closed")

// CatchUp reads from cl, which must consume topic with read_committed and
// kgo.KeepControlRecords, handing every data record to fn, until each
// partition reaches the last stable offset it had when CatchUp was called.
// Control records (transaction markers) are skipped but counted as
// progress, so a topic ending in a marker is still "reached" (as with
// RangeReader). Unlike a RangeReader's reading, every data record fetched
// is handed over, also those past the end (the last fetch's), and fetch
// errors are left to the client to retry: the client stays usable to tail
// the topic afterwards, from where the reading left it.
func CatchUp(ctx context.Context, cl *kgo.Client, topic string, fn func(*kgo.Record)) error {
	ends, err := EndOffsets(ctx, kadm.NewClient(cl), topic, true)
	if err != nil {
		return err
	}
	ranges := map[int32]Range{}
	for p, end := range ends {
		ranges[p] = Range{From: LogStart, End: end}
	}
	st := newRangeState(Ranges{topic: ranges})
	for len(st.ends) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %s to its end: %w", topic, err)
		}
		if fetches.IsClientClosed() {
			return fmt.Errorf("reading %s to its end: %w", topic, errClientClosed)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				fn(r)
			}
			st.take(r, nil)
		})
	}
	return nil
}

// rangeState is what is left of a reading of ranges.
type rangeState struct {
	from  map[string]map[int32]kgo.Offset
	ends  map[string]map[int32]int64 // topic → partition → end, of the ranges not read yet
	next  map[string]map[int32]int64 // the next offset of each range, for progress
	read  int64
	total int64
}

// newRangeState leaves out the empty ranges, and the topics that have
// only empty ranges.
func newRangeState(ranges Ranges) *rangeState {
	st := &rangeState{from: map[string]map[int32]kgo.Offset{}, ends: map[string]map[int32]int64{}, next: map[string]map[int32]int64{}}
	for t, parts := range ranges {
		for p, r := range parts {
			if r.empty() {
				continue
			}
			if st.ends[t] == nil {
				st.from[t], st.ends[t], st.next[t] = map[int32]kgo.Offset{}, map[int32]int64{}, map[int32]int64{}
			}
			st.from[t][p] = kgo.NewOffset().At(r.From)
			st.ends[t][p] = r.End
			st.next[t][p] = max(r.From, 0)
			st.total += r.End - max(r.From, 0)
		}
	}
	return st
}

// take counts r against its range and reports whether it is inside one
// still being read. A record at or past its range's last offset ends the
// range (and, when it was the topic's last, calls topicDone), so a
// compaction gap over the last offset ends it at the next record written.
func (st *rangeState) take(r *kgo.Record, topicDone func(string)) bool {
	parts, ok := st.ends[r.Topic]
	if !ok {
		return false
	}
	end, ok := parts[r.Partition]
	if !ok {
		return false
	}
	next := st.next[r.Topic]
	st.read += min(r.Offset+1, end) - next[r.Partition]
	next[r.Partition] = r.Offset + 1
	if r.Offset >= end-1 {
		delete(parts, r.Partition)
		if len(parts) == 0 {
			delete(st.ends, r.Topic)
			if topicDone != nil {
				topicDone(r.Topic)
			}
		}
	}
	return r.Offset < end // past the end seen at start: not read
}
