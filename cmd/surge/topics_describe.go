package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/surgehq/surge/pkg/inspect"
)

// topicDescription is `surge topics describe`.
type topicDescription struct {
	Name              string             `json:"name"`
	Surge             bool               `json:"surge"`
	ReplicationFactor int                `json:"replication_factor"`
	SizeBytes         *int64             `json:"size_bytes"`
	Partitions        []partitionDesc    `json:"partitions"`
	Groups            []inspect.GroupLag `json:"groups"`
	Configs           map[string]string  `json:"configs"` // set on the topic, not defaults
	SizeError         string             `json:"size_error,omitempty"`
	StallsError       string             `json:"stalls_error,omitempty"` // why no lag could be marked stalled
}

type partitionDesc struct {
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
	Start     int64   `json:"start"`
	End       int64   `json:"end"`
	StableEnd int64   `json:"stable_end"` // read_committed's end; below End while a transaction is open
	SizeBytes *int64  `json:"size_bytes"`
}

func (v *topicsView) describe(topic string) topicDescription {
	d := topicDescription{Name: topic, Surge: v.isSurge(topic), SizeBytes: v.topicSize(topic), Configs: map[string]string{}, Groups: []inspect.GroupLag{}}
	if v.sizeErr != nil {
		d.SizeError = v.sizeErr.Error()
	}
	if v.stallErr != nil {
		d.StallsError = v.stallErr.Error()
	}
	for _, p := range v.partitions(topic) {
		pd := v.meta[topic].Partitions[p]
		d.ReplicationFactor = max(d.ReplicationFactor, len(pd.Replicas))
		d.Partitions = append(d.Partitions, partitionDesc{
			Partition: p, Leader: pd.Leader, Replicas: int32sOrEmpty(pd.Replicas), ISR: int32sOrEmpty(pd.ISR),
			Start: v.offset(v.Starts, topic, p), End: v.offset(v.ends, topic, p), StableEnd: v.offset(v.Stable, topic, p),
			SizeBytes: v.partitionSize(topic, p),
		})
	}
	for _, g := range v.readers(topic) {
		d.Groups = append(d.Groups, v.lag(topic, g))
	}
	for _, c := range v.configs[topic] {
		switch c.Source {
		case kmsg.ConfigSourceDefaultConfig, kmsg.ConfigSourceStaticBrokerConfig,
			kmsg.ConfigSourceDynamicBrokerConfig, kmsg.ConfigSourceDynamicDefaultBrokerConfig:
			continue // the broker's, not this topic's
		}
		if c.Sensitive {
			d.Configs[c.Key] = "(sensitive)"
		} else {
			d.Configs[c.Key] = c.MaybeValue()
		}
	}
	return d
}

func (d topicDescription) print(out io.Writer) error {
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

func int32sOrEmpty(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func int32sText(s []int32) string {
	parts := make([]string, len(s))
	for i, n := range s {
		parts[i] = fmt.Sprint(n)
	}
	return orDash(strings.Join(parts, ","))
}
