package dlq

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/topics"
)

// letter is one dead-letter record, its value decoded as far as it goes.
type letter struct {
	rec      *kgo.Record
	kind     Kind
	delivery *event.Delivery      // commerce.deliveries.dlq
	raw      *event.Event         // commerce.events.dlq, failed by enrich
	enriched *event.EnrichedEvent // commerce.events.dlq, failed by fanout
	err      error                // the value did not decode
}

// decode decodes r's value. A value that does not decode is not an error
// here: the letter says so (err) and is still counted, shown and, when
// nothing needs its value, replayed byte for byte.
func (s *Service) decode(ctx context.Context, kind Kind, r *kgo.Record) (*letter, error) {
	l := &letter{rec: r, kind: kind}
	if kind == KindDeliveries {
		d, err := s.deliveries.Decode(ctx, r.Value)
		if err != nil {
			return l, transient(err, &l.err)
		}
		l.delivery = &d
		return l, nil
	}
	enrichedFirst := header(r, topics.HeaderDLQTopic) == s.cfg.Names.Name(topics.EventsEnriched)
	for _, asEnriched := range []bool{enrichedFirst, !enrichedFirst} {
		var err error
		if asEnriched {
			var e event.EnrichedEvent
			if e, err = s.enriched.Decode(ctx, r.Value); err == nil {
				l.enriched, l.err = &e, nil
				return l, nil
			}
		} else {
			var e event.Event
			if e, err = s.events.Decode(ctx, r.Value); err == nil {
				l.raw, l.err = &e, nil
				return l, nil
			}
		}
		if terr := transient(err, &l.err); terr != nil {
			return l, terr
		}
	}
	return l, nil
}

// transient sorts a decoding error: one that will never go away (the bytes
// or the schema) is stored in *permanent and nil is returned; anything
// else (the registry is unreachable) is returned.
func transient(err error, permanent *error) error {
	if errors.Is(err, avroserde.ErrNotWireFormat) || errors.Is(err, avroserde.ErrUnknownSchema) || errors.Is(err, avroserde.ErrUndecodable) {
		*permanent = err
		return nil
	}
	return err
}

// subscription is the subscription a delivery dead letter is for: from
// the value, else from the key "<subscription>/<entity key>".
func (l *letter) subscription() string {
	if l.kind != KindDeliveries {
		return ""
	}
	if l.delivery != nil {
		return l.delivery.SubscriptionID
	}
	if sub, _, ok := strings.Cut(string(l.rec.Key), "/"); ok {
		return sub
	}
	return ""
}

// eventID is the id of the event the dead letter carries.
func (l *letter) eventID() string {
	if id := header(l.rec, topics.HeaderEventID); id != "" {
		return id
	}
	switch {
	case l.delivery != nil:
		return l.delivery.EventID
	case l.raw != nil:
		return l.raw.ID
	case l.enriched != nil:
		return l.enriched.ID
	}
	return ""
}

// replayCount is the __surge.replay.count the record carries; 0 when it
// was never replayed.
func replayCount(r *kgo.Record) int {
	n, _ := strconv.Atoi(header(r, topics.HeaderReplayCount))
	return n
}

// header returns the value of the last header named key, or "": a record
// replayed and dead-lettered again carries the latest values last.
func header(r *kgo.Record, key string) string {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return string(r.Headers[i].Value)
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
