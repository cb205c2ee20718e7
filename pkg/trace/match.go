package trace

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// matcher matches the records of the topics to one event id.
type matcher struct {
	id    string
	names topics.Namer
	base  map[string]string // full topic name → base name

	events     *avroserde.Codec[event.Event]
	enriched   *avroserde.Codec[event.EnrichedEvent]
	deliveries *avroserde.Codec[event.Delivery]
	attempts   *avroserde.Codec[event.DeliveryAttempt]
	subCodec   *avroserde.Codec[event.Subscription]

	details bool // Options.Details

	steps []Step
	subs  map[string][]byte // subscription id → last value (nil: tombstone)

	// The event's raw and enriched records, to ask the stages' consumer
	// groups whether they have read past them.
	raw, enrichedRec *kgo.Record
}

// match keeps r when it is about the event.
func (t *matcher) match(ctx context.Context, r *kgo.Record) {
	base := t.base[r.Topic]
	eid := stream.Header(r, topics.HeaderEventID)
	switch base {
	case topics.Subscriptions:
		t.subs[string(r.Key)] = r.Value
		return
	case topics.DeliveryAttempts:
		// The dispatcher copies the delivery's headers onto its attempts;
		// a record without them is decoded and matched by its event_id.
		if eid != "" && eid != t.id {
			return
		}
		a, err := t.attempts.Decode(ctx, r.Value)
		if err != nil {
			if eid == t.id {
				t.add(recordStep(r, StageDispatcher, KindAttempt, err))
			}
			return
		}
		if a.EventID == t.id {
			s := attemptStep(r, a)
			if t.details {
				s.ResponseHeaders, s.ResponseBody = a.ResponseHeaders, a.ResponseBody
			}
			t.add(s)
		}
		return
	}
	causedBy := eid != t.id && (base == topics.EventsRaw || base == topics.EventsEnriched) &&
		stream.Header(r, topics.HeaderCausationID) == t.id
	if eid != t.id && !causedBy {
		return
	}
	switch base {
	case topics.EventsRaw:
		ev, err := t.events.Decode(ctx, r.Value)
		if causedBy {
			s := recordStep(r, StageEnrich, KindDerived, err)
			s.EventID = eid
			if err == nil {
				s.EventType, s.EntityKey, s.Source = ev.Type, ev.Entity.Key(), ev.Source
			}
			t.add(s)
			return
		}
		s := recordStep(r, StageIngest, KindEvent, err)
		if err == nil {
			rec := ev.ReceivedAt.UTC()
			s.EventType, s.EntityKey, s.Source, s.ReceivedAt = ev.Type, ev.Entity.Key(), ev.Source, &rec
			s.Origin = originOf(ev.Origin)
		}
		t.add(s)
		if t.raw == nil {
			t.raw = r
		}
	case topics.EventsEnriched:
		e, err := t.enriched.Decode(ctx, r.Value)
		kind := KindEvent
		if causedBy {
			kind = KindDerived
		}
		s := recordStep(r, StageEnrich, kind, err)
		if err == nil {
			s.EventType, s.EntityKey, s.Source = e.Type, e.Entity.Key(), e.Source
			s.EntityVersion, s.Changes, s.Flags, s.Deleted = e.EntityVersion, e.Changes, e.Flags, e.Deleted
			for _, w := range e.Warnings {
				s.Warnings = append(s.Warnings, strings.TrimSpace(w.Code+" "+w.Field))
			}
		}
		if causedBy {
			s.EventID = eid
		} else if t.enrichedRec == nil {
			t.enrichedRec = r
		}
		t.add(s)
	case topics.EventsDLQ:
		dl := deadLetterOf(r)
		stage := StageEnrich
		if dl.Stage == StageFanout {
			stage = StageFanout
		}
		s := recordStep(r, stage, KindDeadLetter, nil)
		s.EventType, s.DeadLetter = stream.Header(r, topics.HeaderEventType), dl
		if r.Key != nil {
			s.EntityKey = string(r.Key)
		}
		t.add(s)
	case topics.Deliveries, topics.DeliveriesRetry, topics.DeliveriesDLQ:
		kind := map[string]string{topics.Deliveries: KindDelivery, topics.DeliveriesRetry: KindParked, topics.DeliveriesDLQ: KindDeadLetter}[base]
		stage := StageDispatcher
		if base == topics.Deliveries {
			stage = StageFanout
		}
		d, err := t.deliveries.Decode(ctx, r.Value)
		s := recordStep(r, stage, kind, err)
		s.SubscriptionID = stream.Header(r, topics.HeaderSubscriptionID)
		if err == nil {
			s.SubscriptionID, s.DeliveryID, s.EventType, s.EntityKey = d.SubscriptionID, d.ID, d.EventType, d.EntityKey
			s.EntityVersion = d.EntityVersion
			if kind != KindDelivery {
				s.Attempts, s.Status, s.Error, s.NextAttemptAt = d.Attempts, d.LastStatus, d.LastError, d.NextAttemptAt
			}
			if kind == KindDelivery && t.details {
				s.Body = string(d.Body)
				if len(s.Body) > MaxBody {
					s.Body, s.BodyTruncated = strings.ToValidUTF8(s.Body[:MaxBody], ""), true
				}
			}
		}
		if kind == KindDeadLetter {
			s.DeadLetter = deadLetterOf(r)
		}
		t.add(s)
	}
}

func (t *matcher) add(s Step) { t.steps = append(t.steps, s) }

// recordStep is the part of a step every record gives.
func recordStep(r *kgo.Record, stage, kind string, decodeErr error) Step {
	p, o := r.Partition, r.Offset
	s := Step{Time: r.Timestamp.UTC(), Stage: stage, Kind: kind, Topic: r.Topic, Partition: &p, Offset: &o}
	if decodeErr != nil {
		s.ValueError = decodeErr.Error()
	}
	return s
}

func attemptStep(r *kgo.Record, a event.DeliveryAttempt) Step {
	s := recordStep(r, StageDispatcher, KindAttempt, nil)
	// An attempt is placed at the time it started: its record is written
	// once it ended.
	if !a.StartedAt.IsZero() {
		s.Time = a.StartedAt.UTC()
	}
	s.SubscriptionID, s.DeliveryID, s.EntityKey = a.SubscriptionID, a.DeliveryID, a.EntityKey
	s.Attempt, s.Status, s.Outcome, s.Error = a.Attempt, a.StatusCode, a.Outcome, a.Error
	s.DurationMS = float64(a.Duration.Microseconds()) / 1000
	s.URL = a.URL
	if a.NextAttemptAt != nil {
		n := a.NextAttemptAt.UTC()
		s.NextAttemptAt = &n
	}
	return s
}

func deadLetterOf(r *kgo.Record) *DeadLetter {
	h := func(k string) string { return stream.Header(r, k) }
	return &DeadLetter{
		Stage:        h(topics.HeaderDLQStage),
		Class:        h(topics.HeaderDLQErrorClass),
		Error:        h(topics.HeaderDLQError),
		Attempts:     h(topics.HeaderDLQAttempts),
		HTTPStatus:   h(topics.HeaderDLQHTTPStatus),
		FromTopic:    h(topics.HeaderDLQTopic),
		FromPart:     h(topics.HeaderDLQPartition),
		FromOffset:   h(topics.HeaderDLQOffset),
		FirstFailure: h(topics.HeaderDLQFirstFailure),
		LastFailure:  h(topics.HeaderDLQLastFailure),
	}
}
