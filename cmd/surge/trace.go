package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/ksuid"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkax"
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
