// Package schemas holds Surge's Avro schemas, the source of truth for every
// record value written to Kafka, and serves their text to the code that
// registers them with the schema registry.
//
// Each schema is one self-contained .avsc file in this directory (nested
// records are defined inline), in namespace dev.surge.v1. Golden fixtures
// (testdata/<name>.json in Avro's JSON encoding and testdata/<name>.avro, the
// same record in Avro binary) pin the encoding of every schema.
//
// Changes must stay BACKWARD compatible, the compatibility level the
// subjects are registered with: add fields only with a default, never remove
// or rename a field without a default, never change a field's type.
package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Names of the schemas, as accepted by Text: the .avsc file name without its
// extension.
const (
	Event           = "event"            // dev.surge.v1.Event, commerce.events.raw
	EnrichedEvent   = "enriched_event"   // dev.surge.v1.EnrichedEvent, commerce.events.enriched
	Subscription    = "subscription"     // dev.surge.v1.Subscription, commerce.subscriptions
	Delivery        = "delivery"         // dev.surge.v1.Delivery, commerce.deliveries and its retry and DLQ topics
	DeliveryAttempt = "delivery_attempt" // dev.surge.v1.DeliveryAttempt, commerce.delivery-attempts
	EntitySnapshot  = "entity_snapshot"  // dev.surge.v1.EntitySnapshot, commerce.entities
	Source          = "source"           // dev.surge.v1.Source, commerce.sources
	EventType       = "event_type"       // dev.surge.v1.EventType, commerce.event-types
	Stall           = "stall"            // dev.surge.v1.Stall, commerce.stalls
	EntityAlias     = "entity_alias"     // dev.surge.v1.EntityAlias, commerce.entity-aliases
	Backlog         = "backlog"          // dev.surge.v1.Backlog, commerce.backlog
	Replay          = "replay"           // dev.surge.v1.Replay, commerce.replays
	// IdempotencyRecord is dev.surge.v1.IdempotencyRecord, commerce.ingest.dedup.
	IdempotencyRecord = "idempotency_record"
)

const ext = ".avsc"

//go:embed *.avsc
var files embed.FS

// Text returns the text of the schema called name (e.g. Event), exactly as
// it is in the .avsc file.
func Text(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\.`) {
		return "", fmt.Errorf("reading schema %q: not a schema name", name)
	}
	b, err := files.ReadFile(name + ext)
	if err != nil {
		return "", fmt.Errorf("reading schema %q: %w", name, err)
	}
	return string(b), nil
}

// MustText is Text for names known at compile time: it panics when name is
// not a schema.
func MustText(name string) string {
	s, err := Text(name)
	if err != nil {
		panic(err)
	}
	return s
}

// Names returns the names of all schemas in this package, sorted.
func Names() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil // cannot happen: the embedded root always exists
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && path.Ext(n) == ext {
			names = append(names, strings.TrimSuffix(n, ext))
		}
	}
	sort.Strings(names)
	return names
}
