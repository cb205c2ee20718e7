package enrich

import (
	"errors"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/schemas"
)

// newSnapshotCodec returns the codec of commerce.entities values: the
// generated conversions of schemas/entity_snapshot.avsc (avro_gen.go), on
// the snapshot as it is written (snapshotWire) and refusing a snapshot
// without an entity.
func newSnapshotCodec(reg *avroserde.Registry, topic string) *avroserde.Codec[*Snapshot] {
	return avroserde.NewCodec(reg, topic, schemas.EntitySnapshot, snapshotNative, snapshotFromNative).
		WithFast(func(dst []byte, s *Snapshot) []byte { return AppendSnapshotAvro(dst, snapshotWire(s)) },
			func(b []byte) (*Snapshot, error) { return checkedSnapshot(SnapshotFromAvro(b)) })
}

// snapshotWire is s as it is written: a deleted entity keeps no data.
func snapshotWire(s *Snapshot) Snapshot {
	w := *s
	if w.Deleted {
		w.Data = nil
	}
	w.fields = nil
	return w
}

func snapshotNative(s *Snapshot) map[string]any { return snapshotWire(s).Native() }

func snapshotFromNative(v any) (*Snapshot, error) { return checkedSnapshot(SnapshotFromNative(v)) }

var errNoEntity = errors.New("decoding EntitySnapshot: entity type or id is empty")

func checkedSnapshot(s Snapshot, err error) (*Snapshot, error) {
	if err != nil {
		return nil, err
	}
	if s.Entity.Type == "" || s.Entity.ID == "" {
		return nil, errNoEntity
	}
	return &s, nil
}

// appendSnapshot appends s in the Confluent wire format with schema id id
// with the generated encoder: it runs for every event, and building
// goavro's generic maps costs several times more.
// TestSnapshotEncodingMatchesGoavro pins it to goavro's encoding.
func appendSnapshot(dst []byte, id int, s *Snapshot) []byte {
	return AppendSnapshotAvro(avroserde.AppendHeader(dst, id), snapshotWire(s))
}
