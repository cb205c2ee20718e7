package kafkax

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/config"
)

// Kafka's Java client hashes keys with murmur2 and takes
// (hash & 0x7fffffff) % partitions. These hashes are the reference values
// of Kafka's own murmur2 tests, so a Java, Python or kcat producer puts
// the same key on the same partition as Surge.
func TestKeysLandWhereJavaPutsThem(t *testing.T) {
	cases := []struct {
		key  string
		hash int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	}
	p := partitioner{kgo.StickyKeyPartitioner(nil)}.ForTopic("t")
	for _, n := range []int{1, 3, 6, 12, 50} {
		for _, tc := range cases {
			want := int(uint32(tc.hash)&0x7fffffff) % n
			got := p.Partition(&kgo.Record{Key: []byte(tc.key)}, n)
			if got != want {
				t.Errorf("key %q over %d partitions: got %d, want %d", tc.key, n, got, want)
			}
			// KeyPartition is what stages check their input against.
			if got := KeyPartition([]byte(tc.key), n); int(got) != want {
				t.Errorf("KeyPartition(%q, %d) = %d, want %d", tc.key, n, got, want)
			}
		}
	}
}

func TestWithPartitionPinsTheRecord(t *testing.T) {
	p := partitioner{kgo.StickyKeyPartitioner(nil)}.ForTopic("t")
	r := WithPartition(&kgo.Record{Key: []byte("abc"), Context: context.Background()}, 4)
	if got := p.Partition(r, 6); got != 4 {
		t.Fatalf("pinned record went to %d, want 4", got)
	}
	if !p.RequiresConsistency(r) {
		t.Fatal("a pinned record must not be moved")
	}
	// A pin past the partition count falls back to the key hash rather
	// than producing to a partition that does not exist.
	r = WithPartition(&kgo.Record{Key: []byte("abc")}, 9)
	if got, want := p.Partition(r, 6), int(uint32(479470107)&0x7fffffff)%6; got != want {
		t.Fatalf("out-of-range pin: got %d, want the hashed %d", got, want)
	}
}

func TestClientOptsBuildAClient(t *testing.T) {
	cl, err := kgo.NewClient(ClientOpts(config.Kafka{Brokers: []string{"127.0.0.1:1"}, ClientID: "x"}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if acks := cl.OptValue(kgo.RequiredAcks); acks != kgo.AllISRAcks() {
		t.Fatalf("acks %v, want all in-sync replicas", acks)
	}
}
