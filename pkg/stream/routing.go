package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/kafkax"
)

// Surge's keyed topics (events, deliveries) hold each key on the partition
// Kafka's murmur2 gives it, and the stages rely on it: enrich keeps an
// entity's state on its key's partition, the dispatcher orders a key's
// deliveries within one partition. A record a foreign producer put on
// another partition (librdkafka's default partitioner hashes with CRC32)
// would fork the entity (a second "version 1") or break per-key order, so
// a stage reading a keyed topic checks every record's key against its
// partition before handling it, and dead-letters a misrouted one.
//
// It is dead-lettered, not re-produced to its right partition: appended
// there now, it would come after records of the same key that were
// written after it, and be enriched as newer than they are. Where it goes
// is for an operator to decide once the producer is fixed; a replay (pkg/dlq)
// sends it to the partition its key hashes to.

// PartitionerAdvice is what a misrouted record's error tells its producer
// to use.
const PartitionerAdvice = "partition keys with Kafka's murmur2 as the Java client does " +
	"(librdkafka and confluent-kafka: partitioner=murmur2_random; kcat: -X partitioner=murmur2_random; franz-go's default)"

// MisroutedError says a keyed record is not on the partition its key
// belongs to.
type MisroutedError struct {
	Topic      string
	Key        []byte
	Partition  int32 // where the record is
	Want       int32 // where its key belongs: murmur2 of the key over Partitions
	Partitions int
}

func (e *MisroutedError) Error() string {
	return fmt.Sprintf("record key %q belongs on partition %d of %s (Kafka's murmur2 of the key over %d partitions), not on partition %d: its producer must %s",
		e.Key, e.Want, e.Topic, e.Partitions, e.Partition, PartitionerAdvice)
}

// CheckRoute is nil when r's key belongs on r's partition among partitions
// (kafkax.KeyPartition), or when r has no key (a keyed topic's stage
// judges that on its own); otherwise a permanent ClassMisrouted error
// wrapping a *MisroutedError. r.Partition must be below partitions.
func CheckRoute(r *kgo.Record, partitions int) error {
	if len(r.Key) == 0 {
		return nil
	}
	want := kafkax.KeyPartition(r.Key, partitions)
	if want == r.Partition {
		return nil
	}
	return Permanent(ClassMisrouted, &MisroutedError{Topic: r.Topic, Key: r.Key, Partition: r.Partition, Want: want, Partitions: partitions})
}

// ErrPartitionsChanged is returned by Routes.Check for a record of a
// partition beyond the count Routes knew (the topic grew), or when no
// count is known yet: the caller reads the count again (Partitions) and
// retries.
var ErrPartitionsChanged = errors.New("a record of a partition beyond the partitions known; the topic grew")

// Routes checks a keyed topic's records against its partition count,
// read from the cluster once and again after Forget (a rebalance: a topic
// that gained partitions moves its keys, and Kafka rebalances its
// consumers) or after a record of a partition beyond it. It is safe for
// concurrent use.
//
// A topic that gains partitions moves keys to new partitions — Kafka's
// rule for every keyed topic. Records written before the change and read
// after it are then misrouted by this check; drain a stage's input before
// growing the topic.
type Routes struct {
	Topic string

	mu    sync.Mutex
	n     int  // 0: not known
	stale bool // read n again at the next Partitions
}

// Forget marks the partition count stale: the next Partitions reads it
// again. Check goes on with the count it has until then, so a rebalance
// does not fail a batch that is being checked.
func (r *Routes) Forget() {
	r.mu.Lock()
	r.stale = true
	r.mu.Unlock()
}

// Partitions is the topic's partition count, read from the cluster when
// not known or stale.
func (r *Routes) Partitions(ctx context.Context, adm *kadm.Client) (int, error) {
	r.mu.Lock()
	n, stale := r.n, r.stale
	r.mu.Unlock()
	if n > 0 && !stale {
		return n, nil
	}
	n, err := kafkax.PartitionCount(ctx, adm, r.Topic)
	if err != nil {
		return 0, fmt.Errorf("checking record keys against partitions: %w", err)
	}
	r.mu.Lock()
	r.n, r.stale = n, false
	r.mu.Unlock()
	return n, nil
}

// Check is CheckRoute with the known count: nil, a permanent
// ClassMisrouted error, or ErrPartitionsChanged (transient, and the count
// is marked stale) when rec's partition is beyond it or no count is known.
func (r *Routes) Check(rec *kgo.Record) error {
	r.mu.Lock()
	n := r.n
	beyond := n == 0 || int(rec.Partition) >= n
	if beyond {
		r.stale = true
	}
	r.mu.Unlock()
	if beyond {
		return fmt.Errorf("checking the key of %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, ErrPartitionsChanged)
	}
	return CheckRoute(rec, n)
}
