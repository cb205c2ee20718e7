package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/surgehq/surge/pkg/inspect"
)

// topicSummary is one line of `surge topics list`.
type topicSummary = inspect.TopicSummary

func (v *topicsView) printList(out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tRF\tCLEANUP\tSIZE\tEND OFFSETS\tLAG")
	others, missing, stalled := false, 0, false
	for _, s := range v.Summaries() {
		name := s.Name
		if !s.Surge {
			name += " *"
			others = true
		}
		if !s.Exists {
			fmt.Fprintf(tw, "%s\t(missing)\t-\t-\t-\t-\t-\n", name)
			missing++
			continue
		}
		var lags []string
		for _, g := range s.Groups {
			l := fmt.Sprintf("%s %d", g.Group, g.Lag)
			if !g.Committed {
				l += " (no commits)"
			}
			if g.Stalled > 0 {
				l += " (stalled)"
				stalled = true
			}
			lags = append(lags, l)
		}
		if len(lags) == 0 {
			lags = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%d\t%s\n", name, s.Partitions, s.ReplicationFactor, orDash(s.CleanupPolicy),
			sizeText(s.SizeBytes), s.EndOffsets, strings.Join(lags, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if others {
		fmt.Fprintln(out, "* not a Surge topic")
	}
	if missing == len(v.Surge)-1 { // _schemas is never listed missing
		fmt.Fprintf(out, "no Surge topic here: every Surge service creates them at start; is --topic-prefix (%q) the services' one?\n", v.Names.Prefix)
	}
	if v.SizeErr != nil {
		fmt.Fprintf(out, "sizes n/a: the brokers did not describe their log dirs (%v)\n", v.SizeErr)
	}
	if stalled {
		fmt.Fprintln(out, "(stalled): the stage reports records it cannot process; surge topics describe TOPIC says why (docs/runbook.md)")
	}
	if v.StallErr != nil {
		fmt.Fprintf(out, "stall marks n/a: reading the stages' stall reports: %v\n", v.StallErr)
	}
	return v.printBacklog(out)
}

// sizeText prints a size in binary units, or n/a when unknown.
func sizeText(n *int64) string {
	if n == nil {
		return "n/a"
	}
	const unit = 1024
	if *n < unit {
		return fmt.Sprintf("%d B", *n)
	}
	v, i := float64(*n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}
