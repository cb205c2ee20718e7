package dlq_test

import (
	"context"
	"errors"
	"hash/crc32"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/dlq"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// TestReplaySendsAMisroutedRecordToItsKeysPartition: a record a stage
// dead-lettered as misrouted goes back to the partition its key hashes to
// (sent back where it was, it would only be misrouted again); any other
// dead letter keeps the partition it came from.
func TestReplaySendsAMisroutedRecordToItsKeysPartition(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	raw := e.names.Name(topics.EventsRaw)
	var key string
	for i := 1; ; i++ {
		key = "order:SPLIT-" + strconv.Itoa(i)
		if int32(kgo.SaramaHasher(crc32.ChecksumIEEE)([]byte(key), partitions)) != kafkax.KeyPartition([]byte(key), partitions) {
			break
		}
	}
	right := kafkax.KeyPartition([]byte(key), partitions)
	wrong := int32(kgo.SaramaHasher(crc32.ChecksumIEEE)([]byte(key), partitions))
	now := time.Now()
	letter := func(id, class string, from int32) *kgo.Record {
		src := &kgo.Record{Topic: raw, Partition: from, Offset: 3, Key: []byte(key),
			Headers: []kgo.RecordHeader{{Key: topics.HeaderEventID, Value: []byte(id)}}}
		h := stream.DeadLetterHeaders(src, "enrich", class, errors.New(class), 1, now, now)
		return kafkax.WithPartition(&kgo.Record{Topic: e.names.Name(topics.EventsDLQ), Key: src.Key, Value: []byte("value of " + id), Headers: h}, from)
	}
	if err := e.cl.ProduceSync(ctx, letter("ev-misrouted", stream.ClassMisrouted, wrong), letter("ev-invalid", stream.ClassInvalid, wrong)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r, _, err := e.svc.Create(ctx, dlq.Selection{Topic: topics.EventsDLQ}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := r.Run(ctx, nil); err != nil || st.Replayed != 2 {
		t.Fatalf("replay: %+v %v", st, err)
	}
	got := map[string]int32{}
	for _, rec := range e.c.ReadCommitted(t, raw) {
		if stream.Header(rec, topics.HeaderReplayID) == r.ID() {
			got[stream.Header(rec, topics.HeaderEventID)] = rec.Partition
		}
	}
	if got["ev-misrouted"] != right || got["ev-invalid"] != wrong || len(got) != 2 {
		t.Fatalf("replayed to partitions %v, want ev-misrouted on its key's %d and ev-invalid back on %d", got, right, wrong)
	}
}
