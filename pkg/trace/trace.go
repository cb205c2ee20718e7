// Package trace follows one event through what the pipeline wrote about
// it in Kafka: the raw record ingest wrote, the enriched record (and the
// events enrich derived from it, or its dead letter), each delivery fanout
// made, the dispatcher's parked copies, every HTTP attempt and the dead
// letters, ordered by time, and one summary per subscription of what came
// of its delivery. `surge trace` prints it; the admin API answers it as
// JSON (GET /v1/trace) for the console's trace page.
//
// A trace reads every topic from one minute before the time in the event's
// ksuid (from the beginning for an id that is not a ksuid) up to the end
// offsets seen at its start, read_committed, bounded by its context.
package trace

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/segmentio/ksuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/topics"
)

// ErrNoRecord is Event's error when no topic holds a record of the event;
// ErrPartial (in a *PartialError) when its context ended with part of the
// trace read.
var (
	ErrNoRecord = errors.New("no record of event")
	ErrPartial  = errors.New("the search gave up")
)

// PartialError is Event's error when its context ended before every topic
// was read to its end; the trace returned with it holds what was found.
type PartialError struct {
	ID         string
	TopicsRead int // topics read to their end (or skipped)
	Topics     int
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("searching for event %s: %v with %d of %d topics read to their end", e.ID, ErrPartial, e.TopicsRead, e.Topics)
}

// Is makes errors.Is(err, ErrPartial) true.
func (e *PartialError) Is(target error) bool { return target == ErrPartial }

// Config is a Tracer's settings.
type Config struct {
	// Names gives the topics' and groups' prefix.
	Names topics.Namer
	// ClientOpts are the Kafka clients' options (kafkax.ClientOpts).
	ClientOpts []kgo.Opt
	// Registry decodes the records; required.
	Registry *avroserde.Registry
}

// Tracer reads traces from Kafka. It is safe for concurrent use; every
// method blocks on Kafka, bounded by its context.
type Tracer struct {
	cfg    Config
	client *kgo.Client
	adm    *kadm.Client
}

// New checks cfg and returns a Tracer; it does no I/O.
func New(cfg Config) (*Tracer, error) {
	if cfg.Registry == nil {
		return nil, errors.New("trace: Config.Registry is nil")
	}
	cl, err := kgo.NewClient(cfg.ClientOpts...)
	if err != nil {
		return nil, fmt.Errorf("trace: creating Kafka client: %w", err)
	}
	return &Tracer{cfg: cfg, client: cl, adm: kadm.NewClient(cl)}, nil
}

// Close releases the Kafka client.
func (t *Tracer) Close() { t.client.Close() }

// Options are what one search reports and includes.
type Options struct {
	// Note, when set, receives remarks on the search ("topic X does not
	// exist; skipped"), without a trailing newline.
	Note func(string)
	// Progress, when set, is told how far the reading is.
	Progress Progress
	// Details adds to the steps what a person looking at one delivery
	// wants and a script's table does not: the delivered body, the
	// headers each attempt sent (as far as the records say) and the
	// response's headers and body start.
	Details bool
}

// Progress is told how far a search is. Its methods are called from the
// reading goroutines.
type Progress interface {
	// TopicsDone is called with n topics read to their end or skipped.
	TopicsDone(n int)
	// Record is called for each record read.
	Record()
	// ReadDone is called once the reading ended.
	ReadDone()
}

// Trace is what reading the topics found about one event.
type Trace struct {
	// EventID is the Surge id of the event traced.
	EventID string `json:"event_id"`
	// AcceptedAt is the time in the id's ksuid (when ingest accepted it);
	// nil when the id is not a ksuid.
	AcceptedAt *time.Time `json:"accepted_at,omitempty"`
	// SearchedFrom is where the reading started; nil: the beginning.
	SearchedFrom *time.Time `json:"searched_from,omitempty"`
	// Steps are the records about the event, ordered by time.
	Steps []Step `json:"steps"`
	// Summary is one step per subscription the event was delivered to,
	// or one without a subscription when there is no delivery.
	Summary []Step `json:"summary"`
	// Partial says the search gave up before reading every topic to its
	// end (its context ended); the steps are what was found.
	Partial bool `json:"partial,omitempty"`
}

