package enrich

import (
	"crypto/sha256"
	"time"

	"github.com/segmentio/ksuid"
)

// ksuid time range: seconds since 2014-05-13 16:53:20 UTC in 32 bits.
var (
	ksuidStart = time.Unix(1400000000, 0)
	ksuidEnd   = ksuidStart.Add((1<<32 - 1) * time.Second)
)

// DerivedID is the id of an event enrich makes from another one (a stock
// movement from an order, inventory.changed from a movement): a ksuid whose
// time is the parent's and whose payload is a hash of the parent id and
// purpose. The same parent and purpose always give the same id, so an event
// derived again after an aborted transaction or a replay keeps its id (and
// its webhook-id downstream).
func DerivedID(parent string, at time.Time, purpose string) string {
	sum := sha256.Sum256([]byte(parent + "\x00" + purpose))
	if at.Before(ksuidStart) {
		at = ksuidStart
	} else if at.After(ksuidEnd) {
		at = ksuidEnd
	}
	id, err := ksuid.FromParts(at, sum[:16])
	if err != nil { // only for a payload that is not 16 bytes
		return parent + "." + purpose
	}
	return id.String()
}
