package main

import (
	"context"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/inspect"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/topics"
)

// How `surge topics` reads the compacted report topics: commerce.stalls
// through pkg/inspect (stalls.go says why the stages report stalls there),
// commerce.backlog here (topics_backlog.go).

// readReports reads the compacted topic base (without the prefix), whose
// values newCodec decodes, to its end: the last value of each key,
// tombstones removing it. A topic that does not exist holds nothing.
func readReports[V any](ctx context.Context, kafka config.Kafka, registryURL, base string, exists bool,
	newCodec func(*avroserde.Registry, string) *avroserde.Codec[V]) (map[string]V, error) {
	topic := topics.Namer{Prefix: kafka.TopicPrefix}.Name(base)
	out := map[string]V{}
	if !exists {
		return out, nil
	}
	reg, err := avroserde.Connect(registryURL)
	if err != nil {
		return nil, err
	}
	return inspect.ReadTable(ctx, kafkax.ClientOpts(kafka, nil), topic, newCodec(reg, topic))
}
