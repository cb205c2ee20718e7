package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func httpStatus(s string) string {
	if s == "" || s == "0" {
		return ""
	}
	return "HTTP " + s
}

func httpStatusN(s int32) string {
	if s == 0 {
		return "got no response"
	}
	return "got HTTP " + strconv.Itoa(int(s))
}

func traceTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// humanResult is a result as people read it.
func humanResult(r string) string {
	switch r {
	case resultDeadLettered:
		return "dead-lettered"
	case resultPending:
		return "not delivered yet"
	case resultNoDeliveries:
		return "no deliveries"
	}
	return r
}

// printTrace writes the steps as JSON lines, or as a timeline and a table
// of subscriptions.
func printTrace(out io.Writer, res traceSearch, minted time.Time, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(out)
		for _, s := range res.steps {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
		return nil
	}
	head := "event " + res.id
	if !minted.IsZero() {
		head += ", accepted " + minted.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(out, "%s (searched from %s)\n\n", head, describeFrom(res.from))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSTAGE\tTOPIC\tPARTITION\tOFFSET\tWHAT")
	var sums []traceStep
	for _, s := range res.steps {
		if s.Stage == stageSummary {
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
		fmt.Fprintf(tw, "%s: %s\n", humanResult(s.Result), withError(s.Detail, s.Error))
		return tw.Flush()
	}
	fmt.Fprintln(tw, "SUBSCRIPTION\tRESULT\tATTEMPTS\tWEBHOOK-ID\tDETAIL")
	for _, s := range sums {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", s.SubscriptionID, humanResult(s.Result), s.Attempts, orDash(s.DeliveryID), withError(s.Detail, s.Error))
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
func describeStep(s traceStep) string {
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
	case kindEvent:
		if s.Stage == stageIngest {
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
	case kindDerived:
		b = append(b, "derived")
		kv("event_id", s.EventID)
		kv("type", s.EventType)
		kv("key", s.EntityKey)
		if s.EntityVersion > 0 {
			kv("version", strconv.FormatInt(s.EntityVersion, 10))
		}
	case kindDelivery:
		kv("subscription", s.SubscriptionID)
		kv("webhook-id", s.DeliveryID)
		kv("key", s.EntityKey)
	case kindParked:
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
	case kindAttempt:
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
	case kindDeadLetter:
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
