package stream

// PartitionState is what a stage keeps across the records and batches of
// the input partitions it owns (enrich's entity snapshots), told by the
// stage which partitions it owns and how each batch ended. Set it as
// Stage.State; a stage without such state leaves it nil.
type PartitionState interface {
	// Assigned is called with the input partitions this instance was
	// given in a rebalance (every partition at the first assignment of a
	// session), never with none. It runs in the client's group
	// goroutine, possibly while a batch of other partitions is being
	// handled, so it must be quick and safe for concurrent use with the
	// Handler; typically it marks the partitions' state as to be rebuilt
	// before use.
	Assigned(partitions []int32)
	// Revoked is called with the input partitions this instance no
	// longer owns (revoked in a rebalance, or lost), never with none.
	// Same rules as Assigned. A batch holding records of a revoked
	// partition does not commit.
	Revoked(partitions []int32)
	// BatchEnded is called after each batch's transaction ended, with
	// whether it committed, before the next batch is handled. It runs in
	// the stage's goroutine while no Handler call is running. A handler
	// that changed state while handling the batch makes the change
	// permanent on true and undoes it on false.
	BatchEnded(committed bool)
}

// BatchEndFunc is the PartitionState of a stage whose state lasts one
// batch and belongs to no partition (fanout's delivery counts, which
// reach /metrics only when their batch commits): it ignores assignments
// and is called with each batch's outcome.
type BatchEndFunc func(committed bool)

// Assigned does nothing: the state belongs to no partition.
func (BatchEndFunc) Assigned([]int32) {}

// Revoked does nothing: the state belongs to no partition.
func (BatchEndFunc) Revoked([]int32) {}

// BatchEnded calls f.
func (f BatchEndFunc) BatchEnded(committed bool) { f(committed) }
