// Package avroserde reads and writes Kafka record values as Avro in the
// Confluent wire format: a zero magic byte, the writer schema's registry id
// as 4 bytes big-endian, then the Avro binary encoding of the value. Any
// standard Kafka client with a Confluent deserializer reads what it writes.
//
// A Registry wraps a franz-go schema registry client: it registers schemas
// under TopicNameStrategy subjects ("<topic>-value") and caches one goavro
// codec per schema id, fetching the schema of an id it has not seen once.
// A Codec[T] ties a topic, a schema of the schemas module and the conversion
// of a Go type to goavro's native form; it decodes with the writer's schema,
// so records written with older schema versions stay readable.
//
// Decoding errors are classified for dead-letter decisions: ErrNotWireFormat,
// ErrUnknownSchema and ErrUndecodable are permanent (the record will never
// decode); any other error, such as an unreachable registry, is transient.
package avroserde

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// Permanent decoding errors, for use with errors.Is.
var (
	// ErrNotWireFormat: the value is shorter than the 5-byte header or its
	// magic byte is not 0.
	ErrNotWireFormat = errors.New("not in the Confluent wire format")
	// ErrUnknownSchema: the registry says the schema id does not exist
	// (error code 40403).
	ErrUnknownSchema = errors.New("schema id unknown to the registry")
	// ErrUndecodable: the bytes do not decode with the writer schema, or the
	// decoded value does not convert to the Go type, or the writer schema is
	// not a self-contained Avro schema.
	ErrUndecodable = errors.New("undecodable value")
)

const (
	magicByte = 0
	// HeaderLen is the length of the wire-format header: the magic byte and
	// the 4-byte schema id.
	HeaderLen = 5
)

// Subject returns the schema registry subject of the values of topic under
// TopicNameStrategy.
func Subject(topic string) string { return topic + "-value" }

// AppendEncode appends native, encoded with codec, to dst in the wire
// format with schema id id. On error dst is returned unchanged.
func AppendEncode(dst []byte, id int, codec *goavro.Codec, native any) ([]byte, error) {
	if id < 0 || id > math.MaxInt32 {
		return dst, fmt.Errorf("encoding with schema id %d: id out of range", id)
	}
	start := len(dst)
	out, err := codec.BinaryFromNative(AppendHeader(dst, id), native)
	if err != nil {
		return dst[:start], fmt.Errorf("encoding with schema id %d: %w", id, err)
	}
	return out, nil
}

// AppendHeader appends the wire-format header of schema id id (a registry
// id: 0 to math.MaxInt32) to dst.
func AppendHeader(dst []byte, id int) []byte {
	return binary.BigEndian.AppendUint32(append(dst, magicByte), uint32(id))
}

// ParseHeader splits a wire-format value into its schema id and its Avro
// bytes. It fails with ErrNotWireFormat.
func ParseHeader(b []byte) (id int, avro []byte, err error) {
	if len(b) < HeaderLen {
		return 0, nil, fmt.Errorf("decoding wire header: %d bytes, want at least %d: %w", len(b), HeaderLen, ErrNotWireFormat)
	}
	if b[0] != magicByte {
		return 0, nil, fmt.Errorf("decoding wire header: magic byte %d, want %d: %w", b[0], magicByte, ErrNotWireFormat)
	}
	return int(binary.BigEndian.Uint32(b[1:HeaderLen])), b[HeaderLen:], nil
}

// Registry registers schemas and resolves schema ids to codecs, caching
// every codec it has built. It is safe for concurrent use; no lock is held
// while it talks to the registry, and concurrent lookups of one unknown id
// share one request.
type Registry struct {
	cl      *sr.Client
	writers sync.Map // int → *writer

	mu      sync.Mutex
	fetches map[int]*fetch // lookups in progress
}

// writer is what a schema id resolves to.
type writer struct {
	codec *goavro.Codec
	json  *jsonType // for DecodeJSON
}

type fetch struct {
	done chan struct{}
	w    *writer
	err  error
}

// NewRegistry returns a Registry that talks to the schema registry through
// cl.
func NewRegistry(cl *sr.Client) *Registry {
	return &Registry{cl: cl, fetches: map[int]*fetch{}}
}

// Connect returns a Registry for the schema registry at url.
func Connect(url string) (*Registry, error) {
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		return nil, fmt.Errorf("creating registry client: %w", err)
	}
	return NewRegistry(cl), nil
}

// Registrar is a codec whose writer schema can be registered.
type Registrar interface{ Register(context.Context) error }

// RegisterAll registers the schemas of the codecs a process writes with.
func RegisterAll(ctx context.Context, codecs ...Registrar) error {
	for _, c := range codecs {
		if err := c.Register(ctx); err != nil {
			return fmt.Errorf("registering schemas: %w", err)
		}
	}
	return nil
}

// Client returns the schema registry client r uses.
func (r *Registry) Client() *sr.Client { return r.cl }

