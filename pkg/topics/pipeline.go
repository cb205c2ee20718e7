package topics

// The pipeline table: which stage reads and writes which topic, with which
// consumer group, dead-letter topic and transactional id. Each service
// takes its names from its row; `surge topics` and `surge trace` read the
// table to know which group's lag to show for a topic. docs/architecture.md
// draws it.

// Stage is one row of the pipeline table.
type Stage struct {
	// Name names the stage in logs, metrics and the surge.dlq.stage
	// header of what it dead-letters.
	Name string
	// Reads are the topics it consumes, in its consumer group Group
	// (empty for ingest, which takes HTTP requests).
	Reads []string
	Group string
	// Writes are the topics it produces to.
	Writes []string
	// DLQ is where a record it can never process goes: the dead-letter
	// topic of its input, partitioned like it.
	DLQ string
	// Transactional says it writes in Kafka transactions (and so has a
	// TransactionalID). The dispatcher does not: its outputs are the
	// effects of HTTP requests, made at least once, and it commits a
	// partition's offsets only past deliveries that finished.
	Transactional bool
}

// TransactionalID is the transactional id of the stage's producer in the
// instance instance, for topic prefix prefix: "<prefix>surge-<stage>-<instance>".
// It is stable across restarts of the instance, so a restarted instance
// fences the transactions its previous run left open. A stage with
// several producers per instance (ingest's writers) appends "-<n>".
// It is empty for a stage that is not Transactional.
func (s Stage) TransactionalID(prefix, instance string) string {
	if !s.Transactional {
		return ""
	}
	return prefix + "surge-" + s.Name + "-" + instance
}

// Stage names.
const (
	StageIngest     = "ingest"
	StageEnrich     = "enrich"
	StageFanout     = "fanout"
	StageDispatcher = "dispatcher"
)

// The stages, in the order a record passes them.
var (
	Ingest = Stage{
		Name:          StageIngest,
		Writes:        []string{EventsRaw, IngestDedup},
		Transactional: true,
	}
	Enrich = Stage{
		Name:          StageEnrich,
		Reads:         []string{EventsRaw},
		Group:         GroupEnrich,
		Writes:        []string{EventsEnriched, Entities, EventsDLQ, EventsRaw}, // EventsRaw: operator events of its stalls (pkg/opsevent)
		DLQ:           EventsDLQ,
		Transactional: true,
	}
	Fanout = Stage{
		Name:          StageFanout,
		Reads:         []string{EventsEnriched},
		Group:         GroupFanout,
		Writes:        []string{Deliveries, EventsDLQ, EventsRaw}, // EventsRaw: operator events of its stalls
		DLQ:           EventsDLQ,
		Transactional: true,
	}
	Dispatcher = Stage{
		Name:   StageDispatcher,
		Reads:  []string{Deliveries, DeliveriesRetry},
		Group:  GroupDispatcher,
		Writes: []string{DeliveriesRetry, DeliveriesDLQ, DeliveryAttempts, Backlog, EventsRaw}, // EventsRaw: operator events
		DLQ:    DeliveriesDLQ,
	}
)

// Pipeline lists the stages in the order a record passes them.
func Pipeline() []Stage { return []Stage{Ingest, Enrich, Fanout, Dispatcher} }

// ReaderOf returns the stage that consumes topic (a base name); ok is false
// when no stage does.
func ReaderOf(topic string) (s Stage, ok bool) {
	for _, s := range Pipeline() {
		for _, t := range s.Reads {
			if t == topic {
				return s, true
			}
		}
	}
	return Stage{}, false
}
