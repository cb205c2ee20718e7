// Package inspect reads what the running pipeline leaves in Kafka that an
// operator looks at: each stage's consumer-group lag per partition (with
// the stall reports of commerce.stalls), a subscription's recent attempts
// from commerce.delivery-attempts, and its lanes — the entity keys parked
// in commerce.deliveries.retry. `surge topics` and the admin API (and so
// the console) call the same functions, so both show one computation.
//
// Nothing here keeps state between calls: each call reads Kafka afresh,
// bounded by its context. Every function is safe for concurrent use.
package inspect
