package enrich

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// handle is the stage's typed handler (stream.Typed decodes the raw event
// and dead-letters one that does not decode): look the snapshot up, load a
// thin event, Apply, encode. Only records ingest never writes are
// dead-lettered (undecodable, an unknown schema id, a key that is not the
// entity key, ErrInvalid from Apply); a load that failed for good and
// anything Apply could not use become warnings on the enriched event. A
// record waiting for its load is deferred; anything else (registry or
// Kafka trouble, an output that does not encode) aborts the batch for a
// retry.
func (s *Service) handle(ctx context.Context, raw stream.Input[event.Event]) ([]stream.Output, error) {
	in, ev := raw.Record, raw.Value
	key := ev.Entity.Key()
	if string(in.Key) != key {
		return nil, stream.Permanent(stream.ClassInvalid, fmt.Errorf("checking event %s: record key %q is not its entity key %q", ev.ID, in.Key, key))
	}
	et, ok := s.catalog.Lookup(ev.Type)
	if !ok {
		et = catalog.EventType{Name: ev.Type}
	}
	ps, err := s.state.partition(ctx, in.Partition)
	if err != nil {
		return nil, err
	}
	snap := ps.get(key)
	if snap != nil && snap.AppliedPartition == in.Partition && in.Offset <= snap.AppliedOffset {
		// Applied already: a crash cut the transaction that applied it
		// after its outputs were committed and before its input offset
		// was (the embedded cluster's commit is not atomic on disk).
		s.m.alreadyApplied.Inc()
		s.log.Info("skipping an event already applied", zap.String(observe.KeyEventID, ev.ID), zap.String(observe.KeyEntity, key),
			zap.Int32(observe.KeyPartition, in.Partition), zap.Int64(observe.KeyOffset, in.Offset), zap.Int64("applied_offset", snap.AppliedOffset))
		return nil, nil
	}
	now := s.now()

	var (
		loaded     json.RawMessage
		loadFailed string
	)
	var loader catalog.Loader
	hasLoader := false
	if src, ok := s.sources.Source(ev.Source); ok {
		loader, hasLoader = src.Loaders[ev.Entity.Type]
	}
	switch {
	case NeedsLoad(ev, et, snap, loader, hasLoader, now):
		loaded, err = s.loaders.load(ctx, ev, loader)
		var failed *loadFailure
		switch {
		case errors.As(err, &failed):
			// The sender got a 202: the event goes on with what is known
			// of the entity, and says the load failed.
			loadFailed = failed.reason
			s.log.Warn("loader failed; enriching the event without it", zap.String(observe.KeyEventID, ev.ID),
				zap.String(observe.KeyEntity, key), zap.Int(observe.KeyAttempts, failed.tries), zap.Int(observe.KeyStatus, failed.status), zap.Error(err))
		case err != nil:
			return nil, err
		}
	case ev.Data == nil && !hasLoader && !et.Delete && snap == nil:
		s.m.thinUnloaded.Inc()
	}

	res, err := Apply(Input{Event: ev, Type: et, Snapshot: snap, Loaded: loaded, LoadFailure: loadFailed, Now: now})
	if err != nil {
		return nil, stream.Permanent(stream.ClassInvalid, fmt.Errorf("enriching event %s: %w", ev.ID, err))
	}
	// An output that does not encode is the stage's fault (its schemas are
	// not registered), never the record's: retried, not dead-lettered.
	res.Snapshot.AppliedPartition, res.Snapshot.AppliedOffset = in.Partition, in.Offset
	outs, err := s.records(in, ev, res)
	if err != nil {
		return nil, err
	}
	ps.put(key, res.Snapshot)
	s.m.events.WithLabelValues(res.Enriched[0].Type).Inc()
	for _, e := range res.Enriched[1:] {
		s.m.derived.WithLabelValues(e.Type).Inc()
		if e.Type == TypeInventoryOversold {
			s.m.oversold.Inc()
		}
	}
	for _, c := range res.Commands {
		s.m.derived.WithLabelValues(c.Type).Inc()
	}
	s.m.countWarnings(res.WarningCounts)
	if ce := s.log.Check(zap.DebugLevel, "enriched event"); ce != nil {
		ce.Write(zap.String(observe.KeyEventID, ev.ID), zap.String(observe.KeyEventType, ev.Type), zap.String(observe.KeyEntity, key),
			zap.Int64("version", res.Snapshot.Version), zap.Int32(observe.KeyPartition, in.Partition), zap.Int64(observe.KeyOffset, in.Offset))
	}
	return outs, nil
}

