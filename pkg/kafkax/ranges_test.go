package kafkax

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/config"
)

// rec is a record at offset o of topic t, partition p. The bookkeeping
// of a reading does not look at what a record is: a transaction marker
// (the offsets the cases call markers) ends a range as a data record does.
func rec(t string, p int32, o int64) *kgo.Record {
	return &kgo.Record{Topic: t, Partition: p, Offset: o}
}

func configFor(brokers []string) config.Kafka { return config.Kafka{Brokers: brokers} }

// The ends are reached by offsets, whatever records carry them.
func TestRangeStateReachesEndsByOffsets(t *testing.T) {
	cases := []struct {
		name    string
		ranges  Ranges
		records []*kgo.Record
		inside  []bool // take's answer per record
		done    bool   // every range read after the records
		read    int64
	}{
		{
			name:    "data records to the end",
			ranges:  Ranges{"a": {0: {From: 3, End: 6}}},
			records: []*kgo.Record{rec("a", 0, 3), rec("a", 0, 4), rec("a", 0, 5)},
			inside:  []bool{true, true, true},
			done:    true, read: 3,
		},
		{
			name:    "a commit marker is the last offset",
			ranges:  Ranges{"a": {0: {From: 0, End: 3}}},
			records: []*kgo.Record{rec("a", 0, 0), rec("a", 0, 1), rec("a", 0, 2) /* marker */},
			inside:  []bool{true, true, true},
			done:    true, read: 3,
		},
		{
			name:    "a compaction gap before the end is stepped over",
			ranges:  Ranges{"a": {0: {From: 0, End: 10}}},
			records: []*kgo.Record{rec("a", 0, 1), rec("a", 0, 9)},
			inside:  []bool{true, true},
			done:    true, read: 10,
		},
		{
			name:    "a gap over the last offset ends at the next record, which is not read",
			ranges:  Ranges{"a": {0: {From: 0, End: 10}}},
			records: []*kgo.Record{rec("a", 0, 7), rec("a", 0, 12)},
			inside:  []bool{true, false},
			done:    true, read: 10,
		},
		{
			name:    "not at the end yet",
			ranges:  Ranges{"a": {0: {From: 0, End: 10}, 1: {From: 0, End: 1}}},
			records: []*kgo.Record{rec("a", 0, 3), rec("a", 1, 0)},
			inside:  []bool{true, true},
			read:    5,
		},
		{
			name:    "records of partitions and topics not read are not inside",
			ranges:  Ranges{"a": {0: {From: 0, End: 1}}},
			records: []*kgo.Record{rec("b", 0, 0), rec("a", 1, 0), rec("a", 0, 0), rec("a", 0, 1)},
			inside:  []bool{false, false, true, false},
			done:    true, read: 1,
		},
		{
			name:   "empty ranges are never read",
			ranges: Ranges{"a": {0: {From: 5, End: 5}, 1: {From: 7, End: 3}, 2: {From: LogStart, End: 0}}, "b": {}},
			done:   true,
		},
		{
			name:    "a LogStart range counts from offset 0",
			ranges:  Ranges{"a": {0: {From: LogStart, End: 4}}},
			records: []*kgo.Record{rec("a", 0, 2), rec("a", 0, 3)},
			inside:  []bool{true, true},
			done:    true, read: 4,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := newRangeState(tc.ranges)
			var inside []bool
			for _, r := range tc.records {
				inside = append(inside, st.take(r, nil))
			}
			if !slices.Equal(inside, tc.inside) {
				t.Errorf("inside %v, want %v", inside, tc.inside)
			}
			if done := len(st.ends) == 0; done != tc.done {
				t.Errorf("done %v, want %v (left: %v)", done, tc.done, st.ends)
			}
			if st.read != tc.read {
				t.Errorf("read %d offsets, want %d", st.read, tc.read)
			}
		})
	}
}

func TestRangeStateSaysWhenATopicIsDone(t *testing.T) {
	st := newRangeState(Ranges{"a": {0: {From: 0, End: 1}, 1: {From: 0, End: 2}}, "b": {0: {From: 0, End: 1}}})
	var done []string
	topicDone := func(t string) { done = append(done, t) }
	for _, r := range []*kgo.Record{rec("a", 0, 0), rec("b", 0, 0) /* marker */, rec("a", 1, 0), rec("a", 1, 1)} {
		st.take(r, topicDone)
	}
	if !slices.Equal(done, []string{"b", "a"}) {
		t.Fatalf("topics done %v, want [b a]", done)
	}
}

