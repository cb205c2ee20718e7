package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/surgehq/surge/pkg/dlq"
)

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
	for _, k := range slices.Sorted(maps.Keys(pl.ByTarget)) {
		fmt.Fprintf(out, "  to %s: %d\n", k, pl.ByTarget[k])
	}
	for _, k := range slices.Sorted(maps.Keys(pl.BySubscription)) {
		fmt.Fprintf(out, "  of subscription %s: %d\n", k, pl.BySubscription[k])
	}
	for _, k := range slices.Sorted(maps.Keys(pl.Skipped)) {
		fmt.Fprintf(out, "  left out (%s): %d\n", k, pl.Skipped[k])
	}
	return err
}

// replayProgress shows a replay's progress: a bar redrawn in place on a
// terminal, a plain line a second otherwise (logs, pipes, CI).
type replayProgress struct{ p *progress }

func newReplayProgress(w io.Writer) *replayProgress { return replayProgressOn(w, isTerminal(w)) }

// replayProgressOn shows the progress on w, as on a terminal when tty.
func replayProgressOn(w io.Writer, tty bool) *replayProgress {
	every := time.Second
	if tty {
		every = 100 * time.Millisecond
	}
	p := newProgress(w, time.Now(), 0, every)
	p.tty = tty
	return &replayProgress{p: p}
}

func (b *replayProgress) update(st dlq.Status) {
	if _, ok := b.p.due(b.p.elapsed()); ok {
		b.draw(st)
	}
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
	if !b.p.tty {
		b.p.println("progress %d/%d (%.1f%%)  %.1f records/s  ETA %s", st.Replayed, st.Total, pct, st.RatePerSecond, eta)
		return
	}
	const width = 30
	filled := int(pct / 100 * width)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	b.p.redraw("[%s] %d/%d %5.1f%%  %.1f/s  ETA %-8s", bar, st.Replayed, st.Total, pct, st.RatePerSecond, eta)
}

func (b *replayProgress) finish(st dlq.Status) {
	if st.ID == "" {
		return
	}
	b.draw(st)
	b.p.end()
}
