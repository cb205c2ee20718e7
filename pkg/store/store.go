// Package store opens Surge's configuration stores: the compacted topics
// holding subscriptions, sources and event types, each tailed into a
// ktable.Table with its Avro codec. The admin API writes through them;
// fanout, the dispatcher, ingest and enrich read them and see a change
// within a fetch, without restarts.
package store

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/ktable"
	"github.com/surgehq/surge/pkg/topics"
)

// Options say how to reach the topics.
type Options struct {
	Names      topics.Namer
	ClientOpts []kgo.Opt // kafkax.ClientOpts
	Registry   *avroserde.Registry
	Log        *zap.Logger
	// Writable registers the value schemas and lets the tables write;
	// readers (every service but the admin API) leave it false.
	Writable bool
}

// Subscriptions opens the table of commerce.subscriptions, keyed by
// subscription id. The topic must exist (kafkax.EnsureTopics).
func Subscriptions(ctx context.Context, o Options, onChange func(id string, s event.Subscription, deleted bool)) (*ktable.Table[event.Subscription], error) {
	codec := avroserde.NewSubscriptionCodec(o.Registry, o.Names.Name(topics.Subscriptions))
	return open(ctx, o, codec, onChange)
}

// codec is what a table needs of an avroserde.Codec.
type codec[V any] interface {
	Topic() string
	Register(ctx context.Context) error
	Encode(v V) ([]byte, error)
	Decode(ctx context.Context, b []byte) (V, error)
}

func open[V any](ctx context.Context, o Options, c codec[V], onChange func(string, V, bool)) (*ktable.Table[V], error) {
	cfg := ktable.Config[V]{
		Topic:      c.Topic(),
		ClientOpts: o.ClientOpts,
		Decode:     func(ctx context.Context, _ string, b []byte) (V, error) { return c.Decode(ctx, b) },
		OnChange:   onChange,
		Log:        o.Log,
	}
	if o.Writable {
		if err := c.Register(ctx); err != nil {
			return nil, fmt.Errorf("registering the schema of %s: %w", c.Topic(), err)
		}
		cfg.Encode = c.Encode
	}
	return ktable.Open(ctx, cfg)
}
