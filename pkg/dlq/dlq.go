// Package dlq owns the operator's side of Surge's two dead-letter topics,
// commerce.deliveries.dlq (the dispatcher's) and commerce.events.dlq
// (enrich's and fanout's): statistics, one record shown in full, and
// replays. `surge dlq` and the admin API both call it.
//
// Every read is read_committed and stops at the end offsets seen when it
// started, so a reading never chases records written meanwhile.
//
// A replay sends selected dead letters back to the stage that failed them:
// deliveries to commerce.deliveries (attempt state reset, same delivery id,
// so the webhook-id is unchanged), events to the topic named by their
// surge.dlq.topic header. A replayed record keeps its key, drops the
// surge.dlq.* headers and carries __surge.replay.id and
// __surge.replay.count (the count it had plus one).
//
// A replay is a record in the compacted topic commerce.replays, keyed by
// its id: its selection, the offsets it covers (fixed when it is created,
// so records dead-lettered again by the replay itself are never picked
// up), the next offset to read per partition, and its counts. One
// transactional producer (transactional id surge-replay-<id>) writes the
// replayed records in per-partition order and, in the same transaction,
// the replay's updated record: the position can never disagree with what
// was written, so a replay that is stopped (or killed) and resumed writes
// each selected record exactly once, and resuming fences any earlier run
// of the same replay.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/topics"
)

// Subscriptions looks subscriptions up by id. Get must not block on I/O
// and must be safe for concurrent use (a ktable.Table is both). When it
// also has Sync(ctx) error, a replay syncs it before checking that the
// subscriptions it replays to exist.
type Subscriptions interface {
	Get(id string) (event.Subscription, bool)
}

type syncer interface {
	Sync(ctx context.Context) error
}

// Config is what a Service needs.
type Config struct {
	// Names applies the topic prefix.
	Names topics.Namer
	// ClientOpts are the base client options (kafkax.ClientOpts).
	ClientOpts []kgo.Opt
	// Registry decodes and encodes values.
	Registry *avroserde.Registry
	// Subscriptions is the subscriptions table; replays of deliveries
	// need it to refuse a deleted subscription.
	Subscriptions Subscriptions
	// Log receives one line per replay started, stopped or finished.
	Log *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CommitInterval is the longest a replay's transaction stays open;
	// 0 means 500ms. Each commit moves the replay's position.
	CommitInterval time.Duration
	// MaxTxnRecords bounds the records of one transaction; 0 means 5000.
	MaxTxnRecords int
	// ReplicationFactor is used when commerce.replays must be created;
	// 0 means 1.
	ReplicationFactor int16
}

// Errors a caller tells apart with errors.Is / errors.As.
var (
	// ErrNotFound: no such record or replay.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the replay cannot do that in its state (resume a
	// replay that is done or running, stop one that is not running here).
	ErrConflict = errors.New("conflict")
)

// InvalidError is a selection or argument that cannot be used; Field names
// it as the admin API's JSON does (topic, partitions, from_offset, ...).
type InvalidError struct {
	Field   string
	Message string
}

func (e *InvalidError) Error() string { return e.Field + ": " + e.Message }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// RefusedError is a replay refused because some selected deliveries are
// for subscriptions that no longer exist.
type RefusedError struct {
	// Deleted maps each deleted subscription to the number of selected
	// records for it.
	Deleted map[string]int64
}

func (e *RefusedError) Error() string {
	ids := sortedKeys(e.Deleted)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%s (%d records)", id, e.Deleted[id])
	}
	noun := "subscription " + parts[0] + " was"
	if len(parts) > 1 {
		noun = "subscriptions " + strings.Join(parts, ", ") + " were"
	}
	return "replay refused: " + noun + " deleted; nothing was replayed. Leave those records out (--subscription, --filter) " +
		"or send them to an existing subscription with --to-subscription ID"
}

// Kind says which dead-letter topic a topic is.
type Kind int

// The two dead-letter topics.
const (
	KindDeliveries Kind = iota + 1 // commerce.deliveries.dlq
	KindEvents                     // commerce.events.dlq
)

