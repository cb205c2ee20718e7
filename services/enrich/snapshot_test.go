package enrich

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/schemas"
)

func TestSnapshotEncodingMatchesGoavro(t *testing.T) {
	codec, err := goavro.NewCodec(schemas.MustText(schemas.EntitySnapshot))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 7, 15, 9, 41, 12, 587e6, time.UTC)
	tests := []struct {
		name string
		in   *Snapshot
	}{
		{name: "product", in: &Snapshot{Entity: event.EntityRef{Type: "product", ID: "24-MB01"}, Version: 7,
			Data: json.RawMessage(`{"name":"Joust Duffle Bag","price":34}`), LoadedAt: at, UpdatedAt: at, LastEventID: "2zm8Sx4bHq0LpW3e7YjKd9NfRtA"}},
		{name: "tombstone", in: &Snapshot{Entity: event.EntityRef{Type: "order", ID: "100012"}, Version: 300, Deleted: true, Data: json.RawMessage(`{"x":1}`), UpdatedAt: at}},
		{name: "unknown entity, zero times", in: &Snapshot{Entity: event.EntityRef{Type: "customer", ID: "é"}}},
		{name: "stock ledger", in: &Snapshot{Entity: event.EntityRef{Type: "stock", ID: "SKU-1"}, Version: 1 << 40,
			Data: json.RawMessage(`{"available":-5}`), Ledger: &Ledger{OnHand: onHand(-3), Reserved: 12}, UpdatedAt: at}},
		{name: "untracked ledger", in: &Snapshot{Entity: event.EntityRef{Type: "stock", ID: "SKU-2"}, Ledger: &Ledger{Reserved: 2}}},
		{name: "order reservations", in: &Snapshot{Entity: event.EntityRef{Type: "order", ID: "7"}, Version: 2,
			Data: json.RawMessage(`{}`), Reservations: map[string]int64{"SKU-1": 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := avroserde.AppendEncode(nil, 42, codec, snapshotNative(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got := appendSnapshot(nil, 42, tt.in)
			if !bytes.Equal(got, want) {
				t.Fatalf("appendSnapshot\n got %x\nwant %x", got, want)
			}
			native, rest, err := codec.NativeFromBinary(got[avroserde.HeaderLen:])
			if err != nil || len(rest) != 0 {
				t.Fatalf("decoding: %v (%d bytes left)", err, len(rest))
			}
			back, err := snapshotFromNative(native)
			if err != nil {
				t.Fatal(err)
			}
			wantBack := *tt.in
			if wantBack.Deleted {
				wantBack.Data = nil
			}
			if !back.LoadedAt.Equal(wantBack.LoadedAt) || !back.UpdatedAt.Equal(wantBack.UpdatedAt) {
				t.Errorf("times %v %v, want %v %v", back.LoadedAt, back.UpdatedAt, wantBack.LoadedAt, wantBack.UpdatedAt)
			}
			back.LoadedAt, back.UpdatedAt, wantBack.LoadedAt, wantBack.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if !reflect.DeepEqual(*back, wantBack) {
				t.Errorf("round trip\n got %+v\nwant %+v", *back, wantBack)
			}
		})
	}
}

func TestSnapshotEncodingOfSeveralReservations(t *testing.T) {
	codec, err := goavro.NewCodec(schemas.MustText(schemas.EntitySnapshot))
	if err != nil {
		t.Fatal(err)
	}
	in := &Snapshot{Entity: event.EntityRef{Type: "order", ID: "7"}, Reservations: map[string]int64{"A": 1, "B": 2, "C": 3}}
	native, _, err := codec.NativeFromBinary(appendSnapshot(nil, 1, in)[avroserde.HeaderLen:])
	if err != nil {
		t.Fatal(err)
	}
	back, err := snapshotFromNative(native)
	if err != nil || !reflect.DeepEqual(back.Reservations, in.Reservations) {
		t.Fatalf("reservations %v (%v), want %v", back.Reservations, err, in.Reservations)
	}
}
