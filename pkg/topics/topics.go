// Package topics is the one place that names Surge's Kafka topics, record
// headers and consumer groups, and says how each topic is laid out
// (partitions, compaction, which source a dead-letter topic mirrors).
// No topic or header string appears anywhere else in the code.
package topics

import (
	"strconv"
	"time"

	"github.com/surgehq/surge/schemas"
)

// Base topic names (before the configurable prefix is applied).
const (
	EventsRaw        = "commerce.events.raw"
	EventsEnriched   = "commerce.events.enriched"
	EventsDLQ        = "commerce.events.dlq"
	Entities         = "commerce.entities"
	Subscriptions    = "commerce.subscriptions"
	Deliveries       = "commerce.deliveries"
	DeliveriesRetry  = "commerce.deliveries.retry"
	DeliveriesDLQ    = "commerce.deliveries.dlq"
	DeliveryAttempts = "commerce.delivery-attempts"
	IngestDedup      = "commerce.ingest.dedup"
	Sources          = "commerce.sources"
	EventTypes       = "commerce.event-types"
	Schemas          = "_schemas"
)

// Replays is the compacted topic of DLQ replays (pkg/dlq), keyed by replay
// id: each replay's selection, its position in the dead-letter topic and
// its counts, written in the same Kafka transaction as the records it
// replayed. It has one partition; pkg/dlq creates it when missing.
const Replays = "commerce.replays"

// Stalls is the compacted topic of stalled stage partitions
// (schemas/stall.avsc), keyed "<consumer group>/<topic>/<partition>": the
// instance owning a partition writes a record when the partition stalls
// and a tombstone when it moves again, so `surge topics` can mark a
// stage's lag as stalled without knowing where the stages run. It has one
// partition.
const Stalls = "commerce.stalls"

// Backlog is the compacted topic of the dispatchers' backlog reports
// (schemas/backlog.avsc), keyed "<subscription id>/<instance id>" (see
// pkg/backlog): each dispatcher instance writes, every --backlog-every,
// what waits in it per subscription (in memory and in the retry topic,
// the oldest, the rate it finishes), only when that changed or its last
// report is about to go stale, and a tombstone when nothing waits any
// more or it stops cleanly. The admin API and `surge topics` sum the
// fresh reports of a subscription; a report older than a few intervals
// (left by a killed instance) does not count. It has one partition.
const Backlog = "commerce.backlog"

// EntityAliases is the compacted topic of entity aliases
// (schemas/entity_alias.avsc), keyed "<source>/<entity type>/<sender id>":
// the ids a source's events give an entity, mapped to the entity id Surge
// keys it by (pkg/catalog, identity.go). The admin API writes it; ingest
// tails it. It has one partition.
const EntityAliases = "commerce.entity-aliases"

// TransactionalIDReplayPrefix prefixes a replay's id to make the
// transactional id of the producer running it, so a resumed replay fences
// any earlier run of the same replay.
const TransactionalIDReplayPrefix = "surge-replay-"

// Record header names; what each one holds is in the Headers table
// (headers.go), which the AsyncAPI document prints.
const (
	HeaderEventID        = "surge.event-id"
	HeaderCorrelationID  = "surge.correlation-id"
	HeaderEventType      = "surge.event-type"
	HeaderSource         = "surge.source"
	HeaderCausationID    = "surge.causation-id"
	HeaderSubscriptionID = "surge.subscription-id"
	HeaderOriginOffset   = "surge.origin-offset"
	HeaderRetryFinished  = "surge.retry.finished"

	// W3C trace context (pkg/tracing): the names the Trace Context
	// specification fixes, so any OpenTelemetry consumer reads them.
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"

	// Dead-letter headers, added to the original record's headers. Every
	// one starts with HeaderDLQPrefix.
	HeaderDLQPrefix       = "surge.dlq."
	HeaderDLQTopic        = "surge.dlq.topic"
	HeaderDLQPartition    = "surge.dlq.partition"
	HeaderDLQOffset       = "surge.dlq.offset"
	HeaderDLQStage        = "surge.dlq.stage"
	HeaderDLQErrorClass   = "surge.dlq.error-class"
	HeaderDLQError        = "surge.dlq.error"
	HeaderDLQAttempts     = "surge.dlq.attempts"
	HeaderDLQFirstFailure = "surge.dlq.first-failure"
	HeaderDLQLastFailure  = "surge.dlq.last-failure"
	HeaderDLQHTTPStatus   = "surge.dlq.http-status"
	HeaderDLQAWSErrorCode = "surge.dlq.aws-error-code"

	HeaderReplayID    = "__surge.replay.id"
	HeaderReplayCount = "__surge.replay.count"
)