// progress counts the topics read and passes the counts on.
type progress struct {
	done int64 // atomic
	to   Progress
}

func (p *progress) topicsDone(n int) {
	if p == nil {
		return
	}
	atomic.AddInt64(&p.done, int64(n))
	if p.to != nil {
		p.to.TopicsDone(n)
	}
}

func (p *progress) record() {
	if p != nil && p.to != nil {
		p.to.Record()
	}
}

func (p *progress) readDone() {
	if p != nil && p.to != nil {
		p.to.ReadDone()
	}
}

// Event reads every topic for the event with Surge id id and returns its
// trace. Its errors wrap ErrNoRecord (nothing found) or are a
// *PartialError (the context ended; the trace holds what was found).
func (t *Tracer) Event(ctx context.Context, id string, opts Options) (*Trace, error) {
	note := opts.Note
	if note == nil {
		note = func(string) {}
	}
	from, minted := From(id, time.Now())
	if minted.IsZero() {
		note(id + " is not a ksuid; searching every topic from the beginning")
	}
	names := t.cfg.Names
	reg := t.cfg.Registry
	m := &matcher{
		id:      id,
		names:   names,
		base:    map[string]string{},
		subs:    map[string][]byte{},
		details: opts.Details,
	}
	m.events = avroserde.NewEventCodec(reg, names.Name(topics.EventsRaw))
	m.enriched = avroserde.NewEnrichedEventCodec(reg, names.Name(topics.EventsEnriched))
	m.deliveries = avroserde.NewDeliveryCodec(reg, names.Name(topics.Deliveries))
	m.attempts = avroserde.NewDeliveryAttemptCodec(reg, names.Name(topics.DeliveryAttempts))
	m.subCodec = avroserde.NewSubscriptionCodec(reg, names.Name(topics.Subscriptions))
	full := make([]string, len(Topics))
	for i, b := range Topics {
		full[i] = names.Name(b)
		m.base[full[i]] = b
	}

	p, err := planRead(ctx, t.adm, full, from, names.Name(topics.Subscriptions))
	if err != nil {
		return nil, err
	}
	for _, mt := range p.missing {
		note("topic " + mt + " does not exist; skipped")
	}
	prog := &progress{to: opts.Progress}
	prog.topicsDone(len(full) - len(p.ranges)) // missing, or nothing after from

	readErr := readPlan(ctx, t.cfg.ClientOpts, p, prog, m.match)
	prog.readDone()
	if readErr != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, readErr
	}
	// Decoding subscriptions and asking consumer groups may outlive an
	// ended context by a little, so a partial trace is still shown.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer rcancel()
	res := m.result(rctx, t.adm)
	if !minted.IsZero() {
		res.AcceptedAt = &minted
	}
	if !from.IsZero() {
		res.SearchedFrom = &from
	}
	if readErr != nil {
		res.Partial = true
		return res, &PartialError{ID: id, TopicsRead: int(atomic.LoadInt64(&prog.done)), Topics: len(full)}
	}
	if len(res.Steps) == 0 {
		return nil, fmt.Errorf("%w %s on any topic (searched from %s)", ErrNoRecord, id, DescribeFrom(from))
	}
	return res, nil
}

// From is where the search for id starts: a minute before the time in
// the event's ksuid (ingest minted it when it accepted the event; the
// minute covers clocks that disagree), and that time. A zero time means
// from the beginning: the id is not a ksuid, or its time is implausibly
// in the future.
func From(id string, now time.Time) (from, minted time.Time) {
	k, err := ksuid.Parse(id)
	if err != nil {
		return time.Time{}, time.Time{}
	}
	minted = k.Time()
	if minted.After(now.Add(time.Hour)) {
		return time.Time{}, time.Time{}
	}
	return minted.Add(-time.Minute), minted
}

// DescribeFrom is where a search started, for people.
func DescribeFrom(from time.Time) string {
	if from.IsZero() {
		return "the beginning"
	}
	return from.UTC().Format(time.RFC3339)
}

// FormatTime is a step's time as traces print it: UTC, milliseconds.
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
