package trace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// Bounds of the searches by entity key and by webhook-id.
const (
	// EntityWindow is how many of the newest records of the entity key's
	// partition of commerce.events.raw EntityEvents reads; DefaultEntityEvents
	// how many of the key's events it returns, MaxEntityEvents the most.
	EntityWindow        = 10000
	DefaultEntityEvents = 50
	MaxEntityEvents     = 500
	// DeliveryWindow is how many of the newest records of the webhook-id's
	// partition of commerce.delivery-attempts ByDeliveryID reads.
	DeliveryWindow = 50000
)

// EntityEvent is one event of an entity key on commerce.events.raw.
type EntityEvent struct {
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	Source     string    `json:"source"`
	ReceivedAt time.Time `json:"received_at"`
	Partition  int32     `json:"partition"`
	Offset     int64     `json:"offset"`
	// ValueError says the record's value did not decode (the id is from
	// its surge.event-id header).
	ValueError string `json:"value_error,omitempty"`
}

// EntityEvents is the answer of a search by entity key.
type EntityEvents struct {
	EntityKey string `json:"entity_key"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// From and End are the offsets read: the last EntityWindow records of
	// the partition at most.
	From int64 `json:"from"`
	End  int64 `json:"end"`
	// Events are the key's events, newest first.
	Events []EntityEvent `json:"events"`
}

// ValidEntityKey says whether key is "<entity type>:<entity id>", both
// parts non-empty.
func ValidEntityKey(key string) bool {
	typ, id, ok := strings.Cut(key, ":")
	return ok && typ != "" && id != "" && strings.TrimSpace(key) == key
}

// EntityEvents reads the last EntityWindow records of the partition of
// commerce.events.raw the entity key is on (records are keyed by it,
// Kafka's murmur2 over the partition count) and returns the key's
// events, newest first, at most limit (DefaultEntityEvents when 0, never
// more than MaxEntityEvents). A topic not created yet holds none.
func (t *Tracer) EntityEvents(ctx context.Context, key string, limit int) (*EntityEvents, error) {
	if limit <= 0 {
		limit = DefaultEntityEvents
	}
	limit = min(limit, MaxEntityEvents)
	topic := t.cfg.Names.Name(topics.EventsRaw)
	res := &EntityEvents{EntityKey: key, Topic: topic, Events: []EntityEvent{}}
	rng, ok, err := t.keyRange(ctx, topic, key, EntityWindow)
	if err != nil || !ok {
		return res, err
	}
	res.Partition, res.From, res.End = rng.partition, rng.From, rng.End
	codec := avroserde.NewEventCodec(t.cfg.Registry, topic)
	err = kafkax.RangeReader{Opts: t.cfg.ClientOpts}.Read(ctx, kafkax.Ranges{topic: {rng.partition: rng.Range}}, func(r *kgo.Record) error {
		if string(r.Key) != key {
			return nil
		}
		e := EntityEvent{EventID: stream.Header(r, topics.HeaderEventID), Partition: r.Partition, Offset: r.Offset, ReceivedAt: r.Timestamp.UTC()}
		if ev, err := codec.Decode(ctx, r.Value); err != nil {
			e.ValueError = err.Error()
		} else {
			e.EventID, e.EventType, e.Source, e.ReceivedAt = ev.ID, ev.Type, ev.Source, ev.ReceivedAt.UTC()
		}
		res.Events = append(res.Events, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s/%d: %w", topic, rng.partition, err)
	}
	slices.Reverse(res.Events)
	if len(res.Events) > limit {
		res.Events = res.Events[:limit]
	}
	return res, nil
}

// errFound stops a reading at the first match.
var errFound = errors.New("found")

// ByDeliveryID returns the id of the event whose delivery has webhook-id
// id, read from the delivery's attempts: the last DeliveryWindow records
// of the partition of commerce.delivery-attempts it is keyed to. "" when
// none is there (no attempt was made yet, or it is older).
func (t *Tracer) ByDeliveryID(ctx context.Context, id string) (string, error) {
	topic := t.cfg.Names.Name(topics.DeliveryAttempts)
	rng, ok, err := t.keyRange(ctx, topic, id, DeliveryWindow)
	if err != nil || !ok {
		return "", err
	}
	codec := avroserde.NewDeliveryAttemptCodec(t.cfg.Registry, topic)
	found := ""
	err = kafkax.RangeReader{Opts: t.cfg.ClientOpts}.Read(ctx, kafkax.Ranges{topic: {rng.partition: rng.Range}}, func(r *kgo.Record) error {
		if string(r.Key) != id {
			return nil
		}
		if a, err := codec.Decode(ctx, r.Value); err == nil && a.DeliveryID == id {
			found = a.EventID
		} else if eid := stream.Header(r, topics.HeaderEventID); eid != "" {
			found = eid
		} else {
			return nil
		}
		return errFound
	})
	if err != nil && !errors.Is(err, errFound) {
		return "", fmt.Errorf("reading %s/%d: %w", topic, rng.partition, err)
	}
	return found, nil
}

// partitionRange is the offsets to read of one partition.
type partitionRange struct {
	partition int32
	kafkax.Range
}

// keyRange is the partition of topic that key hashes to and the offsets
// of its last window records; ok is false when the topic does not exist
// or the partition is empty.
func (t *Tracer) keyRange(ctx context.Context, topic, key string, window int64) (partitionRange, bool, error) {
	meta, err := t.adm.ListTopics(ctx, topic)
	if err != nil {
		return partitionRange{}, false, fmt.Errorf("listing topic %s: %w", topic, err)
	}
	d, ok := meta[topic]
	if !ok || d.Err != nil || len(d.Partitions) == 0 {
		return partitionRange{}, false, nil
	}
	p := kgo.StickyKeyPartitioner(nil).ForTopic(topic).Partition(&kgo.Record{Key: []byte(key)}, len(d.Partitions))
	part := int32(p)
	ends, err := t.adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return partitionRange{}, false, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	starts, err := t.adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return partitionRange{}, false, fmt.Errorf("listing start offsets of %s: %w", topic, err)
	}
	end, ok := ends.Lookup(topic, part)
	if !ok {
		return partitionRange{}, false, nil
	}
	start, _ := starts.Lookup(topic, part)
	from := max(start.Offset, end.Offset-window)
	if from >= end.Offset {
		return partitionRange{}, false, nil
	}
	return partitionRange{partition: part, Range: kafkax.Range{From: from, End: end.Offset}}, true, nil
}