// records encodes a Result: movement events for the raw topic and the
// enriched events after the first, each a new event caused by ev
// (stream.Derive); the enriched event of ev itself and the snapshot for
// commerce.entities on the raw record's partition number, which carry
// ev's headers (stream.Carry).
func (s *Service) records(in *kgo.Record, ev event.Event, res Result) ([]stream.Output, error) {
	outs := make([]stream.Output, 0, len(res.Commands)+len(res.Enriched)+1)
	for _, c := range res.Commands {
		v, err := s.events.Encode(c)
		if err != nil {
			return nil, fmt.Errorf("encoding %s for event %s: %w", c.Type, ev.ID, err)
		}
		r := &kgo.Record{Topic: s.events.Topic(), Key: []byte(c.Entity.Key()), Value: v, Headers: eventHeaders(c.Type, c.Source)}
		outs = append(outs, stream.Derive(r, c.ID, ev.ID))
	}
	for i, e := range res.Enriched {
		v, err := s.enriched.Encode(e)
		if err != nil {
			return nil, fmt.Errorf("encoding enriched %s for event %s: %w", e.Type, ev.ID, err)
		}
		r := &kgo.Record{Topic: s.enriched.Topic(), Key: in.Key, Value: v, Headers: eventHeaders(e.Type, e.Source)}
		if i == 0 {
			outs = append(outs, stream.Carry(r))
		} else {
			outs = append(outs, stream.Derive(r, e.ID, ev.ID))
		}
	}
	id := s.snapshots.ID()
	if id == 0 {
		return nil, fmt.Errorf("encoding the snapshot of %s: %w", ev.Entity.Key(), avroserde.ErrNotRegistered)
	}
	v := appendSnapshot(make([]byte, 0, 64+len(res.Snapshot.Data)), id, res.Snapshot)
	snap := &kgo.Record{Topic: s.snapshots.Topic(), Key: in.Key, Value: v}
	return append(outs, stream.Carry(kafkax.WithPartition(snap, in.Partition))), nil
}

// eventHeaders are the headers an event record of enrich's has of its
// own, after those it takes from its input: its type and source.
func eventHeaders(typ, source string) []kgo.RecordHeader {
	return []kgo.RecordHeader{
		{Key: topics.HeaderEventType, Value: []byte(typ)},
		{Key: topics.HeaderSource, Value: []byte(source)},
	}
}

// restorePartition reads partition p of commerce.entities from its start
// to its end, keeping the last snapshot of each key. It first waits until
// no other producer has a transaction open on the partition (its last
// stable offset is its end), so the state read matches the committed
// input offsets; a previous owner that has not finished yet makes it wait
// up to RestoreWait, after which the batch is retried.
func (s *Service) restorePartition(ctx context.Context, p int32) (map[string]*Snapshot, error) {
	start := time.Now()
	topic := s.snapshots.Topic()
	end, err := s.stableEnd(ctx, topic, p)
	if err != nil {
		return nil, err
	}
	snaps := map[string]*Snapshot{}
	if end > 0 {
		if err := s.readPartition(ctx, topic, p, end, snaps); err != nil {
			return nil, err
		}
	}
	s.m.restores.Inc()
	s.m.restoreSeconds.Observe(time.Since(start).Seconds())
	s.log.Info("rebuilt partition state", zap.String(observe.KeyTopic, topic), zap.Int32(observe.KeyPartition, p),
		zap.Int("snapshots", len(snaps)), zap.Int64("end_offset", end), zap.Duration(observe.KeyTook, time.Since(start)))
	return snaps, nil
}

func (s *Service) stableEnd(ctx context.Context, topic string, p int32) (int64, error) {
	adm := kadm.NewClient(s.admin)
	deadline := time.Now().Add(s.cfg.RestoreWait)
	for {
		lso, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			return 0, fmt.Errorf("listing stable offsets of %s: %w", topic, err)
		}
		hwm, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return 0, fmt.Errorf("listing end offsets of %s: %w", topic, err)
		}
		l, okL := lso.Lookup(topic, p)
		h, okH := hwm.Lookup(topic, p)
		switch {
		case !okL || !okH:
			return 0, fmt.Errorf("listing offsets of %s: partition %d missing", topic, p)
		case l.Err != nil:
			return 0, fmt.Errorf("listing stable offsets of %s/%d: %w", topic, p, l.Err)
		case h.Err != nil:
			return 0, fmt.Errorf("listing end offsets of %s/%d: %w", topic, p, h.Err)
		case l.Offset >= h.Offset:
			return l.Offset, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("rebuilding state of %s/%d: a transaction of another producer is still open at offset %d (end %d)", topic, p, l.Offset, h.Offset)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("rebuilding state of %s/%d: %w", topic, p, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// readPartition reads topic/p from its start up to end (exclusive) with
// read_committed into snaps.
func (s *Service) readPartition(ctx context.Context, topic string, p int32, end int64, snaps map[string]*Snapshot) error {
	rr := kafkax.RangeReader{Opts: kafkax.ClientOpts(s.cfg.Kafka, s.log)}
	err := rr.Read(ctx, kafkax.Ranges{topic: {p: {From: kafkax.LogStart, End: end}}}, func(r *kgo.Record) error {
		if r.Value == nil { // a Kafka tombstone: enrich writes none, but honour one
			delete(snaps, string(r.Key))
			return nil
		}
		snap, err := s.snapshots.Decode(ctx, r.Value)
		switch {
		case err == nil:
			snaps[string(r.Key)] = snap
		case errors.Is(err, avroserde.ErrNotWireFormat), errors.Is(err, avroserde.ErrUndecodable), errors.Is(err, avroserde.ErrUnknownSchema):
			// Stopping here would stop every partition; the entity
			// starts over from what its next event says.
			s.m.snapshotSkipped.Inc()
			s.log.Error("skipping unreadable snapshot", zap.String(observe.KeyTopic, topic), zap.Int32(observe.KeyPartition, p),
				zap.Int64(observe.KeyOffset, r.Offset), zap.ByteString(observe.KeyRecordKey, r.Key), zap.Error(err))
		default:
			return fmt.Errorf("reading %s/%d: %w", topic, p, err)
		}
		return nil
	})
	// The reader returns ctx's own error; its others name the partition.
	if err != nil && err == ctx.Err() {
		return fmt.Errorf("reading %s/%d: %w", topic, p, err)
	}
	return err
}
