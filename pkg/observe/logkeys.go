package observe

// Log field keys: one spelling per thing logged, so a search or an alert
// over the JSON logs of every Surge process finds each line. Use them as
// zap.String(observe.KeyTopic, t); a new key goes here first.
const (
	// The record being handled.
	KeyEventID    = "event_id"
	KeyEventType  = "event_type"
	KeyTopic      = "topic"
	KeyPartition  = "partition"
	KeyOffset     = "offset"
	KeyRecordKey  = "key"    // a Kafka record's key
	KeyEntity     = "entity" // an event's entity, "type:id"
	KeyDeliveryID = "delivery_id"

	// What the record belongs to.
	KeySubscriptionID = "subscription_id"
	KeySourceID       = "source_id"
	KeyReplayID       = "replay_id"

	// Who handles it.
	KeyStage      = "stage"       // a pipeline stage: enrich, fanout, dispatcher, ...
	KeyInstanceID = "instance_id" // a service instance's --instance-id
	KeyRoute      = "route"       // an admin API route

	// How it went.
	KeyErrorClass = "error_class" // a dead letter's class (stream.Permanent)
	KeyAttempts   = "attempts"
	KeyStatus     = "status" // an HTTP status
	KeyReason     = "reason"
	KeyTook       = "took"

	// Where a process listens.
	KeyAddr        = "addr"         // a listen address
	KeyMetricsAddr = "metrics_addr" // a service's /metrics listener
	KeyListener    = "listener"     // which listener: ingest, admin, registry
)
