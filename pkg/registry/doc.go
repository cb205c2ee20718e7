// Package registry is Surge's schema registry: the subset of the Confluent
// Schema Registry REST API that serializers and clients use (franz-go's
// pkg/sr, Confluent's Java and Python serializers, confluent-kafka's
// SchemaRegistryClient), for Avro schemas, with its state kept in a Kafka
// topic. It runs embedded in `surge dev` and standalone in production
// (`surge registry`), and owns the `_schemas` topic.
//
// # Storage
//
// Every change is one record on a single-partition compacted topic, keyed
// and shaped as Confluent's registry writes them:
//
//	{"keytype":"SCHEMA","subject":s,"version":v,"magic":1} -> {"subject","version","id","schema","deleted"}
//	{"keytype":"CONFIG","subject":s|null,"magic":0}        -> {"compatibilityLevel":...}
//
// A tombstone on a SCHEMA key is a permanent delete; a soft delete rewrites
// the record with "deleted":true. Compaction keeps the latest record per
// key, which is all the state needs.
//
// # Log order, deterministic apply
//
// Each instance tails the topic from the start (read_committed, a direct
// partition consumer) and applies every record, in log order, to its
// in-memory state. Apply depends only on the state and the record — never
// on the clock or on which instance runs it — so every instance that has
// read the log to offset n holds the same state, and a restart re-reads the
// topic and gets the same ids and versions back.
//
// # Several instances
//
// Writers do not coordinate; the log decides. To register, an instance
// catches up to the current end of the topic, proposes the schema's
// existing id (or the highest id ever seen plus one) and the subject's next
// version, produces the record with acks=all, waits until its own tail has
// applied that offset and looks whether the record won. Apply ignores a
// SCHEMA record whose version is already taken by another id, whose id is
// already bound to a different schema, or whose schema is already a live
// version of the subject; the first such record in the log wins on every
// instance alike. A writer that lost plans again on the newer state (a few
// times at most). One id never names two schemas, and the highest id ever
// applied stays reserved after a permanent delete. (As with Confluent's
// registry, that reservation lasts as long as the log remembers the id:
// once compaction has dropped the tombstone of the highest id, a restarted
// instance could hand it out again.) Writes inside one instance are
// serialised; reads are served from memory.
//
// # Schemas and compatibility
//
// Only Avro is served, parsed by hamba/avro. Two registrations are the same
// schema when their parsed forms are equal, so whitespace and JSON key
// order do not make new versions. Compatibility rules (BACKWARD, FORWARD,
// FULL and their transitive forms, NONE) are hamba/avro's; when it rejects
// a schema, the schemas are walked (compat.go) to name the field at fault
// in the 409 message, and to give the verbose compatibility answer in
// Confluent's shape: Avro's incompatibility type and JSON pointer with
// Surge's own description. Schemas carry no metadata or rule sets (a
// request that sets them is refused), so GET /subjects/{s}/metadata
// answers the latest version when no key/value pair is asked for and 40403
// when one is. README.md ("The schema registry as Confluent clients see
// it") lists every difference from Confluent's registry.
package registry
