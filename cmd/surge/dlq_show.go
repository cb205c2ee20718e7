package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/surgehq/surge/pkg/dlq"
	"github.com/surgehq/surge/pkg/topics"
)

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
	if dl.AWSErrorCode != "" {
		fmt.Fprintf(w, "AWS error code\t%s\n", dl.AWSErrorCode)
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
	for _, k := range slices.Sorted(maps.Keys(r.Headers)) {
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
