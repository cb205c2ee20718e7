// Package store opens Surge's configuration stores: the compacted topics
// holding subscriptions, sources, event types and entity aliases, each
// tailed into a
// ktable.Table with its Avro codec. The admin API writes through them;
// fanout, the dispatcher, ingest and enrich read them and see a change
// within a fetch, without restarts. It also opens, read-only, the
// dispatchers' backlog reports (commerce.backlog), which the admin API
// shows with each subscription.
package store

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/backlog"
	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/ktable"
	"github.com/surgehq/surge/pkg/observe"
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

// Sources opens the table of commerce.sources, keyed by source id.
func Sources(ctx context.Context, o Options, onChange func(id string, s catalog.Source, deleted bool)) (*ktable.Table[catalog.Source], error) {
	codec := avroserde.NewSourceCodec(o.Registry, o.Names.Name(topics.Sources))
	return open(ctx, o, codec, onChange)
}

// EventTypes opens the table of commerce.event-types, keyed by canonical
// type name, and keeps cat equal to the built-in types overlaid with the
// stored ones (a stored type replaces the built-in of the same name) from
// the moment it returns. A stored set that does not fit together (two
// types claiming one alias) leaves cat as it was and is logged: the admin
// API refuses such a change, so only a foreign write can cause it. A
// stored type that does not validate on its own is left out and logged.
func EventTypes(ctx context.Context, o Options, cat *catalog.Catalog) (*ktable.Table[catalog.EventType], error) {
	codec := avroserde.NewEventTypeCodec(o.Registry, o.Names.Name(topics.EventTypes))
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	var (
		tb     *ktable.Table[catalog.EventType]
		loaded atomic.Bool // set once tb is assigned
	)
	refresh := func() {
		// A stored type that does not validate (written by an older
		// Surge, whose checks were looser, e.g. a data schema that does
		// not compile) is left out rather than freezing every other type.
		var stored []catalog.EventType
		for _, et := range tb.List() {
			if err := et.Validate(); err != nil {
				log.Error("a stored event type does not validate; it is left out of the catalog", zap.String(observe.KeyEventType, et.Name), zap.Error(err))
				continue
			}
			stored = append(stored, et)
		}
		if err := cat.Replace(Merge(catalog.Builtin(), stored)); err != nil {
			log.Error("stored event types do not fit together; the catalog keeps its previous types", zap.Error(err))
		}
	}
	tb, err := open(ctx, o, codec, func(string, catalog.EventType, bool) {
		if loaded.Load() {
			refresh()
		}
	})
	if err != nil {
		return nil, err
	}
	loaded.Store(true)
	refresh()
	return tb, nil
}

// Merge overlays stored event types on the built-in ones by name.
func Merge(builtin, stored []catalog.EventType) []catalog.EventType {
	byName := map[string]int{}
	out := append([]catalog.EventType(nil), builtin...)
	for i, et := range out {
		byName[et.Name] = i
	}
	for _, et := range stored {
		if i, ok := byName[et.Name]; ok {
			out[i] = et
			continue
		}
		byName[et.Name] = len(out)
		out = append(out, et)
	}
	return out
}

// SourceLookup resolves a source id from the table first and then from
// Fallback (the built-in default source), so a fresh deployment takes
// events before any source is configured, and an operator can replace the
// default (give it a signature) by writing source "default".
type SourceLookup struct {
	Table    *ktable.Table[catalog.Source]
	Fallback catalog.Sources
}

// Source implements catalog.Sources.
func (l SourceLookup) Source(id string) (catalog.Source, bool) {
	if s, ok := l.Table.Get(id); ok {
		return s, true
	}
	if l.Fallback != nil {
		return l.Fallback.Source(id)
	}
	return catalog.Source{}, false
}

// Aliases opens the table of commerce.entity-aliases, keyed by
// catalog.AliasKey.
func Aliases(ctx context.Context, o Options) (*ktable.Table[catalog.EntityAlias], error) {
	codec := avroserde.NewEntityAliasCodec(o.Registry, o.Names.Name(topics.EntityAliases))
	return open(ctx, o, codec, nil)
}

// Backlog opens the table of commerce.backlog, keyed "<subscription
// id>/<instance id>" (pkg/backlog). It is read-only whatever o.Writable
// says: only the dispatchers write it.
func Backlog(ctx context.Context, o Options) (*ktable.Table[backlog.Report], error) {
	o.Writable = false
	return open(ctx, o, backlog.NewCodec(o.Registry, o.Names.Name(topics.Backlog)), nil)
}

// AliasLookup resolves entity aliases from the aliases table. A miss is
// looked up again once the table holds every alias acknowledged before
// the call (one round trip, shared by concurrent misses), so an alias the
// admin API stored a moment ago is found, and an event refused for want of
// one was refused with the table up to date.
type AliasLookup struct {
	Table *ktable.Table[catalog.EntityAlias]
}

