package main

// A binding says which Go package holds the records of some schemas and
// where the Go form of a field is not the one the generator derives from
// its Avro type (see goType). It says nothing about the records
// themselves: their fields, types, defaults and documentation come from
// the .avsc files alone.
type binding struct {
	Package string   // Go package name
	Dir     string   // its directory, from the repository root
	Schemas []string // schema names (schemas/<name>.avsc) whose records it holds
	// HandWritten says the package declares the Go structs itself (they
	// are also the admin API's JSON documents, with their tags and
	// validation): the generator writes only the conversions and codecs,
	// and the compiler checks the structs have every field.
	HandWritten bool
	// Types names the Go type of a record (by Avro full name) where it is
	// not the record's own name.
	Types map[string]string
	// ZeroIsNull lists records (by Avro full name) kept as a value rather
	// than a pointer in a ["null", record] field: null is the zero value,
	// as the type's IsZero method says.
	ZeroIsNull map[string]bool
	// Fields gives the Go form of fields, by "<record name>.<field name>".
	Fields map[string]fieldRule
}

// fieldRule is the Go form of one field.
type fieldRule struct {
	GoName string // the Go field name, when not the field name in Go case
	// Conv is how the Go value maps to the Avro value:
	//   "json":     json.RawMessage in a ["null", "string"]: empty and the
	//               literal null are written as null, and read as nil;
	//   "jsonText": json.RawMessage in a string: nil is written as the
	//               literal null, which reads back as nil;
	//   "body":     json.RawMessage in a string, byte for byte (empty reads
	//               as nil);
	//   "micros":   time.Duration in a long of microseconds;
	//   "millis":   time.Duration in a long of milliseconds;
	//   "zero":     time.Time in a ["null", timestamp-millis]: the zero
	//               time is null;
	//   "int":      Go int in an int or long.
	Conv string
	// Lift puts the field in the Go struct of the enclosing record: the
	// nested record's Go type (Types) lacks it.
	Lift bool
}

var bindings = []binding{
	{
		Package: "event",
		Dir:     "pkg/event",
		Schemas: []string{"event", "enriched_event", "subscription", "delivery", "delivery_attempt"},
		Types: map[string]string{
			"dev.surge.v1.EnrichedEntityRef": "EntityRef",
			"dev.surge.v1.EnrichmentWarning": "Warning",
		},
		ZeroIsNull: map[string]bool{"dev.surge.v1.Origin": true},
		Fields: map[string]fieldRule{
			"Event.data":                      {Conv: "json"},
			"EnrichedEvent.data":              {Conv: "jsonText"},
			"EnrichedEntityRef.version":       {GoName: "EntityVersion", Lift: true},
			"Delivery.body":                   {Conv: "body"},
			"DeliveryAttempt.duration_us":     {GoName: "Duration", Conv: "micros"},
			"EndpointAuth.oauth2":             {GoName: "OAuth2"},
			"EndpointAuth.mtls":               {GoName: "MTLS"},
			"MutualTLS.client_cert_pem":       {GoName: "ClientCertPEM"},
			"MutualTLS.client_key_pem":        {GoName: "ClientKeyPEM"},
			"MutualTLS.ca_pem":                {GoName: "CAPEM"},
			"Destination.sqs":                 {GoName: "SQS"},
			"Destination.eventbridge":         {GoName: "EventBridge"},
			"SQSDestination.role_arn":         {GoName: "RoleARN"},
			"EventBridgeDestination.role_arn": {GoName: "RoleARN"},
		},
	},
	{
		Package:     "catalog",
		Dir:         "pkg/catalog",
		Schemas:     []string{"source", "event_type", "entity_alias"},
		HandWritten: true,
		Fields: map[string]fieldRule{
			"Signature.tolerance_s": {Conv: "int"},
			"Loader.timeout_ms":     {Conv: "int"},
			"Loader.cache_ttl_s":    {Conv: "int"},
			"EventType.data_schema": {Conv: "body"},
		},
	},
	{
		Package:     "enrich",
		Dir:         "services/enrich",
		Schemas:     []string{"entity_snapshot"},
		HandWritten: true,
		Types: map[string]string{
			"dev.surge.v1.EntitySnapshot":  "Snapshot",
			"dev.surge.v1.InventoryLedger": "Ledger",
		},
		Fields: map[string]fieldRule{
			"EntitySnapshot.entity_type": {GoName: "Entity.Type"},
			"EntitySnapshot.entity_id":   {GoName: "Entity.ID"},
			"EntitySnapshot.data":        {Conv: "json"},
		},
	},
	{
		Package: "ingest",
		Dir:     "services/ingest",
		Schemas: []string{"idempotency_record"},
	},
	{
		Package: "dlq",
		Dir:     "pkg/dlq",
		Schemas: []string{"replay"},
		Types: map[string]string{
			"dev.surge.v1.Replay":          "state",
			"dev.surge.v1.ReplayPartition": "partState",
		},
	},
	{
		Package: "backlog",
		Dir:     "pkg/backlog",
		Schemas: []string{"backlog"},
		Types:   map[string]string{"dev.surge.v1.Backlog": "Report"},
		Fields: map[string]fieldRule{
			"Backlog.oldest":              {Conv: "zero"},
			"Backlog.finished_per_second": {GoName: "PerSecond"},
			"Backlog.report_every_ms":     {GoName: "Every", Conv: "millis"},
		},
	},
	{
		Package:     "stream",
		Dir:         "pkg/stream",
		Schemas:     []string{"stall"},
		HandWritten: true,
		Fields: map[string]fieldRule{
			"Stall.stall_after_ms": {GoName: "After", Conv: "millis"},
		},
	},
}
