package avroserde

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/linkedin/goavro/v2"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/schemas"
)

// ErrNotRegistered is returned by Codec.Encode before Codec.Register
// succeeded.
var ErrNotRegistered = errors.New("schema not registered")

// Codec encodes and decodes the values of one topic as T. It writes with the
// schema of the schemas module it was built with, once Register has
// registered it; it reads any value whose writer schema the registry knows,
// converting with the writer's schema first, so records written with older
// versions of the schema stay readable.
//
// A Codec is safe for concurrent use; Encode does no I/O, Decode may fetch
// an unknown writer schema from the registry.
//
// The codecs of Event, EnrichedEvent and Delivery, which every event
// passes through, encode and decode values of their registered schema id
// with hand-written code instead of goavro; see WithFast.
type Codec[T any] struct {
	reg        *Registry
	topic      string
	schemaName string
	toNative   func(T) map[string]any
	fromNative func(any) (T, error)
	record     string // full name of the schema's record, e.g. dev.surge.v1.Event
	current    atomic.Pointer[registered]

	// Set by WithFast (fast_codec.go); nil: goavro.
	fastAppend func(dst []byte, v T) []byte
	fastRead   func(avro []byte) (T, error)
}

type registered struct {
	id    int
	codec *goavro.Codec
}

// NewCodec returns a Codec for the values of topic, written with the schema
// called schemaName in the schemas module (e.g. schemas.Event). toNative and
// fromNative convert T to and from goavro's native form; fromNative must
// accept values of every version of the schema. Call Register before
// Encode.
func NewCodec[T any](reg *Registry, topic, schemaName string, toNative func(T) map[string]any, fromNative func(any) (T, error)) *Codec[T] {
	c := &Codec[T]{reg: reg, topic: topic, schemaName: schemaName, toNative: toNative, fromNative: fromNative}
	// An unknown name or a broken schema is reported by Register; Decode
	// then skips the record name check.
	if text, err := schemas.Text(schemaName); err == nil {
		if jt, err := compileJSONType(text); err == nil && jt.kind == "record" {
			c.record = jt.name
		}
	}
	return c
}

// Register registers the codec's schema under the subject of its topic and
// remembers the id Encode writes. It is idempotent.
func (c *Codec[T]) Register(ctx context.Context) error {
	text, err := schemas.Text(c.schemaName)
	if err != nil {
		return fmt.Errorf("registering schema for topic %s: %w", c.topic, err)
	}
	id, err := c.reg.Register(ctx, c.topic, text)
	if err != nil {
		return err
	}
	codec, err := c.reg.Codec(ctx, id) // cached by Register: no I/O
	if err != nil {
		return fmt.Errorf("registering schema for topic %s: %w", c.topic, err)
	}
	c.current.Store(&registered{id: id, codec: codec})
	return nil
}

// Topic returns the topic the codec was built for.
func (c *Codec[T]) Topic() string { return c.topic }

// ID returns the schema id Encode writes, or 0 before Register.
func (c *Codec[T]) ID() int {
	if r := c.current.Load(); r != nil {
		return r.id
	}
	return 0
}

// Encode returns v in the wire format.
func (c *Codec[T]) Encode(v T) ([]byte, error) {
	return c.AppendEncode(nil, v)
}

// AppendEncode appends v in the wire format to dst. On error dst is
// returned unchanged.
func (c *Codec[T]) AppendEncode(dst []byte, v T) ([]byte, error) {
	r := c.current.Load()
	if r == nil {
		return dst, fmt.Errorf("encoding value for topic %s: %w (call Register first)", c.topic, ErrNotRegistered)
	}
	if c.fastAppend != nil {
		return c.appendFast(dst, r.id, v)
	}
	out, err := AppendEncode(dst, r.id, r.codec, c.toNative(v))
	if err != nil {
		return dst, fmt.Errorf("encoding value for topic %s: %w", c.topic, err)
	}
	return out, nil
}

// Decode decodes a wire-format value with its writer's schema and converts
// it to T. Errors are classified as Registry.Decode's; a value written with
// a schema of another record (another full name), or that does not convert
// to T, is ErrUndecodable.
func (c *Codec[T]) Decode(ctx context.Context, b []byte) (T, error) {
	if v, ok, err := c.decodeFast(b); ok {
		return v, err
	}
	var zero T
	id, w, native, err := c.reg.decode(ctx, b)
	if err != nil {
		return zero, err
	}
	if c.record != "" && w.json.name != c.record {
		return zero, fmt.Errorf("decoding value with schema id %d: %w: written as %s, want %s", id, ErrUndecodable, writtenAs(w.json), c.record)
	}
	v, err := c.fromNative(native)
	if err != nil {
		return zero, fmt.Errorf("decoding value with schema id %d: %w: %w", id, ErrUndecodable, err)
	}
	return v, nil
}

