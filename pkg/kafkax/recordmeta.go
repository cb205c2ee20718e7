package kafkax

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// RecordMeta is where a record is and what it carries besides its value,
// as Surge's tools show a record in JSON (surge tap, pkg/dlq's dead
// letters): the key and the header values as text.
type RecordMeta struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp time.Time         `json:"timestamp"`
	Key       *string           `json:"key"` // null for a record without a key
	Headers   map[string]string `json:"headers"`
}

// MetaOf is r's RecordMeta, its timestamp in UTC. Of two headers with one
// key, the later is kept.
func MetaOf(r *kgo.Record) RecordMeta {
	m := RecordMeta{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp.UTC(),
		Headers:   make(map[string]string, len(r.Headers)),
	}
	if r.Key != nil {
		k := string(r.Key)
		m.Key = &k
	}
	for _, h := range r.Headers {
		m.Headers[h.Key] = string(h.Value)
	}
	return m
}
