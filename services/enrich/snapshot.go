package enrich

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/schemas"
)

// ledgerRecord is the full name of the ledger record of
// schemas/entity_snapshot.avsc, goavro's name for its union branch.
const ledgerRecord = "dev.surge.v1.InventoryLedger"

// newSnapshotCodec returns the codec of commerce.entities values.
func newSnapshotCodec(reg *avroserde.Registry, topic string) *avroserde.Codec[*Snapshot] {
	return avroserde.NewCodec(reg, topic, schemas.EntitySnapshot, snapshotNative, snapshotFromNative)
}

// snapshotNative converts s to goavro's native form. A zero time is written
// as the Unix epoch, like the other Surge records.
func snapshotNative(s *Snapshot) map[string]any {
	var data any
	if !s.Deleted && len(s.Data) > 0 {
		data = map[string]any{"string": string(s.Data)}
	}
	var ledger any
	if s.Ledger != nil {
		var onHand any
		if s.Ledger.OnHand != nil {
			onHand = map[string]any{"long": *s.Ledger.OnHand}
		}
		ledger = map[string]any{ledgerRecord: map[string]any{"on_hand": onHand, "reserved": s.Ledger.Reserved}}
	}
	res := make(map[string]any, len(s.Reservations))
	for sku, n := range s.Reservations {
		res[sku] = n
	}
	return map[string]any{
		"entity_type":       s.Entity.Type,
		"entity_id":         s.Entity.ID,
		"version":           s.Version,
		"data":              data,
		"deleted":           s.Deleted,
		"loaded_at":         timeNative(s.LoadedAt),
		"updated_at":        timeNative(s.UpdatedAt),
		"last_event_id":     s.LastEventID,
		"ledger":            ledger,
		"reservations":      res,
		"applied_partition": s.AppliedPartition,
		"applied_offset":    s.AppliedOffset,
	}
}

func timeNative(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t
}

func timeFromNative(v any) time.Time {
	t, _ := v.(time.Time)
	if t.UnixMilli() == 0 {
		return time.Time{}
	}
	return t
}

// snapshotFromNative converts a value decoded with any version of
// schemas/entity_snapshot.avsc; missing fields take their defaults.
func snapshotFromNative(v any) (*Snapshot, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decoding EntitySnapshot: want a record, got %T", v)
	}
	s := &Snapshot{}
	var err error
	str := func(name string) string {
		x, ok := m[name]
		if !ok || x == nil {
			return ""
		}
		sv, ok := x.(string)
		if !ok && err == nil {
			err = fmt.Errorf("decoding EntitySnapshot.%s: want string, got %T", name, x)
		}
		return sv
	}
	s.Entity = event.EntityRef{Type: str("entity_type"), ID: str("entity_id")}
	s.Version, _ = m["version"].(int64)
	if u, ok := m["data"].(map[string]any); ok {
		if d, ok := u["string"].(string); ok {
			s.Data = json.RawMessage(d)
		}
	}
	s.Deleted, _ = m["deleted"].(bool)
	s.LoadedAt = timeFromNative(m["loaded_at"])
	s.UpdatedAt = timeFromNative(m["updated_at"])
	s.LastEventID = str("last_event_id")
	if u, ok := m["ledger"].(map[string]any); ok {
		if l, ok := u[ledgerRecord].(map[string]any); ok {
			s.Ledger = &Ledger{}
			s.Ledger.Reserved, _ = l["reserved"].(int64)
			if oh, ok := l["on_hand"].(map[string]any); ok {
				if n, ok := oh["long"].(int64); ok {
					s.Ledger.OnHand = &n
				}
			}
		}
	}
	s.AppliedPartition, s.AppliedOffset = -1, -1
	if v, ok := m["applied_partition"].(int32); ok {
		s.AppliedPartition = v
	}
	if v, ok := m["applied_offset"].(int64); ok {
		s.AppliedOffset = v
	}
	if r, ok := m["reservations"].(map[string]any); ok && len(r) > 0 {
		s.Reservations = make(map[string]int64, len(r))
		for sku, n := range r {
			s.Reservations[sku], _ = n.(int64)
		}
	}
	if err != nil {
		return nil, err
	}
	if s.Entity.Type == "" || s.Entity.ID == "" {
		return nil, fmt.Errorf("decoding EntitySnapshot: entity type or id is empty")
	}
	return s, nil
}

// appendSnapshot appends s in the Confluent wire format with schema id
// id, encoding schemas/entity_snapshot.avsc by hand: it runs for every
// event, and building goavro's generic maps costs several times more.
// TestSnapshotEncodingMatchesGoavro pins it to goavro's encoding.
func appendSnapshot(dst []byte, id int, s *Snapshot) []byte {
	dst = append(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(id))
	dst = appendAvroString(dst, s.Entity.Type)
	dst = appendAvroString(dst, s.Entity.ID)
	dst = appendAvroLong(dst, s.Version)
	if !s.Deleted && len(s.Data) > 0 {
		dst = appendAvroLong(dst, 1)
		dst = appendAvroLong(dst, int64(len(s.Data)))
		dst = append(dst, s.Data...)
	} else {
		dst = appendAvroLong(dst, 0)
	}
	if s.Deleted {
		dst = append(dst, 1)
	} else {
		dst = append(dst, 0)
	}
	dst = appendAvroLong(dst, timeNative(s.LoadedAt).UnixMilli())
	dst = appendAvroLong(dst, timeNative(s.UpdatedAt).UnixMilli())
	dst = appendAvroString(dst, s.LastEventID)
	if l := s.Ledger; l != nil {
		dst = appendAvroLong(dst, 1)
		if l.OnHand != nil {
			dst = appendAvroLong(dst, 1)
			dst = appendAvroLong(dst, *l.OnHand)
		} else {
			dst = appendAvroLong(dst, 0)
		}
		dst = appendAvroLong(dst, l.Reserved)
	} else {
		dst = appendAvroLong(dst, 0)
	}
	if n := len(s.Reservations); n > 0 {
		dst = appendAvroLong(dst, int64(n))
		for _, sku := range slices.Sorted(maps.Keys(s.Reservations)) {
			dst = appendAvroString(dst, sku)
			dst = appendAvroLong(dst, s.Reservations[sku])
		}
	}
	dst = appendAvroLong(dst, 0) // end of the map's blocks
	dst = appendAvroLong(dst, int64(s.AppliedPartition))
	return appendAvroLong(dst, s.AppliedOffset)
}

func appendAvroLong(dst []byte, v int64) []byte {
	return binary.AppendUvarint(dst, uint64(v<<1)^uint64(v>>63))
}

func appendAvroString(dst []byte, s string) []byte {
	dst = appendAvroLong(dst, int64(len(s)))
	return append(dst, s...)
}
