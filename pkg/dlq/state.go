package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/schemas"
)

// States of a replay.
const (
	StateRunning = "running" // being replayed (or its process died: resume it)
	StateStopped = "stopped" // interrupted (Ctrl-C, Stop); resume it
	StateDone    = "done"    // every selected record was replayed
	StateFailed  = "failed"  // stopped by an error; resume it
)

// selection is the Selection the replay was created with.
func (st *state) selection() Selection {
	sel := Selection{Topic: st.Topic, FromOffset: st.FromOffset, ToOffset: st.ToOffset, Since: st.Since, Until: st.Until,
		Subscription: st.Subscription, Filter: st.Filter, ToSubscription: st.ToSubscription, Rate: st.Rate}
	for _, p := range st.Partitions {
		sel.Partitions = append(sel.Partitions, p.Partition)
	}
	return sel
}

// newStateCodec returns the codec of commerce.replays values, with the
// generated conversions of schemas/replay.avsc (avro_gen.go).
func newStateCodec(reg *avroserde.Registry, topic string) *avroserde.Codec[state] {
	return avroserde.NewGeneratedCodec(reg, topic, schemas.Replay, avroserde.Generated[state]{
		Native: state.Native, FromNative: stateFromNative, Append: appendStateAvro, FromAvro: stateFromAvro,
		Check: func(st state) error {
			if st.ID == "" {
				return errors.New("decoding Replay: field id is empty")
			}
			return nil
		},
	})
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
			s.log.Warn("skipping a replay record that does not decode", zap.ByteString(observe.KeyReplayID, r.Key), zap.Error(perm))
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
