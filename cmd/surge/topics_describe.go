package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/surgehq/surge/pkg/inspect"
)

// topicDescription is `surge topics describe`.
type topicDescription = inspect.TopicDescription

// printDescription prints d as `surge topics describe` does.
func printDescription(out io.Writer, d topicDescription) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	kind := "a Surge topic"
	if !d.Surge {
		kind = "not a Surge topic"
	}
	fmt.Fprintf(tw, "topic\t%s (%s)\n", d.Name, kind)
	fmt.Fprintf(tw, "partitions\t%d, replication factor %d\n", len(d.Partitions), d.ReplicationFactor)
	fmt.Fprintf(tw, "size\t%s (every replica)\n", sizeText(d.SizeBytes))
	keys := make([]string, 0, len(d.Configs))
	for k := range d.Configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		fmt.Fprintf(tw, "configs\t(all defaults)\n")
	}
	for i, k := range keys {
		label := ""
		if i == 0 {
			label = "configs"
		}
		fmt.Fprintf(tw, "%s\t%s=%s\n", label, k, d.Configs[k])
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tREPLICAS\tISR\tSTART\tEND\tSIZE")
	for _, p := range d.Partitions {
		end := fmt.Sprint(p.End)
		if p.StableEnd != p.End {
			end += fmt.Sprintf(" (stable %d)", p.StableEnd)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%s\t%s\n", p.Partition, p.Leader, int32sText(p.Replicas), int32sText(p.ISR), p.Start, end, sizeText(p.SizeBytes))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	for _, g := range d.Groups {
		fmt.Fprintln(out)
		var about []string
		if g.Stage {
			about = append(about, "the stage that reads this topic")
		}
		if g.State != "" {
			about = append(about, g.State)
		}
		if g.Members != nil {
			about = append(about, fmt.Sprintf("%d member%s", *g.Members, map[bool]string{true: "s"}[*g.Members != 1]))
		}
		if !g.Committed {
			about = append(about, "no committed offsets")
		}
		head := "group " + g.Group
		if len(about) > 0 {
			head += " (" + strings.Join(about, ", ") + ")"
		}
		stalled := ""
		if g.Stalled > 0 {
			stalled = fmt.Sprintf(", stalled on %d partition%s", g.Stalled, map[bool]string{true: "s"}[g.Stalled != 1])
		}
		fmt.Fprintf(out, "%s: lag %d%s\n", head, g.Lag, stalled)
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		if g.Stalled > 0 {
			fmt.Fprintln(tw, "PARTITION\tCOMMITTED\tLAG\tSTALLED")
		} else {
			fmt.Fprintln(tw, "PARTITION\tCOMMITTED\tLAG")
		}
		for _, p := range g.Partitions {
			committed := "-"
			if p.Committed != nil {
				committed = fmt.Sprint(*p.Committed)
			}
			switch {
			case p.Stall != nil:
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", p.Partition, committed, p.Lag, stallText(p.Stall, time.Now()))
			case g.Stalled > 0:
				fmt.Fprintf(tw, "%d\t%s\t%d\t-\n", p.Partition, committed, p.Lag)
			default:
				fmt.Fprintf(tw, "%d\t%s\t%d\n", p.Partition, committed, p.Lag)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(d.Groups) == 0 {
		fmt.Fprintln(out, "\nno consumer group has committed offsets on this topic")
	}
	if d.SizeError != "" {
		fmt.Fprintf(out, "sizes n/a: the brokers did not describe their log dirs (%s)\n", d.SizeError)
	}
	if d.StallsError != "" {
		fmt.Fprintf(out, "stall marks n/a: reading the stages' stall reports: %s\n", d.StallsError)
	}
	return nil
}

// stallText is a stalled partition's STALLED column: since when, at which
// offset, by which instance, and why.
func stallText(s *inspect.StallMark, now time.Time) string {
	who := ""
	if s.Instance != "" {
		who = " on " + s.Instance
	}
	return fmt.Sprintf("at offset %d for %s (since %s%s): %s", s.Offset, now.Sub(s.Since).Round(time.Second),
		s.Since.Format(time.RFC3339), who, s.Reason)
}

func int32sText(s []int32) string {
	parts := make([]string, len(s))
	for i, n := range s {
		parts[i] = fmt.Sprint(n)
	}
	return orDash(strings.Join(parts, ","))
}
