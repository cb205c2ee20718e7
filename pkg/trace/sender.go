package trace

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/topics"
)

// SenderMatch is an event of commerce.events.raw whose sender's id is the
// one searched for.
type SenderMatch struct {
	EventID    string       `json:"event_id"`
	EntityKey  string       `json:"entity_key"`
	Origin     event.Origin `json:"-"`
	ReceivedAt time.Time    `json:"received_at"`
}

// OriginFilter narrows a search by sender's id to the events whose origin
// has this source and type (either empty: any).
type OriginFilter struct {
	Source, Type string
}

// BySenderID reads commerce.events.raw from its start to its end offsets
// for the events whose origin id is id (narrowed by f), in log order.
func (t *Tracer) BySenderID(ctx context.Context, id string, f OriginFilter) ([]SenderMatch, error) {
	raw := t.cfg.Names.Name(topics.EventsRaw)
	p, err := planRead(ctx, t.adm, []string{raw}, time.Time{}, "")
	if err != nil {
		return nil, err
	}
	codec := avroserde.NewEventCodec(t.cfg.Registry, raw)
	var matches []SenderMatch
	err = readPlan(ctx, t.cfg.ClientOpts, p, nil, func(ctx context.Context, r *kgo.Record) {
		ev, err := codec.Decode(ctx, r.Value)
		if err != nil || ev.Origin.ID != id ||
			(f.Source != "" && ev.Origin.Source != f.Source) || (f.Type != "" && ev.Origin.Type != f.Type) {
			return
		}
		matches = append(matches, SenderMatch{EventID: ev.ID, EntityKey: ev.Entity.Key(), Origin: ev.Origin, ReceivedAt: ev.ReceivedAt})
	})
	if err != nil {
		return nil, fmt.Errorf("searching %s for sender's id %s: %w", raw, id, err)
	}
	return matches, nil
}

// DescribeOrigin is ", type T, from S" for people.
func DescribeOrigin(o event.Origin) string {
	s := ""
	if o.Type != "" {
		s += ", type " + o.Type
	}
	if o.Source != "" {
		s += ", from " + o.Source
	}
	return s
}