// Alias returns the entity id senderID stands for among source's
// entityType entities; ok is false when there is no such alias. err is
// non-nil when the table could not be brought up to date.
func (l AliasLookup) Alias(ctx context.Context, source, entityType, senderID string) (entityID string, ok bool, err error) {
	key := catalog.AliasKey(source, entityType, senderID)
	if a, ok := l.Table.Get(key); ok {
		return a.EntityID, true, nil
	}
	if err := l.Table.Sync(ctx); err != nil {
		return "", false, fmt.Errorf("reading entity aliases: %w", err)
	}
	if a, ok := l.Table.Get(key); ok {
		return a.EntityID, true, nil
	}
	return "", false, nil
}

// Live is the view of sources and event types a service reads: both
// tables tailed, the catalog kept current, sources resolved through the
// table with the built-in default source as fallback.
type Live struct {
	Sources    SourceLookup
	Catalog    *catalog.Catalog
	sources    *ktable.Table[catalog.Source]
	eventTypes *ktable.Table[catalog.EventType]
}

// OpenLive opens both tables (read-only unless o.Writable). The topics
// must exist.
func OpenLive(ctx context.Context, o Options) (*Live, error) {
	l := &Live{Catalog: catalog.New(catalog.Builtin()...)}
	var err error
	if l.sources, err = Sources(ctx, o, nil); err != nil {
		return nil, fmt.Errorf("loading sources: %w", err)
	}
	if l.eventTypes, err = EventTypes(ctx, o, l.Catalog); err != nil {
		l.sources.Close()
		return nil, fmt.Errorf("loading event types: %w", err)
	}
	l.Sources = SourceLookup{Table: l.sources, Fallback: catalog.StaticSources{catalog.DefaultSourceID: catalog.DefaultSource()}}
	return l, nil
}

// OpenMissing is how a service that may be given its sources and
// catalog (tests, `surge dev`) gets the ones it was not given: when either
// is nil it opens the live tables (OpenLive) and returns them in place of
// the nil ones; live is then the caller's to close, and nil when both were
// given.
func OpenMissing(ctx context.Context, o Options, sources catalog.Sources, cat *catalog.Catalog) (live *Live, _ catalog.Sources, _ *catalog.Catalog, err error) {
	if sources != nil && cat != nil {
		return nil, sources, cat, nil
	}
	if live, err = OpenLive(ctx, o); err != nil {
		return nil, nil, nil, err
	}
	if sources == nil {
		sources = live.Sources
	}
	if cat == nil {
		cat = live.Catalog
	}
	return live, sources, cat, nil
}

// SourceTable is the sources table (the admin API writes through it).
func (l *Live) SourceTable() *ktable.Table[catalog.Source] { return l.sources }

// EventTypeTable is the event types table (the admin API writes through
// it).
func (l *Live) EventTypeTable() *ktable.Table[catalog.EventType] { return l.eventTypes }

// Close stops tailing both tables.
func (l *Live) Close() {
	l.eventTypes.Close()
	l.sources.Close()
}

// All is every configuration table of one process.
type All struct {
	Subscriptions *ktable.Table[event.Subscription]
	Aliases       *ktable.Table[catalog.EntityAlias]
	Backlog       *ktable.Table[backlog.Report] // read-only
	*Live
}

// OpenAll creates Surge's topics if missing and opens every configuration
// table through the registry at registryURL; writable tables are for the
// admin API.
func OpenAll(ctx context.Context, kafka config.Kafka, registryURL string, log *zap.Logger, writable bool) (*All, error) {
	cl, err := kafkax.Open(ctx, kafka, log, topics.DefaultDedupWindow)
	if err != nil {
		return nil, err
	}
	cl.Close() // only needed the topics to exist
	reg, err := avroserde.Connect(registryURL)
	if err != nil {
		return nil, err
	}
	o := Options{
		Names:      topics.Namer{Prefix: kafka.TopicPrefix},
		ClientOpts: kafkax.ClientOpts(kafka, log),
		Registry:   reg,
		Log:        log,
		Writable:   writable,
	}
	a := &All{}
	if a.Subscriptions, err = Subscriptions(ctx, o, nil); err != nil {
		return nil, fmt.Errorf("loading subscriptions: %w", err)
	}
	if a.Aliases, err = Aliases(ctx, o); err != nil {
		a.Subscriptions.Close()
		return nil, fmt.Errorf("loading entity aliases: %w", err)
	}
	if a.Backlog, err = Backlog(ctx, o); err != nil {
		a.Aliases.Close()
		a.Subscriptions.Close()
		return nil, fmt.Errorf("loading the dispatchers' backlog reports: %w", err)
	}
	if a.Live, err = OpenLive(ctx, o); err != nil {
		a.Backlog.Close()
		a.Aliases.Close()
		a.Subscriptions.Close()
		return nil, err
	}
	return a, nil
}

// Close stops tailing every table.
func (a *All) Close() {
	a.Live.Close()
	a.Backlog.Close()
	a.Aliases.Close()
	a.Subscriptions.Close()
}
