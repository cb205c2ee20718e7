// Package kafkax builds the franz-go clients every Surge process uses with
// the same safety settings — acks from all in-sync replicas, idempotent
// writes, Kafka's murmur2 key partitioner — and creates Surge's topics.
// It also holds the two Kafka loops several packages share: reading
// partitions up to end offsets fixed in advance (RangeReader, CatchUp) and
// a producer's transaction, committed or aborted as a whole (Txn).
//
// There is deliberately no interface around *kgo.Client: tests run against
// an in-process kfake cluster or a real broker instead.
package kafkax

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kzap"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/topics"
)

// ClientOpts returns the base options of every Surge client: seed brokers,
// client id, acks=all with idempotent writes (franz-go's default, stated
// here so it cannot silently change), the Java-compatible murmur2 key
// partitioner, a short metadata refresh floor, and a zap bridge for the
// client's own logs.
func ClientOpts(cfg config.Kafka, log *zap.Logger, extra ...kgo.Opt) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(partitioner{kgo.StickyKeyPartitioner(nil)}), // nil hasher = Kafka's murmur2
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		// With Kafka 4's transactions v2 the first produce of a transaction
		// can fail with CONCURRENT_TRANSACTIONS while the previous one's
		// markers are written; franz-go retries it after a metadata
		// refresh, and refreshes are at most one per MetadataMinAge (5 s
		// by default): every stage stalled ~5 s per transaction on a
		// three-broker cluster. 250 ms keeps a retry storm bounded.
		kgo.MetadataMinAge(250 * time.Millisecond),
	}
	if cfg.ClientID != "" {
		opts = append(opts, kgo.ClientID(cfg.ClientID))
	}
	if cfg.SessionTimeout > 0 { // only group consumers use these
		opts = append(opts, kgo.SessionTimeout(cfg.SessionTimeout), kgo.HeartbeatInterval(min(3*time.Second, cfg.SessionTimeout/3)))
	}
	if log != nil {
		opts = append(opts, kgo.WithLogger(kzap.New(log.Named("kafka"), kzap.Level(kgo.LogLevelWarn))))
	}
	return append(opts, extra...)
}

