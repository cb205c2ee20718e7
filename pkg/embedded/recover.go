package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/surgehq/surge/pkg/observe"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"go.uber.org/zap"
)

// Recovery is what Recover found and did.
type Recovery struct {
	Partitions int   // partitions scanned
	Batches    int64 // record batches read
	// Aborted are the transactions that had no marker on a partition,
	// each now closed with an abort marker.
	Aborted []OpenTransaction
	// Split are those of Aborted that had a commit marker on another
	// partition: the stop cut their commit half-way. kfake counts their
	// records on these partitions as aborted, and no marker changes that,
	// so Recover completes the commit by writing copies of those records,
	// in order, to the same partitions in one new transaction (Copied of
	// them).
	Split  []OpenTransaction
	Copied int
	// Reindexed are the segment indexes Start rewrote before kfake read
	// the log, because the stop left them behind their segments (see
	// repairIndexes).
	Reindexed []string
	Took      time.Duration
}

// OpenTransaction is one producer's transaction left without a marker on
// one partition.
type OpenTransaction struct {
	Topic         string
	Partition     int32
	ProducerID    int64
	ProducerEpoch int16
	FirstOffset   int64 // its first batch on the partition
}

func (t OpenTransaction) String() string {
	return fmt.Sprintf("%s/%d producer %d epoch %d from offset %d", t.Topic, t.Partition, t.ProducerID, t.ProducerEpoch, t.FirstOffset)
}

func (r Recovery) summary() string {
	s := make([]string, len(r.Aborted))
	for i, t := range r.Aborted {
		s[i] = t.String()
	}
	return strings.Join(s, "; ")
}

// Recover reads the record batch headers of every partition of the cluster
// at brokers, from its start to its end offset, and writes an abort marker
// (Kafka's WriteTxnMarkers, as a transaction coordinator does) for every
// producer whose last transactional batch on a partition is followed by no
// marker of that producer. It must run before any other client uses the
// cluster: a transaction opened after the scan started would look open.
//
// Kafka's rule for read_committed readers is that a producer's aborted
// transaction ends at its abort marker; with the marker written, every
// reader — Surge's stages, its state rebuilds, any Kafka client — reads past
// the transaction and keeps the producer's later transactions. Recover is
// idempotent: a second run finds nothing open.
func Recover(ctx context.Context, brokers []string, log *zap.Logger) (Recovery, error) {
	start := time.Now()
	// Fetch v12 names topics (v13+ wants topic ids); every version kfake
	// and Kafka 3+ serve.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.MaxVersions(kversion.V3_0_0()))
	if err != nil {
		return Recovery{}, fmt.Errorf("creating recovery client: %w", err)
	}
	defer cl.Close()

	parts, err := partitionsToScan(ctx, kadm.NewClient(cl))
	if err != nil {
		return Recovery{}, err
	}
	s := scan{parts: parts, committed: map[txnID]bool{}, log: log}
	if err := s.run(ctx, cl); err != nil {
		return Recovery{}, err
	}

	rec := Recovery{Partitions: len(parts), Batches: s.batches}
	for _, p := range parts {
		for pid, t := range p.open {
			ot := OpenTransaction{Topic: p.topic, Partition: p.partition, ProducerID: pid, ProducerEpoch: t.epoch, FirstOffset: t.first}
			rec.Aborted = append(rec.Aborted, ot)
			if s.committed[txnID{pid, t.epoch}] {
				rec.Split = append(rec.Split, ot)
			}
		}
	}
	sortTxns(rec.Aborted)
	sortTxns(rec.Split)
	ends := map[string]map[int32]int64{}
	for _, p := range parts {
		if ends[p.topic] == nil {
			ends[p.topic] = map[int32]int64{}
		}
		ends[p.topic][p.partition] = p.end
	}
	copies, err := readSplit(ctx, brokers, rec.Split, ends)
	if err != nil {
		return Recovery{}, err
	}
	// The copies first: a crash between the two writes copies again at
	// the next start (a repeat), where the other order would lose them.
	if err := completeSplit(ctx, brokers, copies); err != nil {
		return Recovery{}, err
	}
	if err := writeAbortMarkers(ctx, cl, rec.Aborted); err != nil {
		return Recovery{}, err
	}
	rec.Copied = len(copies)
	for _, t := range rec.Split {
		log.Warn("a transaction was committed on another partition but the stop cut its marker here: its records were written again to complete it",
			zap.String(observe.KeyTopic, t.Topic), zap.Int32(observe.KeyPartition, t.Partition), zap.Int64("producer_id", t.ProducerID),
			zap.Int16("producer_epoch", t.ProducerEpoch), zap.Int64("first_offset", t.FirstOffset))
	}
	rec.Took = time.Since(start)
	return rec, nil
}

