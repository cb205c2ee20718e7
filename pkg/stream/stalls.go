package stream

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/opsevent"
	"github.com/surgehq/surge/schemas"
)

// StallKey is the key of a partition's record in commerce.stalls:
// "<consumer group>/<topic>/<partition>".
func StallKey(group, topic string, partition int32) string {
	return group + "/" + topic + "/" + strconv.Itoa(int(partition))
}

// NewStallCodec returns the Codec of commerce.stalls values
// (schemas/stall.avsc, generated in avro_gen.go); a stall without a group
// or topic is refused.
func NewStallCodec(reg *avroserde.Registry, topic string) *avroserde.Codec[Stall] {
	return avroserde.NewGeneratedCodec(reg, topic, schemas.Stall, avroserde.Generated[Stall]{
		Native: Stall.Native, FromNative: StallFromNative, Append: AppendStallAvro, FromAvro: StallFromAvro,
		Check: func(s Stall) error {
			if s.Group == "" || s.Topic == "" {
				return errors.New("decoding Stall: group or topic is empty")
			}
			return nil
		},
	})
}

// StallReporter writes a Watchdog's stalls to commerce.stalls: a record
// when a partition stalls, a tombstone when it moves again. The writes are
// asynchronous and not transactional (a stalled stage may be one whose
// transactions fail); one that fails is logged, and the stall is still in
// the log, the metrics and /readyz.
type StallReporter struct {
	Client *kgo.Client // a plain (not transactional) client, open while the stage runs
	Codec  *avroserde.Codec[Stall]
	Log    *zap.Logger
	// Ops, when set, also tells the operators' subscriptions:
	// surge.stage.stalled when a stall starts, surge.stage.recovered when
	// it ends.
	Ops *opsevent.Emitter
}

// Report is a Watchdog's Report.
func (r *StallReporter) Report(s Stall, stalled bool) {
	if r.Ops != nil {
		r.opsEvent(s, stalled)
	}
	rec := &kgo.Record{Topic: r.Codec.Topic(), Key: []byte(StallKey(s.Group, s.Topic, s.Partition))}
	if stalled {
		v, err := r.Codec.Encode(s)
		if err != nil {
			r.Log.Warn("encoding a stall record", zap.String(observe.KeyRecordKey, string(rec.Key)), zap.Error(err))
			return
		}
		rec.Value = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	r.Client.Produce(ctx, rec, func(rec *kgo.Record, err error) {
		cancel()
		if err != nil {
			r.Log.Warn("writing to the stalls topic", zap.String(observe.KeyTopic, rec.Topic), zap.String(observe.KeyRecordKey, string(rec.Key)),
				zap.Bool("stalled", stalled), zap.Error(err))
		}
	})
}

// opsEvent writes the stall's operator event, about the entity
// stage:<its commerce.stalls key>, so one partition's stall and recovery
// keep their order.
func (r *StallReporter) opsEvent(s Stall, stalled bool) {
	typ, body := opsevent.StageStalled, opsevent.Stall{
		Stage: s.Stage, Group: s.Group, Topic: s.Topic, Partition: s.Partition, Offset: s.Offset, Reason: s.Reason,
		Since: s.Since.UTC(), DetectedAt: s.DetectedAt.UTC(), StallAfterMS: s.After.Milliseconds(), Instance: s.Instance,
	}
	if !stalled {
		typ = opsevent.StageRecovered
		at := r.Ops.Now().UTC().Truncate(time.Millisecond)
		body.RecoveredAt = &at
	}
	r.Ops.Emit(typ, event.EntityRef{Type: opsevent.EntityStage, ID: StallKey(s.Group, s.Topic, s.Partition)}, body)
}
