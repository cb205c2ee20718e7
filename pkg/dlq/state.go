package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/topics"
)

// States of a replay.
const (
	StateRunning = "running" // being replayed (or its process died: resume it)
	StateStopped = "stopped" // interrupted (Ctrl-C, Stop); resume it
	StateDone    = "done"    // every selected record was replayed
	StateFailed  = "failed"  // stopped by an error; resume it
)

// state is a replay as kept in commerce.replays (schemas/replay.avsc).
type state struct {
	ID         string
	Topic      string
	State      string
	Error      string
	Partitions []partState
	FromOffset *int64
	ToOffset   *int64
	Since      *time.Time
	Until      *time.Time
	Subscription,
	Filter,
	ToSubscription string
	Rate      float64
	Total     int64
	Replayed  int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// partState is one partition of a replay.
type partState struct {
	Partition int32
	From      int64
	End       int64
	Next      int64
}

// selection is the Selection the replay was created with.
func (st *state) selection() Selection {
	sel := Selection{Topic: st.Topic, FromOffset: st.FromOffset, ToOffset: st.ToOffset, Since: st.Since, Until: st.Until,
		Subscription: st.Subscription, Filter: st.Filter, ToSubscription: st.ToSubscription, Rate: st.Rate}
	for _, p := range st.Partitions {
		sel.Partitions = append(sel.Partitions, p.Partition)
	}
	return sel
}

const replaySchemaRecord = "Replay"

func newStateCodec(reg *avroserde.Registry, topic string) *avroserde.Codec[state] {
	// "replay" names schemas/replay.avsc in the schemas module.
	return avroserde.NewCodec(reg, topic, "replay", stateNative, stateFromNative)
}

func stateNative(st state) map[string]any {
	parts := make([]any, len(st.Partitions))
	for i, p := range st.Partitions {
		parts[i] = map[string]any{"partition": p.Partition, "from": p.From, "end": p.End, "next": p.Next}
	}
	optLong := func(v *int64) any {
		if v == nil {
			return nil
		}
		return goavro.Union("long", *v)
	}
	optTime := func(t *time.Time) any {
		if t == nil {
			return nil
		}
		return goavro.Union("long.timestamp-millis", *t)
	}
	return map[string]any{
		"id": st.ID, "topic": st.Topic, "state": st.State, "error": st.Error,
		"partitions":  parts,
		"from_offset": optLong(st.FromOffset), "to_offset": optLong(st.ToOffset),
		"since": optTime(st.Since), "until": optTime(st.Until),
		"subscription": st.Subscription, "filter": st.Filter, "to_subscription": st.ToSubscription,
		"rate": st.Rate, "total": st.Total, "replayed": st.Replayed,
		"created_at": st.CreatedAt, "updated_at": st.UpdatedAt,
	}
}

func stateFromNative(v any) (state, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return state{}, fmt.Errorf("decoding %s: want a record, got %T", replaySchemaRecord, v)
	}
	var errs []error
	str := func(k string) string {
		s, _ := m[k].(string)
		return s
	}
	long := func(from map[string]any, k string) int64 {
		switch n := from[k].(type) {
		case int64:
			return n
		case int32:
			return int64(n)
		case nil:
			return 0
		}
		errs = append(errs, fmt.Errorf("field %s: want a long, got %T", k, from[k]))
		return 0
	}
	union := func(k string) any {
		if u, ok := m[k].(map[string]any); ok {
			for _, x := range u {
				return x
			}
		}
		return nil
	}
	optLong := func(k string) *int64 {
		if n, ok := union(k).(int64); ok {
			return &n
		}
		return nil
	}
	optTime := func(k string) *time.Time {
		if t, ok := union(k).(time.Time); ok {
			t = t.UTC()
			return &t
		}
		return nil
	}
	tm := func(k string) time.Time {
		t, _ := m[k].(time.Time)
		return t.UTC()
	}
	st := state{
		ID: str("id"), Topic: str("topic"), State: str("state"), Error: str("error"),
		FromOffset: optLong("from_offset"), ToOffset: optLong("to_offset"),
		Since: optTime("since"), Until: optTime("until"),
		Subscription: str("subscription"), Filter: str("filter"), ToSubscription: str("to_subscription"),
		Total: long(m, "total"), Replayed: long(m, "replayed"),
		CreatedAt: tm("created_at"), UpdatedAt: tm("updated_at"),
	}
	st.Rate, _ = m["rate"].(float64)
	parts, _ := m["partitions"].([]any)
	for _, p := range parts {
		pm, ok := p.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("partitions: want records, got %T", p))
			continue
		}
		st.Partitions = append(st.Partitions, partState{Partition: int32(long(pm, "partition")), From: long(pm, "from"), End: long(pm, "end"), Next: long(pm, "next")})
	}
	if st.ID == "" {
		errs = append(errs, errors.New("field id is empty"))
	}
	if err := errors.Join(errs...); err != nil {
		return state{}, fmt.Errorf("decoding %s: %w", replaySchemaRecord, err)
	}
	return st, nil
}

// loadStates reads commerce.replays (read_committed, to its end) and
// returns the latest state of each replay; only (when not empty) keeps
// just that id.
func (s *Service) loadStates(ctx context.Context, only string) (map[string]state, error) {
	topic := s.cfg.Names.Name(topics.Replays)
	if err := s.ensureReplaysTopic(ctx); err != nil {
		return nil, err
	}
	spans, err := s.bounds(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[string]state{}
	err = s.scan(ctx, topic, spans, func(r *kgo.Record) error {
		if r.Attrs.IsControl() || (only != "" && string(r.Key) != only) {
			return nil
		}
		if r.Value == nil {
			delete(out, string(r.Key))
			return nil
		}
		st, err := s.replays.Decode(ctx, r.Value)
		if err != nil {
			var perm error
			if terr := transient(err, &perm); terr != nil {
				return terr
			}
			s.log.Warn("skipping a replay record that does not decode", zap.ByteString("replay_id", r.Key), zap.Error(perm))
			return nil
		}
		out[string(r.Key)] = st
		return nil
	}, nil)
	return out, err
}

// loadState returns the latest state of replay id.
func (s *Service) loadState(ctx context.Context, id string) (state, error) {
	all, err := s.loadStates(ctx, id)
	if err != nil {
		return state{}, err
	}
	st, ok := all[id]
	if !ok {
		return state{}, fmt.Errorf("replay %s: %w", id, ErrNotFound)
	}
	return st, nil
}

// sortStates sorts newest first.
func sortStates(sts []state) {
	slices.SortFunc(sts, func(a, b state) int { return b.CreatedAt.Compare(a.CreatedAt) })
}