// fakeTopics starts a kfake cluster with topics a (3 partitions) and b (1)
// and a producer of transactional id txn.
func fakeTopics(t *testing.T) (brokers []string, prod *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "a"), kfake.SeedTopics(1, "b"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	prod, err = kgo.NewClient(ClientOpts(configFor(c.ListenAddrs()), nil, kgo.TransactionalID("txn"), kgo.ProducerLinger(0))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	return c.ListenAddrs(), prod
}

// writeTxn writes values to topic/p in one transaction, committed or not.
func writeTxn(t *testing.T, prod *kgo.Client, topic string, p int32, commit kgo.TransactionEndTry, values ...string) {
	t.Helper()
	ctx := context.Background()
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		r := WithPartition(&kgo.Record{Topic: topic, Value: []byte(v)}, p)
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := prod.EndTransaction(ctx, commit); err != nil {
		t.Fatal(err)
	}
}

func TestRangeReaderReadsToTheEndsThroughMarkers(t *testing.T) {
	brokers, prod := fakeTopics(t)
	writeTxn(t, prod, "a", 0, kgo.TryCommit, "a0-0", "a0-1") // 0, 1, marker 2
	writeTxn(t, prod, "a", 0, kgo.TryAbort, "aborted")       // 3, marker 4: the end is a marker
	writeTxn(t, prod, "a", 1, kgo.TryCommit, "a1-0")         // 0, marker 1
	writeTxn(t, prod, "b", 0, kgo.TryCommit, "b0-0", "b0-1") // 0, 1, marker 2
	// Partition 2 of a stays empty.

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ranges := Ranges{
		"a": {0: {From: 0, End: 5}, 1: {From: LogStart, End: 2}, 2: {From: 0, End: 0}},
		"b": {0: {From: 1, End: 3}},
	}
	var (
		got      []string
		markers  int
		topics   []string
		progress []RangeProgress
	)
	rr := RangeReader{
		Opts:        ClientOpts(configFor(brokers), nil, kgo.FetchMaxWait(250*time.Millisecond)),
		OnTopicDone: func(t string) { topics = append(topics, t) },
		OnFetch:     func(p RangeProgress) { progress = append(progress, p) },
	}
	if err := rr.Read(ctx, ranges, func(r *kgo.Record) error {
		if r.Attrs.IsControl() {
			markers++
		}
		got = append(got, string(r.Value))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"a0-0", "a0-1", "a1-0", "b0-1"}; !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
	if markers != 0 {
		t.Errorf("%d markers handed over without Markers", markers)
	}
	slices.Sort(topics)
	if !slices.Equal(topics, []string{"a", "b"}) {
		t.Errorf("topics done %v, want a and b", topics)
	}
	if len(progress) == 0 {
		t.Fatal("OnFetch was never called")
	}
	if last := progress[len(progress)-1]; last.Read != 9 || last.Total != 9 {
		t.Errorf("last progress %+v, want 9 of 9 offsets", last)
	}

	// With Markers the markers come too; read_uncommitted shows the
	// aborted record.
	var values []string
	markers = 0
	rr = RangeReader{Opts: ClientOpts(configFor(brokers), nil), Markers: true, ReadUncommitted: true}
	if err := rr.Read(ctx, Ranges{"a": {0: {From: 0, End: 5}}}, func(r *kgo.Record) error {
		if r.Attrs.IsControl() {
			markers++
		} else {
			values = append(values, string(r.Value))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a0-0", "a0-1", "aborted"}; !slices.Equal(values, want) || markers != 2 {
		t.Errorf("uncommitted with markers: %q and %d markers, want %q and 2", values, markers, want)
	}
}

func TestRangeReaderStopsAtTheFirstError(t *testing.T) {
	brokers, prod := fakeTopics(t)
	writeTxn(t, prod, "b", 0, kgo.TryCommit, "1", "2", "3")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stop := errors.New("stop")
	n := 0
	err := RangeReader{Opts: ClientOpts(configFor(brokers), nil)}.Read(ctx, Ranges{"b": {0: {From: 0, End: 4}}}, func(*kgo.Record) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Fatalf("got %v after %d records, want fn's own error after one", err, n)
	}
	// Nothing to read: no client, no error.
	if err := (RangeReader{}).Read(ctx, Ranges{"b": {0: {From: 4, End: 4}}}, nil); err != nil {
		t.Fatal(err)
	}
	// A range that cannot be reached ends with ctx.
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	err = RangeReader{Opts: ClientOpts(configFor(brokers), nil)}.Read(short, Ranges{"b": {0: {From: 0, End: 100}}}, func(*kgo.Record) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unreachable end: %v, want the deadline", err)
	}
}

func TestCatchUpHandsOverEveryDataRecordAndKeepsTheClient(t *testing.T) {
	brokers, prod := fakeTopics(t)
	writeTxn(t, prod, "a", 0, kgo.TryCommit, "x", "y")
	writeTxn(t, prod, "a", 1, kgo.TryAbort, "gone")
	cl, err := kgo.NewClient(ClientOpts(configFor(brokers), nil, kgo.ConsumeTopics("a"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []string
	if err := CatchUp(ctx, cl, "a", func(r *kgo.Record) { got = append(got, string(r.Value)) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("caught up with %q, want x and y", got)
	}
	// The client tails on from there.
	writeTxn(t, prod, "a", 2, kgo.TryCommit, "z")
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
		if !r.Attrs.IsControl() && string(r.Value) != "z" {
			t.Errorf("tailing gave %q, want z", r.Value)
		}
	})
	cl.Close()
	if err := CatchUp(ctx, cl, "a", func(*kgo.Record) {}); err == nil {
		t.Fatal("a closed client caught up")
	}
}