// NewEventCodec returns the Codec of Event values (commerce.events.raw).
func NewEventCodec(reg *Registry, topic string) *Codec[event.Event] {
	return NewGeneratedCodec(reg, topic, schemas.Event, Generated[event.Event]{
		Native: event.Event.Native, FromNative: event.EventFromNative, Append: event.AppendEventAvro, FromAvro: event.EventFromAvro})
}

// NewEnrichedEventCodec returns the Codec of EnrichedEvent values
// (commerce.events.enriched).
func NewEnrichedEventCodec(reg *Registry, topic string) *Codec[event.EnrichedEvent] {
	return NewGeneratedCodec(reg, topic, schemas.EnrichedEvent, Generated[event.EnrichedEvent]{
		Native: event.EnrichedEvent.Native, FromNative: event.EnrichedEventFromNative, Append: event.AppendEnrichedEventAvro, FromAvro: event.EnrichedEventFromAvro})
}

// NewSubscriptionCodec returns the Codec of Subscription values
// (commerce.subscriptions).
func NewSubscriptionCodec(reg *Registry, topic string) *Codec[event.Subscription] {
	return NewGeneratedCodec(reg, topic, schemas.Subscription, Generated[event.Subscription]{
		Native: event.Subscription.Native, FromNative: event.SubscriptionFromNative, Append: event.AppendSubscriptionAvro, FromAvro: event.SubscriptionFromAvro})
}

// NewSourceCodec returns the Codec of ingest Source values
// (commerce.sources).
func NewSourceCodec(reg *Registry, topic string) *Codec[catalog.Source] {
	return NewGeneratedCodec(reg, topic, schemas.Source, Generated[catalog.Source]{
		Native: catalog.Source.Native, FromNative: catalog.SourceFromNative, Append: catalog.AppendSourceAvro, FromAvro: catalog.SourceFromAvro})
}

// NewEventTypeCodec returns the Codec of EventType values
// (commerce.event-types).
func NewEventTypeCodec(reg *Registry, topic string) *Codec[catalog.EventType] {
	return NewGeneratedCodec(reg, topic, schemas.EventType, Generated[catalog.EventType]{
		Native: catalog.EventType.Native, FromNative: catalog.EventTypeFromNative, Append: catalog.AppendEventTypeAvro, FromAvro: catalog.EventTypeFromAvro})
}

// NewEntityAliasCodec returns the Codec of EntityAlias values
// (commerce.entity-aliases).
func NewEntityAliasCodec(reg *Registry, topic string) *Codec[catalog.EntityAlias] {
	return NewGeneratedCodec(reg, topic, schemas.EntityAlias, Generated[catalog.EntityAlias]{
		Native: catalog.EntityAlias.Native, FromNative: catalog.EntityAliasFromNative, Append: catalog.AppendEntityAliasAvro, FromAvro: catalog.EntityAliasFromAvro})
}

// NewDeliveryCodec returns the Codec of Delivery values (commerce.deliveries
// and its retry and dead-letter topics).
func NewDeliveryCodec(reg *Registry, topic string) *Codec[event.Delivery] {
	return NewGeneratedCodec(reg, topic, schemas.Delivery, Generated[event.Delivery]{
		Native: event.Delivery.Native, FromNative: event.DeliveryFromNative, Append: event.AppendDeliveryAvro, FromAvro: event.DeliveryFromAvro})
}

// NewDeliveryAttemptCodec returns the Codec of DeliveryAttempt values
// (commerce.delivery-attempts).
func NewDeliveryAttemptCodec(reg *Registry, topic string) *Codec[event.DeliveryAttempt] {
	return NewGeneratedCodec(reg, topic, schemas.DeliveryAttempt, Generated[event.DeliveryAttempt]{
		Native: event.DeliveryAttempt.Native, FromNative: event.DeliveryAttemptFromNative, Append: event.AppendDeliveryAttemptAvro, FromAvro: event.DeliveryAttemptFromAvro})
}

func writtenAs(t *jsonType) string {
	if t.name != "" {
		return t.name
	}
	return t.kind
}