// Service runs the DLQ operations. It is safe for concurrent use. Close
// stops the replays it runs in the background.
type Service struct {
	cfg    Config
	log    *zap.Logger
	now    func() time.Time
	client *kgo.Client // admin requests only
	adm    *kadm.Client

	deliveries *avroserde.Codec[event.Delivery] // writes commerce.deliveries
	attempts   *avroserde.Codec[event.DeliveryAttempt]
	events     *avroserde.Codec[event.Event]
	enriched   *avroserde.Codec[event.EnrichedEvent]
	replays    *avroserde.Codec[state]

	registerOnce sync.Mutex
	registered   map[string]bool

	mu      sync.Mutex
	running map[string]*background
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// New checks cfg and returns a Service. It does no I/O; the replays topic
// is created by the first call that needs it.
func New(cfg Config) (*Service, error) {
	var errs []error
	if cfg.Registry == nil {
		errs = append(errs, errors.New("dlq: Config.Registry is nil"))
	}
	if cfg.CommitInterval < 0 {
		errs = append(errs, fmt.Errorf("dlq: Config.CommitInterval must not be negative, got %s", cfg.CommitInterval))
	}
	if cfg.MaxTxnRecords < 0 {
		errs = append(errs, fmt.Errorf("dlq: Config.MaxTxnRecords must not be negative, got %d", cfg.MaxTxnRecords))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.CommitInterval == 0 {
		cfg.CommitInterval = 500 * time.Millisecond
	}
	if cfg.MaxTxnRecords == 0 {
		cfg.MaxTxnRecords = 5000
	}
	if cfg.ReplicationFactor == 0 {
		cfg.ReplicationFactor = 1
	}
	cl, err := kgo.NewClient(cfg.ClientOpts...)
	if err != nil {
		return nil, fmt.Errorf("dlq: creating Kafka client: %w", err)
	}
	s := &Service{
		cfg:        cfg,
		log:        cfg.Log,
		now:        cfg.Now,
		client:     cl,
		adm:        kadm.NewClient(cl),
		deliveries: avroserde.NewDeliveryCodec(cfg.Registry, cfg.Names.Name(topics.Deliveries)),
		attempts:   avroserde.NewDeliveryAttemptCodec(cfg.Registry, cfg.Names.Name(topics.DeliveryAttempts)),
		events:     avroserde.NewEventCodec(cfg.Registry, cfg.Names.Name(topics.EventsRaw)),
		enriched:   avroserde.NewEnrichedEventCodec(cfg.Registry, cfg.Names.Name(topics.EventsEnriched)),
		replays:    newStateCodec(cfg.Registry, cfg.Names.Name(topics.Replays)),
		registered: map[string]bool{},
		running:    map[string]*background{},
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	return s, nil
}

// Close stops every replay running in the background (each commits its
// position first) and releases the Kafka client. It is idempotent.
func (s *Service) Close() {
	s.stop()
	s.wg.Wait()
	s.client.Close()
}

// Topic resolves a DLQ topic name as an operator gives it: empty for
// commerce.deliveries.dlq, a base name, or a full (prefixed) name. It
// returns the full name and which DLQ it is.
func (s *Service) Topic(name string) (string, Kind, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = topics.DeliveriesDLQ
	}
	for base, k := range map[string]Kind{topics.DeliveriesDLQ: KindDeliveries, topics.EventsDLQ: KindEvents} {
		full := s.cfg.Names.Name(base)
		if name == base || name == full {
			return full, k, nil
		}
	}
	return "", 0, invalid("topic", "%q is not a dead-letter topic; use %s or %s", name, topics.DeliveriesDLQ, topics.EventsDLQ)
}

// register registers the schema of c once per process (Encode needs it).
func (s *Service) register(ctx context.Context, topic string, reg func(context.Context) error) error {
	s.registerOnce.Lock()
	defer s.registerOnce.Unlock()
	if s.registered[topic] {
		return nil
	}
	if err := reg(ctx); err != nil {
		return err
	}
	s.registered[topic] = true
	return nil
}

// ensureReplaysTopic creates commerce.replays (one partition, compacted)
// when it does not exist.
func (s *Service) ensureReplaysTopic(ctx context.Context) error {
	name := s.cfg.Names.Name(topics.Replays)
	resp, err := s.adm.CreateTopic(ctx, 1, s.cfg.ReplicationFactor, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", name, err)
	}
	return nil
}
