package enrich

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
)

// The core of the stage: Apply turns (snapshot, event) into enriched
// events, the new snapshot and the events to write back to the raw topic.
// It does no I/O and does not import the Kafka client; the handler in
// handler.go decodes, looks the snapshot up, calls a loader when NeedsLoad
// says so, calls Apply and encodes what it returns.

// Entity types and event types the core gives a meaning to. They are the
// names of the built-in catalog (pkg/catalog.Builtin).
const (
	EntityOrder = "order"
	EntityStock = "stock"

	TypeOrderPlaced       = "order.placed"
	TypeOrderCancelled    = "order.cancelled"
	TypeOrderShipped      = "order.shipped"
	TypeOrderRefunded     = "order.refunded"
	TypeStockUpdated      = "stock.updated"
	TypeInventoryReserved = "inventory.reserved"
	TypeInventoryReleased = "inventory.released"
	TypeInventoryChanged  = "inventory.changed"
	TypeInventoryOversold = "inventory.oversold"

	// FlagOversold marks a reservation that drove a SKU's available stock
	// below zero, and the inventory events it caused.
	FlagOversold = "oversold"

	// AttrCausationID is the attribute of a derived event naming the event
	// it was made from.
	AttrCausationID = "causation_id"
)

// ErrInvalid marks an event that can never be enriched as it is: the
// handler dead-letters it with class "invalid".
var ErrInvalid = errors.New("invalid event")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Snapshot is the latest state of one entity, as kept in commerce.entities
// (schemas/entity_snapshot.avsc). A Snapshot handed to or returned by
// Apply is never modified afterwards: Apply builds a new one.
type Snapshot struct {
	Entity       event.EntityRef
	Version      int64           // version of the last enriched event of the entity
	Data         json.RawMessage // JSON object; nil when deleted or unknown
	Deleted      bool            // a tombstone that only keeps the version
	LoadedAt     time.Time       // when a loader last filled Data; zero = never
	UpdatedAt    time.Time       // when enrich wrote the snapshot
	LastEventID  string
	Ledger       *Ledger          // stock entities
	Reservations map[string]int64 // order entities: units held per SKU
	// Where the last applied event was read: its raw partition and
	// offset (-1, -1 when unknown). Enrich does not apply an event at or
	// below it again (Service.handle).
	AppliedPartition int32
	AppliedOffset    int64

	fields map[string]json.RawMessage // Data parsed, filled on first use
}

// Ledger is the running stock balance of one SKU.
type Ledger struct {
	OnHand   *int64 // nil while no stock level was ever reported
	Reserved int64
}

// Available is on hand minus reserved (on hand counts as 0 while unknown).
func (l Ledger) Available() int64 {
	var on int64
	if l.OnHand != nil {
		on = *l.OnHand
	}
	return on - l.Reserved
}

// Fields returns s.Data parsed into top-level fields. The map is shared:
// do not modify it.
func (s *Snapshot) Fields() (map[string]json.RawMessage, error) {
	if s == nil || s.Deleted || len(s.Data) == 0 {
		return nil, nil
	}
	if s.fields == nil {
		f, err := parseObject(s.Data)
		if err != nil {
			return nil, fmt.Errorf("parsing snapshot data of %s: %w", s.Entity.Key(), err)
		}
		s.fields = f
	}
	return s.fields, nil
}

// Fresh reports whether s holds data a loader filled less than ttl ago.
func (s *Snapshot) Fresh(ttl time.Duration, now time.Time) bool {
	return s != nil && !s.Deleted && ttl > 0 && !s.LoadedAt.IsZero() && now.Sub(s.LoadedAt) < ttl
}

// Input is one call of Apply.
type Input struct {
	Event event.Event
	// Type is the event's type resolved in the catalog; a type the catalog
	// does not know is passed as EventType{Name: Event.Type}.
	Type catalog.EventType
	// Snapshot is the entity's current snapshot; nil when unknown.
	Snapshot *Snapshot
	// Loaded is the JSON object a loader returned for a thin event; nil
	// when no loader was called.
	Loaded json.RawMessage
	// LoadFailure says why the loader could not fill a thin event ("the
	// loader answered 404"); empty when it did or was not called. The
	// event is enriched as if no loader were set, with a WarnNotLoaded.
	LoadFailure string
	// Now stamps enriched_at, updated_at and loaded_at.
	Now time.Time
}