// Register registers schemaText as an Avro schema under the subject of
// topic's values and returns its id. Registering a schema the subject
// already has returns the existing id; the registry rejects a schema that
// is incompatible with the subject's earlier versions.
func (r *Registry) Register(ctx context.Context, topic, schemaText string) (int, error) {
	w, err := newWriter(schemaText)
	if err != nil {
		return 0, fmt.Errorf("registering schema for topic %s: %w", topic, err)
	}
	subject := Subject(topic)
	id, err := r.cl.RegisterSchema(ctx, subject, sr.Schema{Schema: schemaText, Type: sr.TypeAvro}, -1, -1)
	if err != nil {
		return 0, fmt.Errorf("registering schema under subject %s: %w", subject, err)
	}
	r.writers.LoadOrStore(id, w)
	return id, nil
}

// Codec returns the codec of schema id, fetching the schema from the
// registry the first time. It fails with ErrUnknownSchema when the registry
// does not know the id and with ErrUndecodable when the schema is not a
// self-contained Avro schema; other errors are transient.
func (r *Registry) Codec(ctx context.Context, id int) (*goavro.Codec, error) {
	w, err := r.writer(ctx, id)
	if err != nil {
		return nil, err
	}
	return w.codec, nil
}

// Decode decodes a wire-format value into goavro's native form with the
// schema it was written with, and returns that schema's id. See the package
// documentation for how errors are classified.
func (r *Registry) Decode(ctx context.Context, b []byte) (id int, native any, err error) {
	id, _, native, err = r.decode(ctx, b)
	return id, native, err
}

func (r *Registry) decode(ctx context.Context, b []byte) (int, *writer, any, error) {
	id, payload, err := ParseHeader(b)
	if err != nil {
		return 0, nil, nil, err
	}
	w, err := r.writer(ctx, id)
	if err != nil {
		return id, nil, nil, err
	}
	native, rest, err := w.codec.NativeFromBinary(payload)
	if err != nil {
		return id, nil, nil, fmt.Errorf("decoding value with schema id %d: %w: %w", id, ErrUndecodable, err)
	}
	if len(rest) != 0 {
		return id, nil, nil, fmt.Errorf("decoding value with schema id %d: %w: %d bytes left after the value", id, ErrUndecodable, len(rest))
	}
	return id, w, native, nil
}

func (r *Registry) writer(ctx context.Context, id int) (*writer, error) {
	for {
		if w, ok := r.writers.Load(id); ok {
			return w.(*writer), nil
		}
		r.mu.Lock()
		if w, ok := r.writers.Load(id); ok {
			r.mu.Unlock()
			return w.(*writer), nil
		}
		if f, ok := r.fetches[id]; ok {
			r.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("fetching schema id %d: %w", id, ctx.Err())
			}
			if f.err != nil && ctx.Err() == nil && (errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) {
				continue // the caller that fetched gave up; try with our context
			}
			return f.w, f.err
		}
		f := &fetch{done: make(chan struct{})}
		r.fetches[id] = f
		r.mu.Unlock()

		f.w, f.err = r.fetch(ctx, id)

		r.mu.Lock()
		if f.err == nil {
			r.writers.Store(id, f.w)
		}
		delete(r.fetches, id)
		r.mu.Unlock()
		close(f.done)
		return f.w, f.err
	}
}

func (r *Registry) fetch(ctx context.Context, id int) (*writer, error) {
	s, err := r.cl.SchemaByID(ctx, id)
	if err != nil {
		// Only the registry's own "schema not found" (HTTP 404 with error
		// code 40403) is permanent; a bare 404 more likely comes from a
		// proxy or a wrong URL, and must not send every record to a DLQ.
		if re := (*sr.ResponseError)(nil); errors.As(err, &re) && re.ErrorCode == sr.ErrSchemaNotFound.Code {
			return nil, fmt.Errorf("fetching schema id %d: %w: %w", id, ErrUnknownSchema, err)
		}
		return nil, fmt.Errorf("fetching schema id %d: %w", id, err)
	}
	if s.Type != sr.TypeAvro {
		return nil, fmt.Errorf("fetching schema id %d: %w: schema type is %s, not AVRO", id, ErrUndecodable, s.Type)
	}
	if len(s.References) > 0 {
		return nil, fmt.Errorf("fetching schema id %d: %w: schema references other schemas, which is not supported", id, ErrUndecodable)
	}
	w, err := newWriter(s.Schema)
	if err != nil {
		return nil, fmt.Errorf("fetching schema id %d: %w: %w", id, ErrUndecodable, err)
	}
	return w, nil
}

func newWriter(schemaText string) (*writer, error) {
	codec, err := goavro.NewCodec(schemaText)
	if err != nil {
		return nil, fmt.Errorf("parsing Avro schema: %w", err)
	}
	jt, err := compileJSONType(schemaText)
	if err != nil {
		return nil, fmt.Errorf("parsing Avro schema: %w", err)
	}
	return &writer{codec: codec, json: jt}, nil
}

// goavro sizes an array or map from the count a record declares before
// reading a single item, up to 2^31-1 items by default, so one corrupt
// value under an old or foreign schema id could make a consumer allocate
// tens of GiB and die. No Surge value comes near these bounds: a Kafka
// record is at most a few MiB.
func init() {
	goavro.MaxBlockCount = 1 << 20
	goavro.MaxBlockSize = 16 << 20
}
