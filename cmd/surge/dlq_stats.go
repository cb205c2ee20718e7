package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/surgehq/surge/pkg/dlq"
)

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