func sortTxns(ts []OpenTransaction) {
	sort.Slice(ts, func(i, j int) bool {
		a, b := ts[i], ts[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.ProducerID < b.ProducerID
	})
}

// partScan is one partition being scanned.
type partScan struct {
	topic     string
	partition int32
	next, end int64
	open      map[int64]openTxn // by producer id
}

type openTxn struct {
	epoch int16
	first int64
}

type txnID struct {
	pid   int64
	epoch int16
}

func partitionsToScan(ctx context.Context, adm *kadm.Client) ([]*partScan, error) {
	listed, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	names := listed.Names()
	if len(names) == 0 {
		return nil, nil
	}
	starts, err := adm.ListStartOffsets(ctx, names...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	var parts []*partScan
	ends.Each(func(o kadm.ListedOffset) {
		first := int64(0)
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok {
			first = s.Offset
		}
		if o.Offset > first {
			parts = append(parts, &partScan{topic: o.Topic, partition: o.Partition, next: first, end: o.Offset, open: map[int64]openTxn{}})
		}
	})
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].topic != parts[j].topic {
			return parts[i].topic < parts[j].topic
		}
		return parts[i].partition < parts[j].partition
	})
	return parts, nil
}

// scan reads batch headers of every partition in parts, up to each one's
// end offset.
type scan struct {
	parts     []*partScan
	committed map[txnID]bool // transactions with a commit marker somewhere
	batches   int64
	log       *zap.Logger
}

const (
	fetchPartitionBytes = 8 << 20
	fetchMaxBytes       = 64 << 20
	fetchPartitions     = 64 // partitions per fetch request
	progressEvery       = 5 * time.Second
)

func (s *scan) run(ctx context.Context, cl *kgo.Client) error {
	var total int64
	for _, p := range s.parts {
		total += p.end - p.next
	}
	lastProgress := time.Now()
	var done int64
	for {
		var pending []*partScan
		for _, p := range s.parts {
			if p.next < p.end {
				pending = append(pending, p)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if len(pending) > fetchPartitions {
			pending = pending[:fetchPartitions]
		}
		moved, err := s.fetch(ctx, cl, pending)
		if err != nil {
			return err
		}
		done += moved
		if time.Since(lastProgress) >= progressEvery {
			lastProgress = time.Now()
			s.log.Info("recovering the embedded cluster: scanning", zap.Int64("offsets_scanned", done), zap.Int64("offsets_total", total),
				zap.String("progress", fmt.Sprintf("%.0f%%", 100*float64(done)/float64(max(total, 1)))))
		}
	}
}

// fetch reads one round of batches for parts and returns how many offsets
// the scan advanced.
func (s *scan) fetch(ctx context.Context, cl *kgo.Client, parts []*partScan) (int64, error) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = fetchMaxBytes
	req.IsolationLevel = 0 // read_uncommitted: every batch, markers included
	req.SessionEpoch = -1  // no fetch session
	index := map[string]map[int32]*partScan{}
	var topicOrder []string
	for _, p := range parts {
		if index[p.topic] == nil {
			index[p.topic] = map[int32]*partScan{}
			topicOrder = append(topicOrder, p.topic)
		}
		index[p.topic][p.partition] = p
	}
	for _, topic := range topicOrder {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		for _, p := range parts {
			if p.topic != topic {
				continue
			}
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = p.partition
			rp.FetchOffset = p.next
			rp.CurrentLeaderEpoch = -1
			rp.LastFetchedEpoch = -1
			rp.LogStartOffset = -1
			rp.PartitionMaxBytes = fetchPartitionBytes
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("reading batch headers: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return 0, fmt.Errorf("reading batch headers: %w", err)
	}
	var moved int64
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			p := index[t.Topic][rp.Partition]
			if p == nil {
				continue
			}
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return 0, fmt.Errorf("reading batch headers of %s/%d at offset %d: %w", p.topic, p.partition, p.next, err)
			}
			before := p.next
			if err := s.readBatches(p, rp.RecordBatches); err != nil {
				return 0, err
			}
			if p.next == before && p.next < p.end {
				if rp.HighWatermark >= 0 && rp.HighWatermark <= p.next {
					p.end = p.next // the log ends earlier than listed
					continue
				}
				return 0, fmt.Errorf("reading batch headers of %s/%d: no batch at offset %d (end %d)", p.topic, p.partition, p.next, p.end)
			}
			moved += p.next - before
		}
	}
	return moved, nil
}