// Open is how every Surge process starts on Kafka: a client with
// ClientOpts, once the brokers answer, after creating any Surge topic that
// is missing (EnsureTopics). The caller closes the client.
func Open(ctx context.Context, cfg config.Kafka, log *zap.Logger, dedupWindow time.Duration) (*kgo.Client, error) {
	cl, err := kgo.NewClient(ClientOpts(cfg, log)...)
	if err != nil {
		return nil, fmt.Errorf("creating Kafka client: %w", err)
	}
	if err := WaitForBrokers(ctx, cl); err != nil {
		cl.Close()
		return nil, err
	}
	if err := EnsureTopics(ctx, kadm.NewClient(cl), cfg, dedupWindow); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// EnsureTopics creates every Surge topic that does not exist yet, with the
// configured partition count and replication factor. Existing topics are
// left as they are. It is safe to call from every process at start.
func EnsureTopics(ctx context.Context, adm *kadm.Client, cfg config.Kafka, dedupWindow time.Duration) error {
	n := topics.Namer{Prefix: cfg.TopicPrefix}
	for _, l := range topics.Layouts(dedupWindow) {
		parts := cfg.Partitions
		if l.Partition == topics.PartitionsOne {
			parts = 1
		}
		configs := map[string]*string{}
		for k, v := range l.Configs {
			configs[k] = kadm.StringPtr(v)
		}
		if cfg.ReplicationFactor >= 3 {
			configs["min.insync.replicas"] = kadm.StringPtr(strconv.Itoa(int(cfg.ReplicationFactor) - 1))
		}
		name := n.Name(l.Name)
		resp, err := adm.CreateTopic(ctx, parts, cfg.ReplicationFactor, configs, name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %s: %w", name, err)
		}
	}
	return nil
}

// WaitForBrokers pings the cluster until it answers or ctx ends, so a
// process started next to a broker that is still booting does not fail.
func WaitForBrokers(ctx context.Context, cl *kgo.Client) error {
	for {
		err := cl.Ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("reaching Kafka: %w", errors.Join(err, ctx.Err()))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// explicitPartition marks a record whose Partition field was chosen by the
// caller (a dead-letter or retry record mirroring its source partition).
type explicitPartition struct{}

// WithPartition pins r to partition p: the partitioner installed by
// ClientOpts keeps it there instead of hashing the key. Dead-letter and retry
// records use it so they land on the partition their source record came
// from, whatever partitioner the source's producer used.
func WithPartition(r *kgo.Record, p int32) *kgo.Record {
	r.Partition = p
	r.Context = context.WithValue(contextOf(r), explicitPartition{}, true)
	return r
}

func contextOf(r *kgo.Record) context.Context {
	if r.Context != nil {
		return r.Context
	}
	return context.Background()
}

// partitioner hashes keys with Kafka's murmur2 unless WithPartition pinned
// the record.
type partitioner struct{ keyed kgo.Partitioner }

func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return topicPartitioner{p.keyed.ForTopic(topic)}
}

type topicPartitioner struct{ keyed kgo.TopicPartitioner }

func pinned(r *kgo.Record) bool {
	return r.Context != nil && r.Context.Value(explicitPartition{}) != nil
}

func (t topicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return pinned(r) || t.keyed.RequiresConsistency(r)
}

func (t topicPartitioner) Partition(r *kgo.Record, n int) int {
	if pinned(r) && int(r.Partition) < n {
		return int(r.Partition)
	}
	return t.keyed.Partition(r, n)
}

// KeyPartition is the partition Kafka's default partitioner gives a
// keyed record among n partitions: (murmur2(key) & 0x7fffffff) % n, as the
// Java client computes it (and librdkafka with partitioner=murmur2_random).
// Every Surge producer places keyed records this way (ClientOpts), so a
// stage reading a keyed topic can tell a record that was put elsewhere. A
// nil key is hashed as an empty one (Kafka spreads null keys instead).
// It is safe for concurrent use.
func KeyPartition(key []byte, n int) int32 {
	if key == nil {
		key = []byte{}
	}
	return int32(murmur2Partitioner.Partition(&kgo.Record{Key: key}, n))
}

// murmur2Partitioner is franz-go's key partitioner with its default
// hasher, Kafka's murmur2. Its Partition is a pure function of key and
// count for a non-nil key.
var murmur2Partitioner = kgo.StickyKeyPartitioner(nil).ForTopic("")

// PartitionCount is how many partitions topic has, from the cluster's
// metadata.
func PartitionCount(ctx context.Context, adm *kadm.Client, topic string) (int, error) {
	details, err := adm.ListTopics(ctx, topic)
	if err == nil {
		err = details.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("describing %s: %w", topic, err)
	}
	n := len(details[topic].Partitions)
	if n == 0 {
		return 0, fmt.Errorf("describing %s: the topic has no partitions", topic)
	}
	return n, nil
}

// ClientMetrics exports a client's own metrics (franz-go's kprom: bytes,
// batches, request latency, connection errors) to reg, labelled
// client=<name>. Each live client needs its own name; a closed client's
// metrics are unregistered, so a replacement may reuse the name. A nil reg
// exports nothing.
func ClientMetrics(reg prometheus.Registerer, name string) kgo.Opt {
	if reg == nil {
		return kgo.WithHooks()
	}
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"client": name}, reg)
	return kgo.WithHooks(kprom.NewMetrics(MetricsNamespace, kprom.Registerer(wrapped)))
}

// MetricsNamespace prefixes the Kafka client metrics.
const MetricsNamespace = "surge_kafka"

// EndOffsets lists topic's end offsets by partition: the high watermarks,
// or with stable the last stable offsets (as far as a read_committed reader
// gets). A topic created a moment ago may not be known to every broker yet
// (a real cluster propagates metadata asynchronously), so "unknown topic"
// and "no leader" are retried until ctx ends; other errors return at once.
func EndOffsets(ctx context.Context, adm *kadm.Client, topic string, stable bool) (map[int32]int64, error) {
	list := adm.ListEndOffsets
	if stable {
		list = adm.ListCommittedOffsets
	}
	for {
		listed, err := list(ctx, topic)
		if err == nil {
			err = listed.Error()
		}
		if err == nil {
			ends := map[int32]int64{}
			listed.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
			return ends, nil
		}
		if !errors.Is(err, kerr.UnknownTopicOrPartition) && !errors.Is(err, kerr.LeaderNotAvailable) && !errors.Is(err, kerr.NotLeaderForPartition) {
			return nil, fmt.Errorf("listing end offsets of %s: %w", topic, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("listing end offsets of %s: %w", topic, errors.Join(err, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
