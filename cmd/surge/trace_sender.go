package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/topics"
)

// senderMatch is an event of commerce.events.raw whose sender's id is the
// one searched for.
type senderMatch struct {
	eventID    string
	key        string
	origin     event.Origin
	receivedAt time.Time
}

// findBySenderID reads commerce.events.raw from its start to its end
// offsets for the events whose origin id is id (narrowed by
// --origin-source and --origin-type) and returns the Surge id of the one
// found, "" when none is. Several matches are an error listing them.
func findBySenderID(ctx context.Context, c traceConfig, adm *kadm.Client, reg *avroserde.Registry, names topics.Namer, id string, stderr *lockedWriter) (string, error) {
	raw := names.Name(topics.EventsRaw)
	plan, err := planTrace(ctx, adm, []string{raw}, time.Time{}, "")
	if err != nil {
		return "", err
	}
	codec := avroserde.NewEventCodec(reg, raw)
	var matches []senderMatch
	err = readPlan(ctx, c.Kafka, plan, nil, func(ctx context.Context, r *kgo.Record) {
		ev, err := codec.Decode(ctx, r.Value)
		if err != nil || ev.Origin.ID != id ||
			(c.OriginSource != "" && ev.Origin.Source != c.OriginSource) || (c.OriginType != "" && ev.Origin.Type != c.OriginType) {
			return
		}
		matches = append(matches, senderMatch{eventID: ev.ID, key: ev.Entity.Key(), origin: ev.Origin, receivedAt: ev.ReceivedAt})
	})
	if err != nil {
		return "", fmt.Errorf("searching %s for sender's id %s: %w", raw, id, err)
	}
	switch len(matches) {
	case 0:
		return "", nil
	case 1:
		m := matches[0]
		stderr.printf("note: %s is the sender's id (%s%s) of event %s\n", id, m.origin.Format, describeOrigin(m.origin), m.eventID)
		return m.eventID, nil
	}
	var b strings.Builder
	for _, m := range matches {
		fmt.Fprintf(&b, "\n  %s  %s  received %s  %s%s", m.eventID, m.key, traceTime(m.receivedAt), m.origin.Format, describeOrigin(m.origin))
	}
	return "", fmt.Errorf("%d events have sender's id %s%s:%s\nnarrow the search with --origin-source or --origin-type, or trace one of these event ids",
		len(matches), id, describeOriginFilter(c), b.String())
}

// describeOrigin is ", type T from S" for people.
func describeOrigin(o event.Origin) string {
	s := ""
	if o.Type != "" {
		s += ", type " + o.Type
	}
	if o.Source != "" {
		s += ", from " + o.Source
	}
	return s
}

func describeOriginFilter(c traceConfig) string {
	var parts []string
	if c.OriginSource != "" {
		parts = append(parts, "origin source "+c.OriginSource)
	}
	if c.OriginType != "" {
		parts = append(parts, "origin type "+c.OriginType)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