// readBatches walks the batches in raw (a fetch response's record set),
// tracking which producers' transactions stay open on p.
func (s *scan) readBatches(p *partScan, raw []byte) error {
	for len(raw) >= 12 {
		length := int32(binary.BigEndian.Uint32(raw[8:12]))
		size := 12 + int(length)
		if length < 0 || size > len(raw) {
			break // a partial batch at the end of the response
		}
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw[:size]); err != nil {
			return fmt.Errorf("reading a batch header of %s/%d at offset %d: %w", p.topic, p.partition, p.next, err)
		}
		raw = raw[size:]
		last := b.FirstOffset + int64(b.LastOffsetDelta)
		if last < p.next {
			continue // the fetch started inside this batch's predecessor
		}
		p.next = last + 1
		s.batches++
		if b.Magic != 2 {
			continue // pre-0.11 message sets carry no transactions
		}
		const transactional, control = 0x10, 0x20
		switch {
		case b.Attributes&control != 0:
			if commit, ok := markerCommits(b); ok && commit {
				s.committed[txnID{b.ProducerID, b.ProducerEpoch}] = true
			}
			delete(p.open, b.ProducerID)
		case b.Attributes&transactional != 0:
			t, ok := p.open[b.ProducerID]
			if !ok {
				t.first = b.FirstOffset
			}
			t.epoch = b.ProducerEpoch
			p.open[b.ProducerID] = t
		}
	}
	return nil
}

// markerCommits reads a control batch's marker: true for a commit, false
// for an abort. Control batches are never compressed.
func markerCommits(b kmsg.RecordBatch) (commit, ok bool) {
	var r kmsg.Record
	if err := r.ReadFrom(b.Records); err != nil || len(r.Key) < 4 {
		return false, false
	}
	return binary.BigEndian.Uint16(r.Key[2:4]) == 1, true
}

// writeAbortMarkers closes each open transaction with an abort marker of
// its producer and epoch.
func writeAbortMarkers(ctx context.Context, cl *kgo.Client, open []OpenTransaction) error {
	if len(open) == 0 {
		return nil
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	markers := map[txnID]int{} // index in req.Markers
	for _, t := range open {
		id := txnID{t.ProducerID, t.ProducerEpoch}
		i, ok := markers[id]
		if !ok {
			m := kmsg.NewWriteTxnMarkersRequestMarker()
			m.ProducerID, m.ProducerEpoch, m.Committed = t.ProducerID, t.ProducerEpoch, false
			req.Markers = append(req.Markers, m)
			i = len(req.Markers) - 1
			markers[id] = i
		}
		m := &req.Markers[i]
		ti := -1
		for j := range m.Topics {
			if m.Topics[j].Topic == t.Topic {
				ti = j
			}
		}
		if ti < 0 {
			mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			mt.Topic = t.Topic
			m.Topics = append(m.Topics, mt)
			ti = len(m.Topics) - 1
		}
		m.Topics[ti].Partitions = append(m.Topics[ti].Partitions, t.Partition)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("writing abort markers: %w", err)
	}
	var errs []error
	for _, m := range resp.Markers {
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					errs = append(errs, fmt.Errorf("writing the abort marker of producer %d on %s/%d: %w", m.ProducerID, t.Topic, p.Partition, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// readSplit reads the records of each split transaction on the partition
// where its commit was cut: its producer's and epoch's data records from
// its first offset to the partition's end, in order.
func readSplit(ctx context.Context, brokers []string, split []OpenTransaction, ends map[string]map[int32]int64) ([]*kgo.Record, error) {
	var out []*kgo.Record
	for _, t := range split {
		end := ends[t.Topic][t.Partition]
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.KeepControlRecords(),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{t.Topic: {t.Partition: kgo.NewOffset().At(t.FirstOffset)}}))
		if err != nil {
			return nil, fmt.Errorf("creating the reader of a split transaction: %w", err)
		}
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		next := t.FirstOffset
		for next < end && rctx.Err() == nil {
			fetches := cl.PollFetches(rctx)
			fetches.EachRecord(func(r *kgo.Record) {
				if r.Offset >= next {
					next = r.Offset + 1
				}
				if r.Offset >= end || r.Attrs.IsControl() || r.ProducerID != t.ProducerID || r.ProducerEpoch != t.ProducerEpoch {
					return
				}
				out = append(out, &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value,
					Headers: r.Headers, Timestamp: r.Timestamp})
			})
		}
		err = rctx.Err()
		cancel()
		cl.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the split transaction of producer %d on %s/%d: %w", t.ProducerID, t.Topic, t.Partition, err)
		}
	}
	return out, nil
}

// completeSplit writes the copies, each to the partition its original is
// on, in one transaction.
func completeSplit(ctx context.Context, brokers []string, copies []*kgo.Record) error {
	if len(copies) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(recoveryTransactionalID),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		return fmt.Errorf("creating the recovery producer: %w", err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("completing split transactions: %w", err)
	}
	if err := cl.ProduceSync(ctx, copies...).FirstErr(); err != nil {
		_ = cl.EndTransaction(ctx, kgo.TryAbort)
		return fmt.Errorf("completing split transactions: %w", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("completing split transactions: %w", err)
	}
	return nil
}

// recoveryTransactionalID is the transactional id of the producer that
// completes split transactions.
const recoveryTransactionalID = "surge-embedded-recovery"
