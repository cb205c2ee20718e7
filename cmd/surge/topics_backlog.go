package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/surgehq/surge/pkg/backlog"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/topics"
)

// How `surge topics` shows backpressure. Like a stall, a subscription's
// backlog is known only inside the dispatcher instances that hold it, so
// each one writes its share to commerce.backlog (pkg/backlog) and `surge
// topics` reads that topic to its end and sums the fresh reports per
// subscription, leaving out those older than four of their writer's
// intervals (a killed instance's last report).

// readBacklog is every subscription's backlog at now, by subscription id,
// summed over the fresh reports in commerce.backlog.
func readBacklog(ctx context.Context, kafka config.Kafka, registryURL string, exists bool, now time.Time) ([]backlog.Summary, error) {
	reports, err := readReports(ctx, kafka, registryURL, topics.Backlog, exists, backlog.NewCodec)
	if err != nil {
		return nil, err
	}
	list := make([]backlog.Report, 0, len(reports))
	for _, r := range reports {
		list = append(list, r)
	}
	out := []backlog.Summary{}
	for _, s := range backlog.Summarize(list, now) {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b backlog.Summary) int { return strings.Compare(a.Subscription, b.Subscription) })
	return out, nil
}

// printBacklog is the BACKLOG section of `surge topics list`.
func (v *topicsView) printBacklog(out io.Writer) error {
	if v.backlogErr != nil {
		fmt.Fprintf(out, "\nbacklog n/a: reading the dispatchers' backlog reports: %v\n", v.backlogErr)
		return nil
	}
	if len(v.backlog) == 0 {
		fmt.Fprintln(out, "\nbacklog: none (no dispatcher reports deliveries waiting)")
		return nil
	}
	fmt.Fprintln(out, "\nBACKLOG (deliveries waiting in the dispatchers, per subscription; docs/runbook.md)")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBSCRIPTION\tWAITING\tIN MEMORY\tIN RETRY TOPIC\tOLDEST\tDELIVERIES/S\tINSTANCES")
	for _, s := range v.backlog {
		age := "-"
		if s.OldestAgeSeconds != nil {
			age = backlog.AgeText(*s.OldestAgeSeconds)
		}
		names := make([]string, len(s.Instances))
		for i, in := range s.Instances {
			names[i] = in.Instance
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%.1f\t%s\n", s.Subscription, s.Waiting(), s.InMemory, s.InRetryTopic, age,
			s.DeliveriesPerSecond, strings.Join(names, ","))
	}
	return tw.Flush()
}
