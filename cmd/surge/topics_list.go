package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/surgehq/surge/pkg/inspect"
	"github.com/surgehq/surge/pkg/topics"
)

// topicSummary is one line of `surge topics list`.
type topicSummary struct {
	Name              string             `json:"name"`
	Surge             bool               `json:"surge"`  // named by Surge (with the prefix)
	Exists            bool               `json:"exists"` // false: a Surge topic not created yet
	Partitions        int                `json:"partitions"`
	ReplicationFactor int                `json:"replication_factor"`
	CleanupPolicy     string             `json:"cleanup_policy,omitempty"`
	SizeBytes         *int64             `json:"size_bytes"` // null: the brokers did not say
	EndOffsets        int64              `json:"end_offsets"`
	Groups            []inspect.GroupLag `json:"groups"`
}

// summaries are Surge's topics in pipeline order, then the others by name.
func (v *topicsView) summaries() []topicSummary {
	var out []topicSummary
	add := func(name string) {
		s := topicSummary{Name: name, Surge: v.isSurge(name), Exists: v.exists(name), Groups: []inspect.GroupLag{}}
		if !s.Exists {
			if name != topics.Schemas { // an external registry may keep it elsewhere
				out = append(out, s)
			}
			return
		}
		ps := v.partitions(name)
		s.Partitions = len(ps)
		for _, p := range ps {
			s.ReplicationFactor = max(s.ReplicationFactor, len(v.meta[name].Partitions[p].Replicas))
			s.EndOffsets += v.offset(v.ends, name, p)
		}
		s.CleanupPolicy = v.config(name, "cleanup.policy")
		s.SizeBytes = v.topicSize(name)
		for _, g := range v.readers(name) {
			gl := v.lag(name, g)
			gl.Partitions = nil
			s.Groups = append(s.Groups, gl)
		}
		out = append(out, s)
	}
	for _, t := range v.surge {
		add(t)
	}
	for _, t := range v.meta.Names() {
		if !v.isSurge(t) {
			add(t)
		}
	}
	return out
}

func (v *topicsView) printList(out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tRF\tCLEANUP\tSIZE\tEND OFFSETS\tLAG")
	others, missing, stalled := false, 0, false
	for _, s := range v.summaries() {
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
	if missing == len(v.surge)-1 { // _schemas is never listed missing
		fmt.Fprintf(out, "no Surge topic here: every Surge service creates them at start; is --topic-prefix (%q) the services' one?\n", v.names.Prefix)
	}
	if v.sizeErr != nil {
		fmt.Fprintf(out, "sizes n/a: the brokers did not describe their log dirs (%v)\n", v.sizeErr)
	}
	if stalled {
		fmt.Fprintln(out, "(stalled): the stage reports records it cannot process; surge topics describe TOPIC says why (docs/runbook.md)")
	}
	if v.stallErr != nil {
		fmt.Fprintf(out, "stall marks n/a: reading the stages' stall reports: %v\n", v.stallErr)
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
