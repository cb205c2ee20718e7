package main

import (
	"bytes"
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
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/dlq"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/store"
	"github.com/surgehq/surge/pkg/topics"
)

// dlqOptions are the flags every `surge dlq` command shares.
type dlqOptions struct {
	Kafka    config.Kafka
	Registry config.Registry
	Topic    string
	JSON     bool
}

func newDLQCommand() *cobra.Command {
	var o dlqOptions
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect and replay the dead-letter topics",
		Long: `Inspect and replay Surge's dead-letter topics: commerce.deliveries.dlq
(deliveries the dispatcher gave up on; the default) and commerce.events.dlq
(events enrich or fanout could not process), chosen with --topic.

Every command reads Kafka directly with read_committed, up to the end
offsets seen when it started. Flags also read SURGE_* variables
(--brokers ⇔ SURGE_BROKERS); a flag wins over the variable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringSliceVar(&o.Kafka.Brokers, "brokers", []string{"127.0.0.1:9092"}, "Kafka seed brokers")
	pf.StringVar(&o.Kafka.TopicPrefix, "topic-prefix", "", "prefix of every Surge topic name")
	pf.StringVar(&o.Registry.URL, "registry", "http://127.0.0.1:8085", "schema registry URL")
	pf.StringVar(&o.Topic, "topic", topics.DeliveriesDLQ, "dead-letter topic: "+topics.DeliveriesDLQ+" or "+topics.EventsDLQ)
	pf.BoolVar(&o.JSON, "json", false, "print JSON (for scripts) instead of tables")
	o.Kafka.Partitions, o.Kafka.ReplicationFactor = 1, 1
	cmd.AddCommand(newDLQStatsCommand(&o), newDLQShowCommand(&o), newDLQReplayCommand(&o))
	return cmd
}

// dlqRun binds the environment, validates and runs fn with a context
// that SIGINT and SIGTERM cancel.
func dlqRun(cmd *cobra.Command, o *dlqOptions, check func() error, fn func(ctx context.Context, svc *dlq.Service) error) error {
	if err := config.BindEnv(cmd.Flags()); err != nil {
		return cli.ConfigError{Err: err}
	}
	errs := []error{o.Kafka.Validate(), o.Registry.Validate()}
	if check != nil {
		errs = append(errs, check())
	}
	if err := errors.Join(errs...); err != nil {
		return cli.ConfigError{Err: err}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srCl, err := sr.NewClient(sr.URLs(o.Registry.URL))
	if err != nil {
		return fmt.Errorf("creating registry client: %w", err)
	}
	subs := lazySubscriptions{open: func(ctx context.Context) (dlq.Subscriptions, error) {
		return store.Subscriptions(ctx, store.Options{
			Names: topics.Namer{Prefix: o.Kafka.TopicPrefix}, ClientOpts: kafkax.ClientOpts(o.Kafka, nil),
			Registry: avroserde.NewRegistry(srCl), Log: zap.NewNop(),
		}, nil)
	}, state: &lazyState{}}
	defer subs.close()
	svc, err := dlq.New(dlq.Config{
		Names:         topics.Namer{Prefix: o.Kafka.TopicPrefix},
		ClientOpts:    kafkax.ClientOpts(o.Kafka, nil),
		Registry:      avroserde.NewRegistry(srCl),
		Subscriptions: subs,
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	return fn(ctx, svc)
}

// newDLQService is the DLQ service the admin API serves (surge dev and
// surge admin), reading subscriptions from the process's table.
func newDLQService(kafka config.Kafka, registryURL string, subs dlq.Subscriptions, log *zap.Logger) (*dlq.Service, error) {
	srCl, err := sr.NewClient(sr.URLs(registryURL))
	if err != nil {
		return nil, fmt.Errorf("creating registry client: %w", err)
	}
	svc, err := dlq.New(dlq.Config{
		Names:             topics.Namer{Prefix: kafka.TopicPrefix},
		ClientOpts:        kafkax.ClientOpts(kafka, log),
		Registry:          avroserde.NewRegistry(srCl),
		Subscriptions:     subs,
		Log:               log,
		ReplicationFactor: kafka.ReplicationFactor,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the DLQ service: %w", err)
	}
	return svc, nil
}

// lazySubscriptions opens the subscriptions table on first use: only a
// replay of deliveries needs it.
type lazySubscriptions struct {
	open  func(ctx context.Context) (dlq.Subscriptions, error)
	state *lazyState
}

type lazyState struct {
	table dlq.Subscriptions
	err   error
}

// Sync opens the table (reading it to its end) the first time.
func (l lazySubscriptions) Sync(ctx context.Context) error {
	if l.state.table == nil && l.state.err == nil {
		l.state.table, l.state.err = l.open(ctx)
	}
	return l.state.err
}

func (l lazySubscriptions) Get(id string) (event.Subscription, bool) {
	if l.state.table == nil {
		return event.Subscription{}, false
	}
	return l.state.table.Get(id)
}

func (l lazySubscriptions) close() {
	if c, ok := l.state.table.(interface{ Close() }); ok {
		c.Close()
	}
}

// dlqReadingProgress reports the progress of a long reading on w: nothing for the
// first second, then a line every two seconds.
func dlqReadingProgress(w io.Writer, what string) func(dlq.Progress) {
	var last time.Duration
	return func(p dlq.Progress) {
		if p.Elapsed < time.Second || p.Elapsed-last < 2*time.Second || p.Total == 0 {
			return
		}
		last = p.Elapsed
		fmt.Fprintf(w, "reading %s: %d of %d offsets (%.0f%%), %s\n", what, p.Read, p.Total, 100*float64(p.Read)/float64(p.Total), p.Elapsed.Round(time.Second))
	}
}

func newDLQStatsCommand(o *dlqOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Count a dead-letter topic: per partition, subscription, error class, HTTP status and stage",
		Long: `Count a dead-letter topic: per partition, subscription, error class, HTTP
status and stage.

OFFSETS is the offset of the partition's first and last dead letter, both
inclusive ("1200-1299"), or the one offset when there is one dead letter
("0"), or "-" when there is none: the offsets to give 'surge dlq show' and
'surge dlq replay --from-offset/--to-offset'. Transaction markers take
offsets too, so a range spans more offsets than COUNT; --json also gives
the log's start_offset and end_offset (the offset after the last one).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return dlqRun(cmd, o, nil, func(ctx context.Context, svc *dlq.Service) error {
				st, err := svc.Stats(ctx, o.Topic, dlqReadingProgress(cmd.ErrOrStderr(), o.Topic))
				if err != nil {
					return err
				}
				if o.JSON {
					return dlqJSON(cmd.OutOrStdout(), st)
				}
				printStats(cmd.OutOrStdout(), st)
				return nil
			})
		},
	}
}

