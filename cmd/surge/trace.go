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

	"github.com/spf13/cobra"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/trace"
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
			return runTrace(ctx, c, strings.TrimSpace(args[0]), cmd.OutOrStdout(), cmd.ErrOrStderr())
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

func runTrace(ctx context.Context, c traceConfig, id string, out, errOut io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	started := time.Now()

	stderr := &lockedWriter{w: errOut}
	prog := startTraceProgress(stderr, len(trace.Topics), started)
	defer prog.stop()

	reg, err := avroserde.Connect(c.Registry.URL)
	if err != nil {
		return err
	}
	tr, err := trace.New(trace.Config{
		Names:      topics.Namer{Prefix: c.Kafka.TopicPrefix},
		ClientOpts: kafkax.ClientOpts(c.Kafka, nil),
		Registry:   reg,
	})
	if err != nil {
		return err
	}
	defer tr.Close()
	opts := trace.Options{Note: func(s string) { stderr.printf("note: %s\n", s) }, Progress: prog}
	filter := trace.OriginFilter{Source: c.OriginSource, Type: c.OriginType}
	raw := topics.Namer{Prefix: c.Kafka.TopicPrefix}.Name(topics.EventsRaw)

	// An id that is not Surge's own, or whose origin is given, is first
	// looked for as a sender's id.
	_, minted := trace.From(id, started)
	bySender := minted.IsZero() || c.OriginSource != "" || c.OriginType != ""
	if bySender {
		found, err := findBySenderID(ctx, tr, id, filter, stderr)
		if err != nil {
			return err
		}
		if found != "" {
			id = found
		} else if c.OriginSource != "" || c.OriginType != "" {
			return fmt.Errorf("no event on %s has sender's id %s%s", raw, id, describeOriginFilter(filter))
		}
	}
	res, err := tr.Event(ctx, id, opts)
	if errors.Is(err, trace.ErrNoRecord) && !bySender {
		// A ksuid may be a sender's id too (a shop that mints ksuids).
		found, ferr := findBySenderID(ctx, tr, id, filter, stderr)
		if ferr != nil {
			return ferr
		}
		if found != "" {
			res, err = tr.Event(ctx, found, opts)
		}
	}
	var partial *trace.PartialError
	if errors.As(err, &partial) {
		found := "nothing found so far"
		if res != nil && len(res.Steps) > 0 {
			found = "what was found so far is shown"
		}
		err = fmt.Errorf("searching for event %s: %w after %s with %d of %d topics read to their end (--timeout); %s",
			partial.ID, trace.ErrPartial, c.Timeout, partial.TopicsRead, partial.Topics, found)
	} else if err != nil {
		return err
	}
	if res != nil && len(res.Steps) > 0 {
		if perr := printTrace(out, res, c.JSON); perr != nil {
			return perr
		}
	}
	return err
}

// findBySenderID looks the sender's id up on commerce.events.raw and
// returns the Surge id of the one event found, "" when none is. Several
// matches are an error listing them.
func findBySenderID(ctx context.Context, tr *trace.Tracer, id string, f trace.OriginFilter, stderr *lockedWriter) (string, error) {
	matches, err := tr.BySenderID(ctx, id, f)
	if err != nil {
		return "", err
	}
	switch len(matches) {
	case 0:
		return "", nil
	case 1:
		m := matches[0]
		stderr.printf("note: %s is the sender's id (%s%s) of event %s\n", id, m.Origin.Format, trace.DescribeOrigin(m.Origin), m.EventID)
		return m.EventID, nil
	}
	var b strings.Builder
	for _, m := range matches {
		fmt.Fprintf(&b, "\n  %s  %s  received %s  %s%s", m.EventID, m.EntityKey, traceTime(m.ReceivedAt), m.Origin.Format, trace.DescribeOrigin(m.Origin))
	}
	return "", fmt.Errorf("%d events have sender's id %s%s:%s\nnarrow the search with --origin-source or --origin-type, or trace one of these event ids",
		len(matches), id, describeOriginFilter(f), b.String())
}

func describeOriginFilter(f trace.OriginFilter) string {
	var parts []string
	if f.Source != "" {
		parts = append(parts, "origin source "+f.Source)
	}
	if f.Type != "" {
		parts = append(parts, "origin type "+f.Type)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
