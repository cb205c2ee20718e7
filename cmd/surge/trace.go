package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/segmentio/ksuid"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

type traceConfig struct {
	Kafka    config.Kafka
	Registry config.Registry
	JSON     bool
	Timeout  time.Duration
	// OriginSource and OriginType narrow a search by the sender's id to
	// the events whose origin has this source or type.
	OriginSource, OriginType string
}

func newTraceCommand() *cobra.Command {
	var c traceConfig
	cmd := &cobra.Command{
		Use:   "trace EVENT_ID|SENDER_ID",
		Short: "Show an event's journey from ingest through each delivery attempt",
		Long: `Show everything the pipeline wrote about one event, ordered by time: the raw
record ingest wrote, the enriched record (and events enrich derived from it,
or its dead letter), each delivery fanout made, the dispatcher's parked
copies, every HTTP attempt and dead letters; then one summary line per
subscription: delivered, retrying, held, dead-lettered or not delivered yet.

Event ids are ksuids minted at ingest, so every topic is read from one
minute before the id's time, not from its start (an id that is not a ksuid
is searched from the beginning), up to the end offsets seen at start, with
read_committed. --json prints one JSON object per step instead of a table.
It exits 1 when no topic holds a record of the event.

The event can also be named by its sender's own id: a CloudEvent's id,
an Adobe uid or the canonical envelope's id (the webhook body's
origin.id). Such an id is looked up among the origins on
commerce.events.raw (read from its start) when it is not a ksuid, when
--origin-source or --origin-type is given, or when no event has it as its
Surge id; the event found is traced. An id several events share (two
senders, or the same CloudEvent sent again after the dedup window) is
listed and must be narrowed with --origin-source/--origin-type, or traced
by one of the Surge ids listed.`,
		Example: `  surge trace 2vN3qLmO5yH0fX8pU1sKc9dTz4e
  surge trace 2vN3qLmO5yH0fX8pU1sKc9dTz4e --json | jq 'select(.stage == "summary")'
  surge trace 018e32f9-dfe4-760e-a273-5da1c089dfdb --origin-source pim`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := config.BindEnv(cmd.Flags()); err != nil {
				return cli.ConfigError{Err: err}
			}
			errs := []error{c.Kafka.Validate(), c.Registry.Validate(), config.ValidatePositive("timeout", c.Timeout)}
			if strings.TrimSpace(args[0]) == "" {
				errs = append(errs, errors.New("EVENT_ID is empty"))
			}
			if err := errors.Join(errs...); err != nil {
				return cli.ConfigError{Err: err}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return trace(ctx, c, strings.TrimSpace(args[0]), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&c.Kafka.Brokers, "brokers", []string{"127.0.0.1:9092"}, "Kafka seed brokers")
	fs.StringVar(&c.Kafka.TopicPrefix, "topic-prefix", "", "prefix of every Surge topic name")
	c.Registry.Flags(fs)
	fs.BoolVar(&c.JSON, "json", false, "print one JSON object per step (for scripts) instead of a table")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "give up searching after this long")
	fs.StringVar(&c.OriginSource, "origin-source", "", "find the event by its sender's id among events whose origin source is this (a CloudEvent's source)")
	fs.StringVar(&c.OriginType, "origin-type", "", "find the event by its sender's id among events whose origin type is this (the type as the sender named it)")
	c.Kafka.Partitions, c.Kafka.ReplicationFactor = 1, 1
	return cmd
}

// traceTopics are the topics trace reads, in pipeline order. The
// subscriptions table is read for the current state of the subscriptions
// the event was delivered to (paused, disabled, deleted, URL).
var traceTopics = []string{
	topics.EventsRaw,
	topics.EventsEnriched,
	topics.EventsDLQ,
	topics.Deliveries,
	topics.DeliveriesRetry,
	topics.DeliveryAttempts,
	topics.DeliveriesDLQ,
	topics.Subscriptions,
}

// Stages of a trace step, in pipeline order.
const (
	stageIngest     = "ingest"
	stageEnrich     = "enrich"
	stageFanout     = "fanout"
	stageDispatcher = "dispatcher"
	stageSummary    = "summary"
)

var stageRank = map[string]int{stageIngest: 0, stageEnrich: 1, stageFanout: 2, stageDispatcher: 3, stageSummary: 4}

// Kinds of a trace step.
const (
	kindEvent      = "event"       // the event itself, raw or enriched
	kindDerived    = "derived"     // an event enrich made from it (surge.causation-id)
	kindDeadLetter = "dead_letter" // on commerce.events.dlq or commerce.deliveries.dlq
	kindDelivery   = "delivery"    // fanout's Delivery
	kindParked     = "parked"      // the dispatcher's copy on the retry topic
	kindAttempt    = "attempt"     // one HTTP attempt
)

// Results of a subscription's summary line.
const (
	resultDelivered    = "delivered"
	resultRetrying     = "retrying"
	resultHeld         = "held"
	resultDeadLettered = "dead_lettered"
	resultPending      = "not_delivered_yet"
	resultNoDeliveries = "no_deliveries"
)

// traceStep is one line of a trace, and one JSON object with --json.
type traceStep struct {
	Time      time.Time `json:"time"`
	Stage     string    `json:"stage"`
	Kind      string    `json:"kind,omitempty"`
	Topic     string    `json:"topic,omitempty"`
	Partition *int32    `json:"partition,omitempty"`
	Offset    *int64    `json:"offset,omitempty"`

	EventID       string       `json:"event_id,omitempty"`
	EventType     string       `json:"event_type,omitempty"`
	EntityKey     string       `json:"entity_key,omitempty"`
	Source        string       `json:"source,omitempty"`
	ReceivedAt    *time.Time   `json:"received_at,omitempty"`
	EntityVersion int64        `json:"entity_version,omitempty"`
	Changes       []string     `json:"changes,omitempty"`
	Flags         []string     `json:"flags,omitempty"`
	Deleted       bool         `json:"deleted,omitempty"`
	Warnings      []string     `json:"warnings,omitempty"` // what enrich could not use: "code field"
	Origin        *traceOrigin `json:"origin,omitempty"`   // the sender's identity of the event (ingest steps)

	SubscriptionID string     `json:"subscription_id,omitempty"`
	DeliveryID     string     `json:"delivery_id,omitempty"` // the webhook-id
	Attempt        int32      `json:"attempt,omitempty"`     // an attempt's number
	Attempts       int32      `json:"attempts,omitempty"`    // attempts made so far (parked copies, dead letters, summaries)
	Status         int32      `json:"status,omitempty"`      // HTTP status; 0: none
	Outcome        string     `json:"outcome,omitempty"`
	DurationMS     float64    `json:"duration_ms,omitempty"`
	Error          string     `json:"error,omitempty"`
	NextAttemptAt  *time.Time `json:"next_attempt_at,omitempty"`

	DeadLetter *traceDeadLetter `json:"dead_letter,omitempty"`

	Result string `json:"result,omitempty"` // summary lines
	URL    string `json:"url,omitempty"`
	Detail string `json:"detail,omitempty"`

	ValueError string `json:"value_error,omitempty"` // the value did not decode
}

// traceOrigin is the sender's identity of an event (event.Origin).
type traceOrigin struct {
	Format   string `json:"format"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Source   string `json:"source"`
	EntityID string `json:"entity_id"`
}

func traceOriginOf(o event.Origin) *traceOrigin {
	if o.IsZero() {
		return nil
	}
	return &traceOrigin{Format: o.Format, ID: o.ID, Type: o.Type, Source: o.Source, EntityID: o.EntityID}
}

// traceDeadLetter is what the surge.dlq.* headers of a dead letter say.
type traceDeadLetter struct {
	Stage        string `json:"stage,omitempty"`
	Class        string `json:"class,omitempty"`
	Error        string `json:"error,omitempty"`
	Attempts     string `json:"attempts,omitempty"`
	HTTPStatus   string `json:"http_status,omitempty"`
	FromTopic    string `json:"from_topic,omitempty"`
	FromPart     string `json:"from_partition,omitempty"`
	FromOffset   string `json:"from_offset,omitempty"`
	FirstFailure string `json:"first_failure,omitempty"`
	LastFailure  string `json:"last_failure,omitempty"`
}

// subState is a subscription's current state in commerce.subscriptions.
type subState struct {
	Found, Deleted, Enabled, Paused bool
	URL, DisabledReason             string
}

// traceSearch is what reading the topics found: the steps in order, the
// summary lines last.
type traceSearch struct {
	id     string
	from   time.Time // zero: from the beginning
	minted time.Time // the id's ksuid time; zero when it is not a ksuid
	steps  []traceStep
}

func trace(ctx context.Context, c traceConfig, id string, out, errOut io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	started := time.Now()

	stderr := &lockedWriter{w: errOut}
	prog := startTraceProgress(stderr, len(traceTopics), started)
	defer prog.stop()

	srCl, err := sr.NewClient(sr.URLs(c.Registry.URL))
	if err != nil {
		return fmt.Errorf("creating registry client: %w", err)
	}
	admCl, err := kgo.NewClient(kafkax.ClientOpts(c.Kafka, nil)...)
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	reg := avroserde.NewRegistry(srCl)
	names := topics.Namer{Prefix: c.Kafka.TopicPrefix}

	// An id that is not Surge's own, or whose origin is given, is first
	// looked for as a sender's id.
	_, minted := traceFrom(id, started)
	bySender := minted.IsZero() || c.OriginSource != "" || c.OriginType != ""
	if bySender {
		found, err := findBySenderID(ctx, c, adm, reg, names, id, stderr)
		if err != nil {
			return err
		}
		if found != "" {
			id = found
		} else if c.OriginSource != "" || c.OriginType != "" {
			return fmt.Errorf("no event on %s has sender's id %s%s", names.Name(topics.EventsRaw), id, describeOriginFilter(c))
		}
	}
	res, err := traceEvent(ctx, c, adm, reg, names, id, started, stderr, prog)
	if errors.Is(err, errNoRecord) && !bySender {
		// A ksuid may be a sender's id too (a shop that mints ksuids).
		found, ferr := findBySenderID(ctx, c, adm, reg, names, id, stderr)
		if ferr != nil {
			return ferr
		}
		if found != "" {
			res, err = traceEvent(ctx, c, adm, reg, names, found, started, stderr, prog)
		}
	}
	if err != nil && !errors.Is(err, errPartial) {
		return err
	}
	if res != nil && len(res.steps) > 0 {
		if perr := printTrace(out, *res, res.minted, c.JSON); perr != nil {
			return perr
		}
	}
	return err
}

// errNoRecord is traceEvent's error when no topic holds a record of the
// event; errPartial when it gave up (--timeout) with part of the trace.
var (
	errNoRecord = errors.New("no record of event")
	errPartial  = errors.New("the search gave up")
)

// traceEvent reads every topic for the event with Surge id id and returns
// its steps. Its errors wrap errNoRecord (nothing found) or errPartial
// (gave up, res holds what was found).
func traceEvent(ctx context.Context, c traceConfig, adm *kadm.Client, reg *avroserde.Registry, names topics.Namer, id string,
	started time.Time, stderr *lockedWriter, prog *traceProgress) (*traceSearch, error) {
	from, minted := traceFrom(id, started)
	if minted.IsZero() {
		stderr.printf("note: %s is not a ksuid; searching every topic from the beginning\n", id)
	}
	t := &tracer{
		id:    id,
		names: names,
		base:  map[string]string{},
		subs:  map[string][]byte{},
	}
	t.events = avroserde.NewEventCodec(reg, names.Name(topics.EventsRaw))
	t.enriched = avroserde.NewEnrichedEventCodec(reg, names.Name(topics.EventsEnriched))
	t.deliveries = avroserde.NewDeliveryCodec(reg, names.Name(topics.Deliveries))
	t.attempts = avroserde.NewDeliveryAttemptCodec(reg, names.Name(topics.DeliveryAttempts))
	t.subCodec = avroserde.NewSubscriptionCodec(reg, names.Name(topics.Subscriptions))
	full := make([]string, len(traceTopics))
	for i, b := range traceTopics {
		full[i] = names.Name(b)
		t.base[full[i]] = b
	}

	plan, err := planTrace(ctx, adm, full, from, names.Name(topics.Subscriptions))
	if err != nil {
		return nil, err
	}
	for _, m := range plan.missing {
		stderr.printf("note: topic %s does not exist; skipped\n", m)
	}
	prog.add(len(full) - len(plan.ranges)) // missing, or nothing after from

	readErr := readPlan(ctx, c.Kafka, plan, prog, t.match)
	prog.stop()
	if readErr != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, readErr
	}
	// Decoding subscriptions and asking consumer groups may outlive an
	// expired --timeout by a little, so a partial trace is still shown.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer rcancel()
	res := t.result(rctx, adm, from)
	res.minted = minted
	if readErr != nil {
		found := "nothing found so far"
		if len(res.steps) > 0 {
			found = "what was found so far is shown"
		}
		return &res, fmt.Errorf("searching for event %s: %w after %s with %d of %d topics read to their end (--timeout); %s",
			id, errPartial, c.Timeout, prog.doneCount(), len(full), found)
	}
	if len(res.steps) == 0 {
		return nil, fmt.Errorf("%w %s on any topic (searched from %s)", errNoRecord, id, describeFrom(from))
	}
	return &res, nil
}

// traceFrom is where the search starts: a minute before the time in the
// event's ksuid (ingest minted it when it accepted the event; the minute
// covers clocks that disagree). A zero time means from the beginning: the
// id is not a ksuid, or its time is implausibly in the future.
func traceFrom(id string, now time.Time) (from, minted time.Time) {
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

func describeFrom(from time.Time) string {
	if from.IsZero() {
		return "the beginning"
	}
	return from.UTC().Format(time.RFC3339)
}

// senderMatch is an event of commerce.events.raw whose sender's id is the
// one searched for.
type senderMatch struct {
	eventID    string
	key        string
	origin     event.Origin
	receivedAt time.Time
}

// findBySenderID reads commerce.events.raw from its start to its end
// offsets for the events whose origin id is id (narrowed by
// --origin-source and --origin-type) and returns the Surge id of the one
// found, "" when none is. Several matches are an error listing them.
func findBySenderID(ctx context.Context, c traceConfig, adm *kadm.Client, reg *avroserde.Registry, names topics.Namer, id string, stderr *lockedWriter) (string, error) {
	raw := names.Name(topics.EventsRaw)
	plan, err := planTrace(ctx, adm, []string{raw}, time.Time{}, "")
	if err != nil {
		return "", err
	}
	codec := avroserde.NewEventCodec(reg, raw)
	var matches []senderMatch
	err = readPlan(ctx, c.Kafka, plan, nil, func(ctx context.Context, r *kgo.Record) {
		ev, err := codec.Decode(ctx, r.Value)
		if err != nil || ev.Origin.ID != id ||
			(c.OriginSource != "" && ev.Origin.Source != c.OriginSource) || (c.OriginType != "" && ev.Origin.Type != c.OriginType) {
			return
		}
		matches = append(matches, senderMatch{eventID: ev.ID, key: ev.Entity.Key(), origin: ev.Origin, receivedAt: ev.ReceivedAt})
	})
	if err != nil {
		return "", fmt.Errorf("searching %s for sender's id %s: %w", raw, id, err)
	}
	switch len(matches) {
	case 0:
		return "", nil
	case 1:
		m := matches[0]
		stderr.printf("note: %s is the sender's id (%s%s) of event %s\n", id, m.origin.Format, describeOrigin(m.origin), m.eventID)
		return m.eventID, nil
	}
	var b strings.Builder
	for _, m := range matches {
		fmt.Fprintf(&b, "\n  %s  %s  received %s  %s%s", m.eventID, m.key, traceTime(m.receivedAt), m.origin.Format, describeOrigin(m.origin))
	}
	return "", fmt.Errorf("%d events have sender's id %s%s:%s\nnarrow the search with --origin-source or --origin-type, or trace one of these event ids",
		len(matches), id, describeOriginFilter(c), b.String())
}

// describeOrigin is ", type T from S" for people.
func describeOrigin(o event.Origin) string {
	s := ""
	if o.Type != "" {
		s += ", type " + o.Type
	}
	if o.Source != "" {
		s += ", from " + o.Source
	}
	return s
}

func describeOriginFilter(c traceConfig) string {
	var parts []string
	if c.OriginSource != "" {
		parts = append(parts, "origin source "+c.OriginSource)
	}
	if c.OriginType != "" {
		parts = append(parts, "origin type "+c.OriginType)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// tracePlan is where each partition is read from and up to: only the
// topics and partitions with something to read are in ranges.
type tracePlan struct {
	ranges  kafkax.Ranges
	missing []string
}

// planTrace lists, for every topic, the end offsets (last stable offsets:
// reads are read_committed) and the offsets to start at: the first offset
// at or after from, or the log start when from is zero and for the
// subscriptions table (its current state is wanted, not its history).
func planTrace(ctx context.Context, adm *kadm.Client, full []string, from time.Time, subsTopic string) (tracePlan, error) {
	p := tracePlan{ranges: kafkax.Ranges{}}
	ends, err := adm.ListCommittedOffsets(ctx, full...)
	if err != nil {
		return p, fmt.Errorf("listing end offsets: %w", err)
	}
	var present, timed []string
	for _, tp := range full {
		lo, ok := ends[tp]
		if !ok {
			p.missing = append(p.missing, tp)
			continue
		}
		if bad, ok := lo[-1]; ok && errors.Is(bad.Err, kerr.UnknownTopicOrPartition) {
			p.missing = append(p.missing, tp)
			continue
		}
		for _, o := range lo {
			if o.Err != nil {
				return p, fmt.Errorf("listing end offsets of %s/%d: %w", tp, o.Partition, o.Err)
			}
		}
		present = append(present, tp)
		if !from.IsZero() && tp != subsTopic {
			timed = append(timed, tp)
		}
	}
	if len(present) == 0 {
		return p, nil
	}
	starts, err := adm.ListStartOffsets(ctx, present...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return p, fmt.Errorf("listing start offsets: %w", err)
	}
	if len(timed) > 0 {
		after, err := adm.ListOffsetsAfterMilli(ctx, from.UnixMilli(), timed...)
		if err == nil {
			err = after.Error()
		}
		if err != nil {
			return p, fmt.Errorf("listing offsets at %s: %w", from.UTC().Format(time.RFC3339), err)
		}
		for tp, ps := range after {
			for part, o := range ps {
				if s, ok := starts[tp][part]; ok && o.Offset >= 0 {
					s.Offset = max(s.Offset, o.Offset)
					starts[tp][part] = s
				}
			}
		}
	}
	for _, tp := range present {
		for part, end := range ends[tp] {
			start := int64(0)
			if s, ok := starts[tp][part]; ok {
				start = s.Offset
			}
			if start >= end.Offset {
				continue // nothing after from
			}
			if p.ranges[tp] == nil {
				p.ranges[tp] = map[int32]kafkax.Range{}
			}
			p.ranges[tp][part] = kafkax.Range{From: start, End: end.Offset}
		}
	}
	return p, nil
}

// tracer matches the records of the topics to one event id.
type tracer struct {
	id    string
	names topics.Namer
	base  map[string]string // full topic name → base name

	events     *avroserde.Codec[event.Event]
	enriched   *avroserde.Codec[event.EnrichedEvent]
	deliveries *avroserde.Codec[event.Delivery]
	attempts   *avroserde.Codec[event.DeliveryAttempt]
	subCodec   *avroserde.Codec[event.Subscription]

	steps []traceStep
	subs  map[string][]byte // subscription id → last value (nil: tombstone)

	// The event's raw and enriched records, to ask the stages' consumer
	// groups whether they have read past them.
	raw, enrichedRec *kgo.Record
}

// readPlan consumes every planned partition, all topics at once, to the
// end offsets of the plan, handing each data record to match.
func readPlan(ctx context.Context, k config.Kafka, plan tracePlan, prog *traceProgress, match func(context.Context, *kgo.Record)) error {
	rr := kafkax.RangeReader{
		Opts:        kafkax.ClientOpts(k, nil),
		Markers:     true, // counted as records read
		OnTopicDone: func(string) { prog.add(1) },
	}
	return rr.Read(ctx, plan.ranges, func(r *kgo.Record) error {
		prog.record()
		if !r.Attrs.IsControl() {
			match(ctx, r)
		}
		return nil
	})
}

// match keeps r when it is about the event.
func (t *tracer) match(ctx context.Context, r *kgo.Record) {
	base := t.base[r.Topic]
	eid := stream.Header(r, topics.HeaderEventID)
	switch base {
	case topics.Subscriptions:
		t.subs[string(r.Key)] = r.Value
		return
	case topics.DeliveryAttempts:
		// The dispatcher copies the delivery's headers onto its attempts;
		// a record without them is decoded and matched by its event_id.
		if eid != "" && eid != t.id {
			return
		}
		a, err := t.attempts.Decode(ctx, r.Value)
		if err != nil {
			if eid == t.id {
				t.add(recordStep(r, stageDispatcher, kindAttempt, err))
			}
			return
		}
		if a.EventID == t.id {
			t.add(attemptStep(r, a))
		}
		return
	}
	causedBy := eid != t.id && (base == topics.EventsRaw || base == topics.EventsEnriched) &&
		stream.Header(r, topics.HeaderCausationID) == t.id
	if eid != t.id && !causedBy {
		return
	}
	switch base {
	case topics.EventsRaw:
		ev, err := t.events.Decode(ctx, r.Value)
		if causedBy {
			s := recordStep(r, stageEnrich, kindDerived, err)
			s.EventID = eid
			if err == nil {
				s.EventType, s.EntityKey, s.Source = ev.Type, ev.Entity.Key(), ev.Source
			}
			t.add(s)
			return
		}
		s := recordStep(r, stageIngest, kindEvent, err)
		if err == nil {
			rec := ev.ReceivedAt.UTC()
			s.EventType, s.EntityKey, s.Source, s.ReceivedAt = ev.Type, ev.Entity.Key(), ev.Source, &rec
			s.Origin = traceOriginOf(ev.Origin)
		}
		t.add(s)
		if t.raw == nil {
			t.raw = r
		}
	case topics.EventsEnriched:
		e, err := t.enriched.Decode(ctx, r.Value)
		kind := kindEvent
		if causedBy {
			kind = kindDerived
		}
		s := recordStep(r, stageEnrich, kind, err)
		if err == nil {
			s.EventType, s.EntityKey, s.Source = e.Type, e.Entity.Key(), e.Source
			s.EntityVersion, s.Changes, s.Flags, s.Deleted = e.EntityVersion, e.Changes, e.Flags, e.Deleted
			for _, w := range e.Warnings {
				s.Warnings = append(s.Warnings, strings.TrimSpace(w.Code+" "+w.Field))
			}
		}
		if causedBy {
			s.EventID = eid
		} else if t.enrichedRec == nil {
			t.enrichedRec = r
		}
		t.add(s)
	case topics.EventsDLQ:
		dl := deadLetterOf(r)
		stage := stageEnrich
		if dl.Stage == stageFanout {
			stage = stageFanout
		}
		s := recordStep(r, stage, kindDeadLetter, nil)
		s.EventType, s.DeadLetter = stream.Header(r, topics.HeaderEventType), dl
		if r.Key != nil {
			s.EntityKey = string(r.Key)
		}
		t.add(s)
	case topics.Deliveries, topics.DeliveriesRetry, topics.DeliveriesDLQ:
		kind := map[string]string{topics.Deliveries: kindDelivery, topics.DeliveriesRetry: kindParked, topics.DeliveriesDLQ: kindDeadLetter}[base]
		stage := stageDispatcher
		if base == topics.Deliveries {
			stage = stageFanout
		}
		d, err := t.deliveries.Decode(ctx, r.Value)
		s := recordStep(r, stage, kind, err)
		s.SubscriptionID = stream.Header(r, topics.HeaderSubscriptionID)
		if err == nil {
			s.SubscriptionID, s.DeliveryID, s.EventType, s.EntityKey = d.SubscriptionID, d.ID, d.EventType, d.EntityKey
			s.EntityVersion = d.EntityVersion
			if kind != kindDelivery {
				s.Attempts, s.Status, s.Error, s.NextAttemptAt = d.Attempts, d.LastStatus, d.LastError, d.NextAttemptAt
			}
		}
		if kind == kindDeadLetter {
			s.DeadLetter = deadLetterOf(r)
		}
		t.add(s)
	}
}

func (t *tracer) add(s traceStep) { t.steps = append(t.steps, s) }

// recordStep is the part of a step every record gives.
func recordStep(r *kgo.Record, stage, kind string, decodeErr error) traceStep {
	p, o := r.Partition, r.Offset
	s := traceStep{Time: r.Timestamp.UTC(), Stage: stage, Kind: kind, Topic: r.Topic, Partition: &p, Offset: &o}
	if decodeErr != nil {
		s.ValueError = decodeErr.Error()
	}
	return s
}

func attemptStep(r *kgo.Record, a event.DeliveryAttempt) traceStep {
	s := recordStep(r, stageDispatcher, kindAttempt, nil)
	// An attempt is placed at the time it started: its record is written
	// once it ended.
	if !a.StartedAt.IsZero() {
		s.Time = a.StartedAt.UTC()
	}
	s.SubscriptionID, s.DeliveryID, s.EntityKey = a.SubscriptionID, a.DeliveryID, a.EntityKey
	s.Attempt, s.Status, s.Outcome, s.Error = a.Attempt, a.StatusCode, a.Outcome, a.Error
	s.DurationMS = float64(a.Duration.Microseconds()) / 1000
	s.URL = a.URL
	if a.NextAttemptAt != nil {
		n := a.NextAttemptAt.UTC()
		s.NextAttemptAt = &n
	}
	return s
}

func deadLetterOf(r *kgo.Record) *traceDeadLetter {
	h := func(k string) string { return stream.Header(r, k) }
	return &traceDeadLetter{
		Stage:        h(topics.HeaderDLQStage),
		Class:        h(topics.HeaderDLQErrorClass),
		Error:        h(topics.HeaderDLQError),
		Attempts:     h(topics.HeaderDLQAttempts),
		HTTPStatus:   h(topics.HeaderDLQHTTPStatus),
		FromTopic:    h(topics.HeaderDLQTopic),
		FromPart:     h(topics.HeaderDLQPartition),
		FromOffset:   h(topics.HeaderDLQOffset),
		FirstFailure: h(topics.HeaderDLQFirstFailure),
		LastFailure:  h(topics.HeaderDLQLastFailure),
	}
}

// result orders the steps, decodes the state of the subscriptions they
// name and adds the summary lines.
func (t *tracer) result(ctx context.Context, adm *kadm.Client, from time.Time) traceSearch {
	res := traceSearch{id: t.id, from: from}
	steps := slices.Clone(t.steps)
	sortSteps(steps)
	if len(steps) == 0 {
		return res
	}
	subs := map[string]subState{}
	for _, s := range steps {
		if s.SubscriptionID == "" {
			continue
		}
		if _, done := subs[s.SubscriptionID]; done {
			continue
		}
		st := subState{}
		if v, ok := t.subs[s.SubscriptionID]; ok {
			st.Found = true
			if v == nil {
				st.Deleted = true
			} else if sub, err := t.subCodec.Decode(ctx, v); err == nil {
				st.Enabled, st.Paused, st.URL, st.DisabledReason = sub.Enabled, sub.Paused, sub.URL, sub.DisabledReason
			} else {
				st.Found = false
			}
		}
		subs[s.SubscriptionID] = st
	}
	summary := summarize(steps, subs)
	if len(summary) == 0 {
		summary = []traceStep{t.noDeliveries(ctx, adm, steps)}
	}
	res.steps = append(steps, summary...)
	return res
}

// sortSteps orders steps by time, then pipeline stage, then attempt
// number and position in the log.
func sortSteps(steps []traceStep) {
	slices.SortStableFunc(steps, func(a, b traceStep) int {
		return cmp.Or(
			a.Time.Compare(b.Time),
			cmp.Compare(stageRank[a.Stage], stageRank[b.Stage]),
			cmp.Compare(a.Attempt, b.Attempt),
			strings.Compare(a.Topic, b.Topic),
			cmp.Compare(derefOffset(a.Offset), derefOffset(b.Offset)),
		)
	})
}

func derefOffset(o *int64) int64 {
	if o == nil {
		return 0
	}
	return *o
}

// summarize gives one line per subscription the steps name, in order of
// first appearance: what became of the event's delivery to it. steps must
// be sorted.
func summarize(steps []traceStep, subs map[string]subState) []traceStep {
	type acc struct {
		sum    traceStep
		last   *traceStep // the latest attempt or dead letter
		parked *traceStep // the latest parked copy
	}
	var order []string
	accs := map[string]*acc{}
	for i := range steps {
		s := &steps[i]
		if s.SubscriptionID == "" || s.Stage == stageSummary {
			continue
		}
		a, ok := accs[s.SubscriptionID]
		if !ok {
			a = &acc{sum: traceStep{Stage: stageSummary, SubscriptionID: s.SubscriptionID}}
			accs[s.SubscriptionID] = a
			order = append(order, s.SubscriptionID)
		}
		if a.sum.DeliveryID == "" {
			a.sum.DeliveryID = s.DeliveryID
		}
		if s.URL != "" {
			a.sum.URL = s.URL
		}
		a.sum.Time = s.Time
		a.sum.Attempts = max(a.sum.Attempts, s.Attempt, s.Attempts)
		switch {
		case s.Kind == kindAttempt && s.ValueError == "":
			a.last = s
		case s.Kind == kindDeadLetter:
			a.last = s
		case s.Kind == kindParked:
			a.parked = s
		}
	}
	out := make([]traceStep, 0, len(order))
	for _, id := range order {
		a := accs[id]
		sum := a.sum
		st := subs[id]
		if st.URL != "" {
			sum.URL = st.URL
		}
		sum.Result = resultPending
		if l := a.last; l != nil {
			switch {
			case l.Kind == kindDeadLetter || l.Outcome == event.OutcomeDeadLettered:
				sum.Result = resultDeadLettered
				if dl := l.DeadLetter; dl != nil {
					sum.Detail = strings.TrimSpace(fmt.Sprintf("class %s %s", dl.Class, httpStatus(dl.HTTPStatus)))
					sum.Error = dl.Error
				} else {
					sum.Detail = fmt.Sprintf("attempt %d %s", l.Attempt, httpStatusN(l.Status))
					sum.Error = l.Error
				}
			case l.Outcome == event.OutcomeDelivered:
				sum.Result = resultDelivered
				sum.Status = l.Status
				sum.Detail = fmt.Sprintf("HTTP %d on attempt %d at %s", l.Status, l.Attempt, traceTime(l.Time))
			case l.Outcome == event.OutcomeHeld:
				sum.Result = resultHeld
				sum.Status = l.Status
				sum.Detail = fmt.Sprintf("attempt %d got HTTP %d: the subscription was disabled", l.Attempt, l.Status)
			case l.Outcome == event.OutcomeRetry:
				sum.Result = resultRetrying
				sum.Status, sum.Error = l.Status, l.Error
				next := l.NextAttemptAt
				if p := a.parked; p != nil && p.NextAttemptAt != nil && (next == nil || p.NextAttemptAt.After(*next)) {
					next = p.NextAttemptAt
				}
				sum.NextAttemptAt = next
				sum.Detail = fmt.Sprintf("attempt %d %s", l.Attempt, httpStatusN(l.Status))
				if next != nil {
					sum.Detail += ", next attempt at " + traceTime(*next)
				}
			}
		}
		// A subscription paused or disabled now holds what is not finished.
		if (sum.Result == resultPending || sum.Result == resultRetrying) && st.Found && !st.Deleted && (st.Paused || !st.Enabled) {
			sum.Result = resultHeld
			switch {
			case !st.Enabled && st.DisabledReason != "":
				sum.Detail = "subscription disabled: " + st.DisabledReason
			case !st.Enabled:
				sum.Detail = "subscription disabled"
			default:
				sum.Detail = "subscription paused"
			}
		}
		if sum.Result == resultPending {
			switch {
			case st.Deleted:
				sum.Detail = "the subscription was deleted; the dispatcher dead-letters its deliveries"
			case a.parked != nil:
				sum.Detail = "parked on " + a.parked.Topic + ", waiting its turn"
			default:
				sum.Detail = "waiting for the dispatcher"
			}
		}
		out = append(out, sum)
	}
	return out
}

// noDeliveries is the summary of an event no subscription has a delivery
// of: dead-lettered before fanout, filtered out, or not processed yet
// (asked of the stage's consumer group).
func (t *tracer) noDeliveries(ctx context.Context, adm *kadm.Client, steps []traceStep) traceStep {
	sum := traceStep{Stage: stageSummary, Result: resultNoDeliveries, Time: steps[len(steps)-1].Time}
	for _, s := range steps {
		if s.Kind == kindDeadLetter && s.DeadLetter != nil {
			sum.Result = resultDeadLettered
			sum.Detail = fmt.Sprintf("by %s before any delivery (class %s)", s.DeadLetter.Stage, s.DeadLetter.Class)
			sum.Error = s.DeadLetter.Error
			return sum
		}
	}
	past := func(group string, r *kgo.Record) (bool, bool) {
		offs, err := adm.FetchOffsets(ctx, t.names.Prefix+group)
		if err != nil {
			return false, false
		}
		o, ok := offs.Lookup(r.Topic, r.Partition)
		if !ok || o.Err != nil {
			return false, true
		}
		return o.At > r.Offset, true
	}
	switch {
	case t.enrichedRec != nil:
		if read, known := past(topics.GroupFanout, t.enrichedRec); read {
			sum.Detail = "no subscription matched it (fanout has read past it)"
		} else if known {
			sum.Detail = "fanout has not processed it yet"
		} else {
			sum.Detail = "no subscription matched it, or fanout has not processed it yet"
		}
	case t.raw != nil:
		if read, _ := past(topics.GroupEnrich, t.raw); read {
			sum.Detail = "enrich has read past it, but no enriched record was found"
		} else {
			sum.Detail = "enrich has not processed it yet"
		}
	default:
		sum.Detail = "no delivery found"
	}
	return sum
}

func httpStatus(s string) string {
	if s == "" || s == "0" {
		return ""
	}
	return "HTTP " + s
}

func httpStatusN(s int32) string {
	if s == 0 {
		return "got no response"
	}
	return "got HTTP " + strconv.Itoa(int(s))
}

func traceTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// humanResult is a result as people read it.
func humanResult(r string) string {
	switch r {
	case resultDeadLettered:
		return "dead-lettered"
	case resultPending:
		return "not delivered yet"
	case resultNoDeliveries:
		return "no deliveries"
	}
	return r
}

// printTrace writes the steps as JSON lines, or as a timeline and a table
// of subscriptions.
func printTrace(out io.Writer, res traceSearch, minted time.Time, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(out)
		for _, s := range res.steps {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
		return nil
	}
	head := "event " + res.id
	if !minted.IsZero() {
		head += ", accepted " + minted.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(out, "%s (searched from %s)\n\n", head, describeFrom(res.from))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSTAGE\tTOPIC\tPARTITION\tOFFSET\tWHAT")
	var sums []traceStep
	for _, s := range res.steps {
		if s.Stage == stageSummary {
			sums = append(sums, s)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", traceTime(s.Time), s.Stage, s.Topic, *s.Partition, *s.Offset, describeStep(s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if len(sums) == 1 && sums[0].SubscriptionID == "" {
		s := sums[0]
		fmt.Fprintf(tw, "%s: %s\n", humanResult(s.Result), withError(s.Detail, s.Error))
		return tw.Flush()
	}
	fmt.Fprintln(tw, "SUBSCRIPTION\tRESULT\tATTEMPTS\tWEBHOOK-ID\tDETAIL")
	for _, s := range sums {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", s.SubscriptionID, humanResult(s.Result), s.Attempts, orDash(s.DeliveryID), withError(s.Detail, s.Error))
	}
	return tw.Flush()
}

func withError(detail, err string) string {
	if err == "" {
		return detail
	}
	if detail == "" {
		return strconv.Quote(err)
	}
	return detail + ": " + strconv.Quote(err)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// describeStep is a step's WHAT column: key=value pairs.
func describeStep(s traceStep) string {
	var b []string
	kv := func(k, v string) {
		if v != "" {
			b = append(b, k+"="+v)
		}
	}
	q := func(k, v string) {
		if v != "" {
			b = append(b, k+"="+strconv.Quote(v))
		}
	}
	switch s.Kind {
	case kindEvent:
		if s.Stage == stageIngest {
			kv("type", s.EventType)
			kv("key", s.EntityKey)
			kv("source", s.Source)
			if s.ReceivedAt != nil {
				kv("received_at", traceTime(*s.ReceivedAt))
			}
			if o := s.Origin; o != nil {
				kv("origin.format", o.Format)
				q("origin.id", o.ID)
				q("origin.type", o.Type)
				q("origin.source", o.Source)
				q("origin.entity_id", o.EntityID)
			}
			break
		}
		kv("type", s.EventType)
		if s.ValueError == "" {
			kv("version", strconv.FormatInt(s.EntityVersion, 10))
			kv("changes", strings.Join(s.Changes, ","))
			kv("flags", strings.Join(s.Flags, ","))
			if s.Deleted {
				kv("deleted", "true")
			}
			q("warnings", strings.Join(s.Warnings, ", "))
		}
	case kindDerived:
		b = append(b, "derived")
		kv("event_id", s.EventID)
		kv("type", s.EventType)
		kv("key", s.EntityKey)
		if s.EntityVersion > 0 {
			kv("version", strconv.FormatInt(s.EntityVersion, 10))
		}
	case kindDelivery:
		kv("subscription", s.SubscriptionID)
		kv("webhook-id", s.DeliveryID)
		kv("key", s.EntityKey)
	case kindParked:
		b = append(b, "parked")
		kv("subscription", s.SubscriptionID)
		kv("webhook-id", s.DeliveryID)
		kv("attempts", strconv.Itoa(int(s.Attempts)))
		if s.NextAttemptAt != nil {
			kv("next_attempt_at", traceTime(*s.NextAttemptAt))
		}
		if s.Status != 0 {
			kv("last_status", strconv.Itoa(int(s.Status)))
		}
		q("last_error", s.Error)
	case kindAttempt:
		kv("attempt", strconv.Itoa(int(s.Attempt)))
		kv("subscription", s.SubscriptionID)
		kv("status", strconv.Itoa(int(s.Status)))
		kv("outcome", s.Outcome)
		if s.ValueError == "" {
			kv("duration", strconv.FormatFloat(s.DurationMS, 'f', -1, 64)+"ms")
		}
		if s.NextAttemptAt != nil {
			kv("next_attempt_at", traceTime(*s.NextAttemptAt))
		}
		q("error", s.Error)
	case kindDeadLetter:
		b = append(b, "dead-lettered")
		kv("subscription", s.SubscriptionID)
		kv("webhook-id", s.DeliveryID)
		if s.SubscriptionID == "" { // commerce.events.dlq
			kv("type", s.EventType)
			kv("key", s.EntityKey)
		}
		if dl := s.DeadLetter; dl != nil {
			kv("by", dl.Stage)
			kv("class", dl.Class)
			kv("http_status", dl.HTTPStatus)
			kv("attempts", dl.Attempts)
			if dl.FromTopic != "" {
				kv("from", dl.FromTopic+"/"+dl.FromPart+"@"+dl.FromOffset)
			}
			q("error", dl.Error)
		}
	}
	q("value_error", s.ValueError)
	return strings.Join(b, " ")
}

// lockedWriter serializes the notes and progress lines written to stderr.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

// traceProgress reports on stderr, once a second, how far the search is,
// but only once it has taken more than a second.
type traceProgress struct {
	done    atomic.Int64 // topics read to their end (or skipped)
	records atomic.Int64
	total   int
	quit    chan struct{}
	stopped sync.WaitGroup
	once    sync.Once
}

func startTraceProgress(w *lockedWriter, total int, started time.Time) *traceProgress {
	p := &traceProgress{total: total, quit: make(chan struct{})}
	p.stopped.Add(1)
	go func() {
		defer p.stopped.Done()
		first := time.Second - time.Since(started)
		timer := time.NewTimer(max(first, 0))
		defer timer.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-timer.C:
				w.printf("searched %d/%d topics (%d records read)\n", p.done.Load(), p.total, p.records.Load())
				timer.Reset(time.Second)
			}
		}
	}()
	return p
}

func (p *traceProgress) add(n int) {
	if p != nil {
		p.done.Add(int64(n))
	}
}

func (p *traceProgress) record() {
	if p != nil {
		p.records.Add(1)
	}
}

func (p *traceProgress) doneCount() int64 { return p.done.Load() }

// stop ends the reports and returns once none is being written.
func (p *traceProgress) stop() {
	p.once.Do(func() { close(p.quit) })
	p.stopped.Wait()
}