// Result is what Apply makes of an Input.
type Result struct {
	// Enriched holds the enriched event first, then the events derived
	// from it about the same entity (inventory.changed,
	// inventory.oversold), with consecutive versions.
	Enriched []event.EnrichedEvent
	// Snapshot is the entity's new snapshot.
	Snapshot *Snapshot
	// Commands are events for other entities, to be appended to the raw
	// topic in the same transaction (the reservations of an order, keyed
	// by SKU, which that SKU's partition applies to its ledger).
	Commands []event.Event
	// WarningCounts counts the warnings of the enriched event by code,
	// those past the listed maximum included.
	WarningCounts map[string]int
}

// NeedsLoad reports whether ev is thin and must be filled by the source's
// loader before Apply: it has no data, it is not a delete or a ledger
// movement, the source has a loader for the entity type (hasLoader), and
// the snapshot was not filled by that loader within its cache TTL.
func NeedsLoad(ev event.Event, et catalog.EventType, snap *Snapshot, l catalog.Loader, hasLoader bool, now time.Time) bool {
	if ev.Data != nil || !hasLoader || et.Delete || isLedgerMovement(ev.Entity.Type, et.Name) {
		return false
	}
	return !snap.Fresh(l.CacheTTL(), now)
}

// Apply enriches one event. Rules (README.md has them for users):
//
//   - The version is the snapshot's plus one; every derived event about the
//     same entity takes the next one.
//   - A delete event (catalog Delete) turns the snapshot into a tombstone
//     that keeps the version. The enriched event's data is the entity's
//     last known state with the deletion's own data merged in (what
//     identifies the entity: a receiver cannot fetch a deleted one), its
//     deleted is true, and changes lists every field the entity had.
//   - A loader body replaces the snapshot's data whole; event data is then
//     merged field by field at the top level: a field in the event replaces
//     the field in the snapshot, nested objects and arrays included (they
//     are not merged), and a field set to null stays, as null.
//   - A thin event with nothing loaded keeps the snapshot's data ({} for an
//     unknown entity) and changes nothing.
//   - Stock and order events drive the inventory ledger (ledger.go).
//   - What Apply cannot use of an event it skips and names in the
//     enriched event's warnings (warnings.go): the event is never refused
//     for it. The errors left, all ErrInvalid, are records ingest never
//     writes: no id, no entity, data that is not a JSON object.
func Apply(in Input) (Result, error) {
	ev := in.Event
	if ev.ID == "" {
		return Result{}, invalidf("event has no id")
	}
	if ev.Entity.Type == "" || ev.Entity.ID == "" {
		return Result{}, invalidf("event %s names no entity (type %q, id %q)", ev.ID, ev.Entity.Type, ev.Entity.ID)
	}
	typeName := in.Type.Name
	if typeName == "" {
		typeName = ev.Type
	}
	prev := in.Snapshot
	if prev == nil {
		prev = &Snapshot{Entity: ev.Entity}
	}
	var w warnings
	prevFields, err := prev.Fields()
	if err != nil {
		w.add(WarnSnapshotUnreadable, "", "the stored state of %s is not a JSON object; it goes on from this event's data alone", ev.Entity.Key())
		prevFields = nil
	}

	next := &Snapshot{
		Entity:  ev.Entity,
		Version: prev.Version,
		// Where it was read is the handler's to say.
		AppliedPartition: -1,
		AppliedOffset:    -1,
		LoadedAt:         prev.LoadedAt,
		UpdatedAt:        in.Now,
		LastEventID:      ev.ID,
		Ledger:           prev.Ledger,
		Reservations:     prev.Reservations,
	}
	var fields map[string]json.RawMessage
	var saidBuf [2]map[string]json.RawMessage
	said := saidBuf[:0]                      // what the event itself says: its data, then the loader's body
	var lastKnown map[string]json.RawMessage // what a delete delivers
	switch {
	case in.Type.Delete:
		next.Deleted = true
		next.LoadedAt = time.Time{}
		// The one event a receiver cannot fetch the entity for: it gets the
		// entity's last known state and whatever identifies it in the
		// deletion itself (Akeneo's uuid and identifier, Adobe's SKU).
		lastKnown = maps.Clone(prevFields)
		if ev.Data != nil {
			patch, err := parseObject(ev.Data)
			if err != nil {
				return Result{}, invalidf("data of event %s: %v", ev.ID, err)
			}
			if lastKnown == nil {
				lastKnown = make(map[string]json.RawMessage, len(patch))
			}
			maps.Copy(lastKnown, patch)
		}
		if lastKnown == nil {
			lastKnown = map[string]json.RawMessage{}
		}
	case isLedgerMovement(ev.Entity.Type, typeName):
		// A movement's data describes the movement, not the SKU: it is not
		// merged (ledger.go renders the balance into the data).
		fields = maps.Clone(prevFields)
	default:
		var patch map[string]json.RawMessage
		if ev.Data != nil {
			if patch, err = parseObject(ev.Data); err != nil {
				return Result{}, invalidf("data of event %s: %v", ev.ID, err)
			}
			said = append(said, patch)
		}
		fields = maps.Clone(prevFields)
		switch {
		case in.LoadFailure != "":
			w.add(WarnNotLoaded, "data", "%s; the event carries the last data known of %s", in.LoadFailure, ev.Entity.Key())
		case in.Loaded != nil:
			loaded, err := parseObject(in.Loaded)
			if err != nil { // the loader checks this; a caller may not have
				w.add(WarnNotLoaded, "data", "the loader's body is not a JSON object; the event carries the last data known of %s", ev.Entity.Key())
				break
			}
			fields = loaded
			said = append(said, loaded)
			next.LoadedAt = in.Now
		}
		if patch != nil {
			if fields == nil {
				fields = make(map[string]json.RawMessage, len(patch))
			}
			maps.Copy(fields, patch)
		}
	}
	if fields == nil && !next.Deleted {
		fields = map[string]json.RawMessage{}
	}

	var ledger ledgerOutcome
	switch ev.Entity.Type {
	case EntityStock:
		if ledger, err = applyLedger(ev, typeName, prev.Ledger, said, fields, next, &w); err != nil {
			return Result{}, err
		}
	case EntityOrder:
		reserveForOrder(ev, typeName, fields, next, &ledger, &w)
	}

	var changes []string
	if next.Deleted {
		changes = slices.Sorted(maps.Keys(prevFields))
	} else {
		changes = diffFields(prevFields, fields)
		next.fields = fields
		next.Data = marshalObject(fields)
	}

	data := next.Data
	if next.Deleted {
		data = marshalObject(lastKnown)
	}
	base := event.EnrichedEvent{
		ID:            ev.ID,
		Type:          typeName,
		Source:        ev.Source,
		Time:          ev.Time,
		ReceivedAt:    ev.ReceivedAt,
		EnrichedAt:    in.Now,
		Entity:        ev.Entity,
		Data:          data,
		Changes:       changes,
		Deleted:       next.Deleted,
		CorrelationID: ev.CorrelationID,
		Attributes:    ev.Attributes,
		Warnings:      w.done(),
		Origin:        ev.Origin,
	}
	if ledger.oversold {
		base.Flags = []string{FlagOversold}
	}
	out := []event.EnrichedEvent{base}
	if ledger.changed {
		out = append(out, derived(base, TypeInventoryChanged))
	}
	if ledger.oversold {
		out = append(out, derived(base, TypeInventoryOversold))
	}
	for i := range out {
		next.Version++
		out[i].EntityVersion = next.Version
	}
	return Result{Enriched: out, Snapshot: next, Commands: ledger.commands, WarningCounts: w.counts}, nil
}

// derived is an event of the same entity made from e, with its own
// deterministic id.
func derived(e event.EnrichedEvent, typ string) event.EnrichedEvent {
	d := e
	d.ID = DerivedID(e.ID, e.ReceivedAt, typ)
	d.Type = typ
	d.Attributes = map[string]string{AttrCausationID: e.ID}
	d.Flags = slices.Clone(e.Flags)
	d.Warnings = nil          // they are about e's input, which e itself carries
	d.Origin = event.Origin{} // Surge made it; no sender did
	return d
}

// diffFields returns the sorted names of the top-level fields whose value
// differs between a and b (added and removed fields included).
func diffFields(a, b map[string]json.RawMessage) []string {
	var out []string
	for k, av := range a {
		if bv, ok := b[k]; !ok || !jsonEqual(av, bv) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