// offsetRange is the OFFSETS column: the first and last dead letter's
// offsets, one offset for one dead letter, "-" for none.
func offsetRange(p dlq.PartitionStats) string {
	switch {
	case p.FirstOffset == nil || p.LastOffset == nil:
		return "-"
	case *p.FirstOffset == *p.LastOffset:
		return strconv.FormatInt(*p.FirstOffset, 10)
	default:
		return fmt.Sprintf("%d-%d", *p.FirstOffset, *p.LastOffset)
	}
}

func printStats(out io.Writer, st *dlq.Stats) {
	fmt.Fprintf(out, "%s: %d dead letters", st.Topic, st.Total)
	if st.Oldest != nil {
		fmt.Fprintf(out, ", oldest %s, newest %s", st.Oldest.Format(time.RFC3339), st.Newest.Format(time.RFC3339))
	}
	fmt.Fprintln(out)
	if st.Replayed > 0 || st.Undecodable > 0 {
		fmt.Fprintf(out, "%d failed again after a replay, %d do not decode\n", st.Replayed, st.Undecodable)
	}
	fmt.Fprintln(out)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PARTITION\tCOUNT\tOFFSETS\tOLDEST\tNEWEST")
	for _, p := range st.Partitions {
		oldest, newest := "-", "-"
		if p.Oldest != nil {
			oldest, newest = p.Oldest.Format(time.RFC3339), p.Newest.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\n", p.Partition, p.Count, offsetRange(p), oldest, newest)
	}
	w.Flush()
	sections := []struct {
		title string
		m     map[string]int64
	}{
		{"SUBSCRIPTION", st.BySubscription},
		{"ERROR CLASS", st.ByClass},
		{"HTTP STATUS", st.ByHTTPStatus},
		{"FAILED IN STAGE", st.ByStage},
		{"REPLAYS TO (surge.dlq.topic)", st.BySourceTopic},
	}
	for _, s := range sections {
		if len(s.m) == 0 {
			continue
		}
		fmt.Fprintln(out)
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(w, "%s\tCOUNT\n", s.title)
		keys := make([]string, 0, len(s.m))
		for k := range s.m {
			keys = append(keys, k)
		}
		// Largest first, then by name.
		slices.SortFunc(keys, func(a, b string) int {
			if s.m[a] != s.m[b] {
				return int(s.m[b] - s.m[a])
			}
			return strings.Compare(a, b)
		})
		for _, k := range keys {
			fmt.Fprintf(w, "%s\t%d\n", k, s.m[k])
		}
		w.Flush()
	}
}

func newDLQShowCommand(o *dlqOptions) *cobra.Command {
	var (
		partition int32
		offset    int64
		eventID   string
	)
	cmd := &cobra.Command{
		Use:   "show (--partition P --offset O | --event-id ID)",
		Short: "Show dead letters in full: value decoded, error headers, a delivery's attempts",
		Long: `Show one dead letter (--partition and --offset) or every dead letter of an
event (--event-id, which reads the whole topic): the value decoded from Avro
with its writer's schema, the surge.dlq.* headers spelled out, where a replay
would send it and, for a delivery, its attempt history from
commerce.delivery-attempts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			byOffset := cmd.Flags().Changed("partition") || cmd.Flags().Changed("offset")
			check := func() error {
				switch {
				case byOffset && eventID != "":
					return errors.New("give either --partition and --offset, or --event-id")
				case byOffset && !(cmd.Flags().Changed("partition") && cmd.Flags().Changed("offset")):
					return errors.New("--partition and --offset go together")
				case !byOffset && strings.TrimSpace(eventID) == "":
					return errors.New("say which record: --partition P --offset O, or --event-id ID")
				}
				return nil
			}
			return dlqRun(cmd, o, check, func(ctx context.Context, svc *dlq.Service) error {
				var recs []*dlq.Record
				if byOffset {
					r, err := svc.Record(ctx, o.Topic, partition, offset)
					if err != nil {
						return err
					}
					recs = []*dlq.Record{r}
				} else {
					var err error
					if recs, err = svc.FindEvent(ctx, o.Topic, strings.TrimSpace(eventID), dlqReadingProgress(cmd.ErrOrStderr(), o.Topic)); err != nil {
						return err
					}
				}
				for i, r := range recs {
					if o.JSON {
						if err := dlqJSON(cmd.OutOrStdout(), r); err != nil {
							return err
						}
						continue
					}
					if i > 0 {
						fmt.Fprintln(cmd.OutOrStdout())
					}
					printRecord(cmd.OutOrStdout(), r)
				}
				return nil
			})
		},
	}
	fs := cmd.Flags()
	fs.Int32Var(&partition, "partition", 0, "partition of the record")
	fs.Int64Var(&offset, "offset", 0, "offset of the record")
	fs.StringVar(&eventID, "event-id", "", "show every dead letter of this event")
	return cmd
}

func printRecord(out io.Writer, r *dlq.Record) {
	fmt.Fprintf(out, "%s/%d@%d  %s\n", r.Topic, r.Partition, r.Offset, r.Timestamp.Format(time.RFC3339Nano))
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	key := "(null)"
	if r.Key != nil {
		key = *r.Key
	}
	fmt.Fprintf(w, "key\t%s\n", key)
	dl := r.DeadLetter
	fmt.Fprintf(w, "failed in stage\t%s\n", dl.Stage)
	fmt.Fprintf(w, "error class\t%s\n", dl.Class)
	fmt.Fprintf(w, "error\t%s\n", dl.Error)
	if dl.HTTPStatus != "" {
		fmt.Fprintf(w, "HTTP status\t%s\n", dl.HTTPStatus)
	}
	fmt.Fprintf(w, "attempts\t%s\n", dl.Attempts)
	fmt.Fprintf(w, "first failure\t%s\n", dl.FirstFailure)
	fmt.Fprintf(w, "last failure\t%s\n", dl.LastFailure)
	fmt.Fprintf(w, "came from\t%s/%s@%s\n", dl.FromTopic, dl.FromPartition, dl.FromOffset)
	to := r.ReplaysTo
	if to == "" {
		to = "(not replayable: its source topic is not a Surge stage's input)"
	}
	fmt.Fprintf(w, "replays to\t%s\n", to)
	if r.Replay != nil {
		fmt.Fprintf(w, "replayed before\t%s (replay count %d)\n", r.Replay.ID, r.Replay.Count)
	}
	w.Flush()
	fmt.Fprintln(out, "headers:")
	w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, k := range dlqSortedHeaders(r.Headers) {
		fmt.Fprintf(w, "  %s\t%s\n", k, r.Headers[k])
	}
	w.Flush()
	if r.ValueError != "" {
		fmt.Fprintf(out, "value: does not decode: %s\n  base64: %s\n", r.ValueError, r.ValueBase64)
	} else {
		var buf bytes.Buffer
		if json.Indent(&buf, r.Value, "  ", "  ") != nil {
			buf.Reset()
			buf.Write(r.Value)
		}
		fmt.Fprintf(out, "value:\n  %s\n", buf.String())
	}
	if r.ReplaysTo != "" && strings.HasSuffix(r.Topic, topics.DeliveriesDLQ) {
		if len(r.Attempts) == 0 {
			fmt.Fprintln(out, "attempts: none found on "+topics.DeliveryAttempts)
			return
		}
		fmt.Fprintln(out, "attempts:")
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "  #\tSTARTED\tSTATUS\tOUTCOME\tDURATION\tREPLAY\tERROR")
		for _, a := range r.Attempts {
			replay := "-"
			if a.ReplayID != "" {
				replay = a.ReplayID
			}
			fmt.Fprintf(w, "  %d\t%s\t%d\t%s\t%.1fms\t%s\t%s\n", a.Attempt, a.StartedAt.Format(time.RFC3339Nano), a.Status, a.Outcome, a.DurationMS, replay, a.Error)
		}
		w.Flush()
	}
}

func dlqSortedHeaders(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func dlqJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}

// replayFlags are `surge dlq replay`'s own flags.
type replayFlags struct {
	Partitions     []int32
	FromOffset     int64
	ToOffset       int64
	Since, Until   string
	Subscription   string
	Filter         string
	ToSubscription string
	DryRun         bool
	Rate           string
	Resume         string
}

// replaySelectionFlags are the flags a resumed replay does not take: it keeps
// the selection it was created with.
var replaySelectionFlags = []string{"partition", "from-offset", "to-offset", "since", "until", "subscription", "filter", "to-subscription", "dry-run"}

func newDLQReplayCommand(o *dlqOptions) *cobra.Command {
	var f replayFlags
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Send selected dead letters back to the stage that failed them",
		Long: `Send selected dead letters back to the stage that failed them: deliveries to
commerce.deliveries (same key, same delivery id so the webhook-id is
unchanged, attempt state reset), events to the topic in their surge.dlq.topic
header. The replayed records drop the surge.dlq.* headers and carry
__surge.replay.id and __surge.replay.count.

Every criterion given must hold. --to-offset is inclusive; --since is
inclusive and --until exclusive, on the time the record was dead-lettered,
each an RFC 3339 time or a Go duration ago ("2h"). --filter is CEL over the
delivered body (a delivery) or the event, as a subscription's filter.

The selection is read first: a replay of deliveries whose subscription was
deleted is refused, naming it (use --subscription to leave them out, or
--to-subscription to send them to another subscription: the subscription id
and key are rewritten, and the delivery id becomes the one fanout gives that
(event, subscription) pair). --dry-run stops there: it lists what would be
replayed and the counts, and writes nothing.

A replay covers the offsets that existed when it was created and keeps its
position in Kafka (commerce.replays), committed in the same transaction as
the records it wrote. Ctrl-C stops it cleanly; --resume ID continues it
with no other flags (--rate may change), writing each remaining record
exactly once. Progress is a bar on a terminal, one line a second otherwise.`,
		Example: `  surge dlq replay --dry-run
  surge dlq replay --subscription sub_3MV... --since 2h --rate 100
  surge dlq replay --topic commerce.events.dlq --partition 2 --from-offset 1200 --to-offset 1299
  surge dlq replay --filter 'type == "order.placed" && data.total > 100.0' --to-subscription sub_9XY...
  surge dlq replay --resume rpl_2vN3qLmO5yH0fX8pU1sKc9dTz4e`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var sel dlq.Selection
			var rateSet bool
			check := func() error {
				var err error
				sel, rateSet, err = f.selection(cmd.Flags(), o.Topic, time.Now())
				return err
			}
			return dlqRun(cmd, o, check, func(ctx context.Context, svc *dlq.Service) error {
				return runReplay(ctx, svc, f, sel, rateSet, o.JSON, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// register binds f to fs.
func (f *replayFlags) register(fs *pflag.FlagSet) {
	fs.Int32SliceVar(&f.Partitions, "partition", nil, "replay only this partition (repeatable, or comma separated)")
	fs.Int64Var(&f.FromOffset, "from-offset", 0, "first offset to replay in each selected partition")
	fs.Int64Var(&f.ToOffset, "to-offset", 0, "last offset to replay in each selected partition (inclusive)")
	fs.StringVar(&f.Since, "since", "", `only records dead-lettered at or after this time: RFC 3339 or a duration ago ("2h")`)
	fs.StringVar(&f.Until, "until", "", `only records dead-lettered before this time: RFC 3339 or a duration ago ("30m")`)
	fs.StringVar(&f.Subscription, "subscription", "", "only deliveries of this subscription")
	fs.StringVar(&f.Filter, "filter", "", `CEL filter over the delivered body or the event, e.g. 'data.total > 100.0'`)
	fs.StringVar(&f.ToSubscription, "to-subscription", "", "replay deliveries to this subscription instead of their own")
	fs.BoolVar(&f.DryRun, "dry-run", false, "list what would be replayed and the counts; write nothing")
	fs.StringVar(&f.Rate, "rate", "max", `records written per second, or "max"`)
	fs.StringVar(&f.Resume, "resume", "", "continue the stopped replay with this id")
}

// selection turns the flags into a Selection; rateSet says whether --rate
// was given.
func (f *replayFlags) selection(fs *pflag.FlagSet, topic string, now time.Time) (dlq.Selection, bool, error) {
	sel := dlq.Selection{Topic: topic, Subscription: f.Subscription, Filter: f.Filter, ToSubscription: f.ToSubscription, Partitions: f.Partitions}
	var errs []error
	if f.Resume != "" {
		for _, name := range replaySelectionFlags {
			if fs.Changed(name) {
				errs = append(errs, fmt.Errorf("--resume takes no --%s: a replay keeps the selection it was created with", name))
			}
		}
	}
	if fs.Changed("from-offset") {
		sel.FromOffset = &f.FromOffset
	}
	if fs.Changed("to-offset") {
		sel.ToOffset = &f.ToOffset
	}
	for _, t := range []struct {
		flag, v string
		into    **time.Time
	}{{"since", f.Since, &sel.Since}, {"until", f.Until, &sel.Until}} {
		if t.v == "" {
			continue
		}
		at, err := parseDLQTime(t.v, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", t.flag, err))
			continue
		}
		*t.into = &at
	}
	rate, err := parseReplayRate(f.Rate)
	if err != nil {
		errs = append(errs, err)
	}
	sel.Rate = rate
	return sel, fs.Changed("rate"), errors.Join(errs...)
}

// parseDLQTime reads an RFC 3339 time or a Go duration ago.
func parseDLQTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-03-01T12:00:00Z) nor a duration ago (2h, 30m)", s)
	}
	return now.Add(-d).UTC(), nil
}

// parseReplayRate reads --rate: a positive number of records per second, or
// "max" (0: no limit).
func parseReplayRate(s string) (float64, error) {
	if strings.EqualFold(strings.TrimSpace(s), "max") {
		return 0, nil
	}
	r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || r <= 0 {
		return 0, fmt.Errorf(`--rate %q: want a positive number of records per second, or "max"`, s)
	}
	return r, nil
}

func runReplay(ctx context.Context, svc *dlq.Service, f replayFlags, sel dlq.Selection, rateSet, asJSON bool, out, errOut io.Writer) error {
	reading := dlqReadingProgress(errOut, sel.Topic)
	if f.DryRun {
		return dryRun(ctx, svc, sel, asJSON, out, reading)
	}
	var (
		r   *dlq.Replay
		err error
	)
	if f.Resume != "" {
		r, _, err = svc.Resume(ctx, strings.TrimSpace(f.Resume), reading)
		if err == nil && rateSet {
			err = r.SetRate(sel.Rate)
		}
	} else {
		r, _, err = svc.Create(ctx, sel, reading)
	}
	if err != nil {
		return err
	}
	st := r.Status()
	// Progress goes where people look; with --json stdout is for the
	// result only.
	progOut := out
	if asJSON {
		progOut = errOut
	}
	rate := "as fast as Kafka takes them"
	if st.Selection.Rate > 0 {
		rate = strconv.FormatFloat(st.Selection.Rate, 'f', -1, 64) + " records/s"
	}
	verb := "replay"
	if f.Resume != "" {
		verb = "resuming replay"
	}
	fmt.Fprintf(progOut, "%s %s: %d of %d records of %s left to replay, %s\n", verb, st.ID, st.Total-st.Replayed, st.Total, st.Selection.Topic, rate)
	fmt.Fprintf(progOut, "Ctrl-C stops it; continue with: surge dlq replay --resume %s\n", st.ID)
	bar := newReplayProgress(progOut)
	final, err := r.Run(ctx, bar.update)
	bar.finish(final)
	if err != nil {
		return err
	}
	if asJSON {
		if err := dlqJSON(out, final); err != nil {
			return err
		}
	}
	if final.State != dlq.StateDone {
		return fmt.Errorf("replay %s %s after %d of %d records; continue with: surge dlq replay --resume %s", final.ID, final.State, final.Replayed, final.Total, final.ID)
	}
	if !asJSON {
		fmt.Fprintf(out, "replay %s done: %d of %d records replayed\n", final.ID, final.Replayed, final.Total)
	}
	return nil
}

func dryRun(ctx context.Context, svc *dlq.Service, sel dlq.Selection, asJSON bool, out io.Writer, reading func(dlq.Progress)) error {
	var list []dlq.Planned
	var w *tabwriter.Writer
	if !asJSON {
		fmt.Fprintln(out, "dry run: nothing is written")
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "PARTITION\tOFFSET\tDEAD-LETTERED\tKEY\tEVENT\tCLASS\tREPLAY#\tTO")
	}
	pl, err := svc.Plan(ctx, sel, func(p dlq.Planned) {
		if asJSON {
			list = append(list, p)
			return
		}
		fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", p.Partition, p.Offset, p.Timestamp.Format(time.RFC3339), p.Key, p.EventID, p.Class, p.ReplayCount, p.Target)
	}, reading)
	if w != nil {
		w.Flush()
	}
	if pl == nil {
		return err
	}
	if asJSON {
		if list == nil {
			list = []dlq.Planned{}
		}
		if jerr := dlqJSON(out, struct {
			Plan    *dlq.Plan     `json:"plan"`
			Records []dlq.Planned `json:"records"`
		}{pl, list}); jerr != nil {
			return jerr
		}
		return err
	}
	fmt.Fprintf(out, "\nwould replay %d of the %d dead letters examined in %s\n", pl.Selected, pl.Examined, pl.Topic)
	for _, k := range dlqSortedKeys(pl.ByTarget) {
		fmt.Fprintf(out, "  to %s: %d\n", k, pl.ByTarget[k])
	}
	for _, k := range dlqSortedKeys(pl.BySubscription) {
		fmt.Fprintf(out, "  of subscription %s: %d\n", k, pl.BySubscription[k])
	}
	for _, k := range dlqSortedKeys(pl.Skipped) {
		fmt.Fprintf(out, "  left out (%s): %d\n", k, pl.Skipped[k])
	}
	return err
}

func dlqSortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// replayProgress shows a replay's progress: a bar redrawn in place on a
// terminal, a plain line a second otherwise (logs, pipes, CI). It is
// written by hand: it is one line of arithmetic on the numbers the replay
// reports (the admin API shows the same ones), and a library would add a
// dependency for what a \r does.
type replayProgress struct {
	w    io.Writer
	tty  bool
	last time.Time
}

func newReplayProgress(w io.Writer) *replayProgress {
	f, ok := w.(*os.File)
	tty := false
	if ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &replayProgress{w: w, tty: tty}
}

func (b *replayProgress) update(st dlq.Status) {
	every := time.Second
	if b.tty {
		every = 100 * time.Millisecond
	}
	if time.Since(b.last) < every {
		return
	}
	b.last = time.Now()
	b.draw(st)
}

func (b *replayProgress) draw(st dlq.Status) {
	pct := 100.0
	if st.Total > 0 {
		pct = 100 * float64(st.Replayed) / float64(st.Total)
	}
	eta := "-"
	if st.ETASeconds != nil {
		eta = (time.Duration(*st.ETASeconds * float64(time.Second))).Round(time.Second).String()
	}
	if !b.tty {
		fmt.Fprintf(b.w, "progress %d/%d (%.1f%%)  %.1f records/s  ETA %s\n", st.Replayed, st.Total, pct, st.RatePerSecond, eta)
		return
	}
	const width = 30
	filled := int(pct / 100 * width)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	fmt.Fprintf(b.w, "\r[%s] %d/%d %5.1f%%  %.1f/s  ETA %-8s", bar, st.Replayed, st.Total, pct, st.RatePerSecond, eta)
}

func (b *replayProgress) finish(st dlq.Status) {
	if st.ID == "" {
		return
	}
	b.draw(st)
	if b.tty {
		fmt.Fprintln(b.w)
	}
}