// Layout says how one topic is created and what it holds: one row of the
// topic table (docs/architecture.md).
type Layout struct {
	Name      string            // base name
	Partition PartitionRule     // how many partitions
	Configs   map[string]string // topic configs beyond the defaults
	Schema    string            // its values' schema: a name of the schemas module; empty when it varies
	Key       string            // what its record key is
	Headers   []string          // the headers its records may carry (Headers table), in the order they are written
}

// PartitionRule chooses a topic's partition count.
type PartitionRule int

const (
	// PartitionsDefault uses the configured partition count. Dead-letter and
	// retry topics use it too, so they are partitioned exactly like their
	// source and replaying one partition keeps per-key order.
	PartitionsDefault PartitionRule = iota
	// PartitionsOne is for topics that need a single total order.
	PartitionsOne
)

var compacted = map[string]string{"cleanup.policy": "compact"}

// DefaultDedupWindow is ingest's default idempotency window. Every process
// that may be the first to create Surge's topics passes it to Layouts (via
// kafkax.EnsureTopics): it only sets the retention of commerce.ingest.dedup.
const DefaultDedupWindow = 24 * time.Hour

// Layouts lists every topic Surge uses, with how it is created. dedupWindow
// bounds how long idempotency records are kept.
func Layouts(dedupWindow time.Duration) []Layout {
	dedupRetention := (dedupWindow + time.Hour).Milliseconds()
	ids := join([]string{HeaderEventID, HeaderCorrelationID, HeaderCausationID}, traced)
	event := join(ids, []string{HeaderEventType, HeaderSource}, replayed)
	delivery := join(ids, []string{HeaderSubscriptionID, HeaderEventType}, replayed)
	return []Layout{
		{Name: EventsRaw, Schema: schemas.Event, Key: "<entity type>:<entity id>", Headers: event},
		{Name: EventsEnriched, Schema: schemas.EnrichedEvent, Key: "<entity type>:<entity id>", Headers: event},
		{Name: EventsDLQ, Key: "the dead record's (its value and schema id are kept: a raw or an enriched event)", Headers: join(event, deadLettered)},
		{Name: Entities, Configs: compacted, Schema: schemas.EntitySnapshot, Key: "<entity type>:<entity id>", Headers: ids},
		{Name: Subscriptions, Partition: PartitionsOne, Configs: compacted, Schema: schemas.Subscription, Key: "<subscription id>"},
		{Name: Sources, Partition: PartitionsOne, Configs: compacted, Schema: schemas.Source, Key: "<source id>"},
		{Name: EventTypes, Partition: PartitionsOne, Configs: compacted, Schema: schemas.EventType, Key: "<event type name>"},
		{Name: Deliveries, Schema: schemas.Delivery, Key: "<subscription id>/<entity type>:<entity id>", Headers: delivery},
		{Name: DeliveriesRetry, Schema: schemas.Delivery, Key: "<subscription id>/<entity type>:<entity id>", Headers: join(delivery, []string{HeaderOriginOffset, HeaderRetryFinished})},
		{Name: DeliveriesDLQ, Schema: schemas.Delivery, Key: "<subscription id>/<entity type>:<entity id>", Headers: join(delivery, deadLettered, []string{HeaderDLQHTTPStatus, HeaderDLQAWSErrorCode})},
		{Name: DeliveryAttempts, Schema: schemas.DeliveryAttempt, Key: "<delivery id> (the webhook-id)", Headers: delivery},
		{Name: Replays, Partition: PartitionsOne, Configs: compacted, Schema: schemas.Replay, Key: "<replay id>"},
		{Name: Stalls, Partition: PartitionsOne, Configs: compacted, Schema: schemas.Stall, Key: "<consumer group>/<topic>/<partition>"},
		{Name: Backlog, Partition: PartitionsOne, Configs: compacted, Schema: schemas.Backlog, Key: "<subscription id>/<instance id>"},
		{Name: EntityAliases, Partition: PartitionsOne, Configs: compacted, Schema: schemas.EntityAlias, Key: "<source>/<entity type>/<sender id>"},
		{Name: IngestDedup, Schema: schemas.IdempotencyRecord, Key: "<source>/<idempotency key>", Configs: map[string]string{
			"cleanup.policy": "compact,delete",
			"retention.ms":   strconv.FormatInt(dedupRetention, 10),
		}},
	}
}

// Namer applies the configurable prefix to base topic names.
type Namer struct{ Prefix string }

// Name returns the full topic name for a base name.
func (n Namer) Name(base string) string { return n.Prefix + base }

// Subject is the schema registry subject of a topic's values
// (TopicNameStrategy).
func Subject(topic string) string { return topic + "-value" }

// Consumer group ids of the stages.
const (
	GroupEnrich     = "surge-enrich"
	GroupFanout     = "surge-fanout"
	GroupDispatcher = "surge-dispatcher"
)
