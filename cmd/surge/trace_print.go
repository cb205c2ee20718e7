package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/surgehq/surge/pkg/trace"
)

func traceTime(t time.Time) string { return trace.FormatTime(t) }

// printTrace writes the steps as JSON lines, or as a timeline and a table
// of subscriptions.
func printTrace(out io.Writer, res *trace.Trace, asJSON bool) error {
	steps := append(slices.Clone(res.Steps), res.Summary...)
	if asJSON {
		enc := json.NewEncoder(out)
		for _, s := range steps {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
		return nil
	}
	head := "event " + res.EventID
	if res.AcceptedAt != nil {
		head += ", accepted " + res.AcceptedAt.UTC().Format(time.RFC3339)
	}
	from := time.Time{}
	if res.SearchedFrom != nil {
		from = *res.SearchedFrom
	}
	fmt.Fprintf(out, "%s (searched from %s)\n\n", head, trace.DescribeFrom(from))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSTAGE\tTOPIC\tPARTITION\tOFFSET\tWHAT")
	var sums []trace.Step
	for _, s := range steps {
		if s.Stage == trace.StageSummary {
			sums = append(sums, s)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", traceTime(s.Time), s.Stage, s.Topic, *s.Partition, *s.Offset, describeStep(s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if len(sums) == 1 && sums[0].SubscriptionID == "" {
		s := sums[0]
		fmt.Fprintf(tw, "%s: %s\n", trace.HumanResult(s.Result), withError(s.Detail, s.Error))
		return tw.Flush()
	}
	fmt.Fprintln(tw, "SUBSCRIPTION\tRESULT\tATTEMPTS\tWEBHOOK-ID\tDETAIL")
	for _, s := range sums {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", s.SubscriptionID, trace.HumanResult(s.Result), s.Attempts, orDash(s.DeliveryID), withError(s.Detail, s.Error))
	}
	return tw.Flush()
}

func withError(detail, err string) string {
	if err == "" {
		return detail
	}
	if detail == "" {
		return strconv.Quote(err)
	}
	return detail + ": " + strconv.Quote(err)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// describeStep is a step's WHAT column: key=value pairs.
func describeStep(s trace.Step) string {
	var b []string
	kv := func(k, v string) {
		if v != "" {
			b = append(b, k+"="+v)
		}
	}
	q := func(k, v string) {
		if v != "" {
			b = append(b, k+"="+strconv.Quote(v))
		}
	}
	switch s.Kind {
	case trace.KindEvent:
		if s.Stage == trace.StageIngest {
			kv("type", s.EventType)
			kv("key", s.EntityKey)
			kv("source", s.Source)
			if s.ReceivedAt != nil {
				kv("received_at", traceTime(*s.ReceivedAt))
			}
			if o := s.Origin; o != nil {
				kv("origin.format", o.Format)
				q("origin.id", o.ID)
				q("origin.type", o.Type)
				q("origin.source", o.Source)
				q("origin.entity_id", o.EntityID)
			}
			break
		}
		kv("type", s.EventType)
		if s.ValueError == "" {
			kv("version", strconv.FormatInt(s.EntityVersion, 10))
			kv("changes", strings.Join(s.Changes, ","))
			kv("flags", strings.Join(s.Flags, ","))
			if s.Deleted {
				kv("deleted", "true")
			}
			q("warnings", strings.Join(s.Warnings, ", "))
		}
	case trace.KindDerived:
		b = append(b, "derived")
		kv("event_id", s.EventID)
		kv("type", s.EventType)
		kv("key", s.EntityKey)
		if s.EntityVersion > 0 {
			kv("version", strconv.FormatInt(s.EntityVersion, 10))
		}
	case trace.KindDelivery:
		kv("subscription", s.SubscriptionID)
		kv("webhook-id", s.DeliveryID)
		kv("key", s.EntityKey)
	case trace.KindParked:
		b = append(b, "parked")
		kv("subscription", s.SubscriptionID)
		kv("webhook-id", s.DeliveryID)
		kv("attempts", strconv.Itoa(int(s.Attempts)))
		if s.NextAttemptAt != nil {
			kv("next_attempt_at", traceTime(*s.NextAttemptAt))
		}
		if s.Status != 0 {
			kv("last_status", strconv.Itoa(int(s.Status)))
		}
		q("last_error", s.Error)
	case trace.KindAttempt:
		kv("attempt", strconv.Itoa(int(s.Attempt)))
		kv("subscription", s.SubscriptionID)
		kv("status", strconv.Itoa(int(s.Status)))
		kv("outcome", s.Outcome)
		if s.ValueError == "" {
			kv("duration", strconv.FormatFloat(s.DurationMS, 'f', -1, 64)+"ms")
		}
		if s.NextAttemptAt != nil {
			kv("next_attempt_at", traceTime(*s.NextAttemptAt))
		}
		q("error", s.Error)
	case trace.KindDeadLetter:
		b = append(b, "dead-lettered")
		kv("subscription", s.SubscriptionID)
		kv("webhook-id", s.DeliveryID)
		if s.SubscriptionID == "" { // commerce.events.dlq
			kv("type", s.EventType)
			kv("key", s.EntityKey)
		}
		if dl := s.DeadLetter; dl != nil {
			kv("by", dl.Stage)
			kv("class", dl.Class)
			kv("http_status", dl.HTTPStatus)
			kv("attempts", dl.Attempts)
			if dl.FromTopic != "" {
				kv("from", dl.FromTopic+"/"+dl.FromPart+"@"+dl.FromOffset)
			}
			q("error", dl.Error)
		}
	}
	q("value_error", s.ValueError)
	return strings.Join(b, " ")
}
