package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/kafkax"
)

// errWriterClosed is returned for writes after Close.
var errWriterClosed = errors.New("ingest writer is closed")

// txnWriter makes accepted events durable. Requests queue on one channel;
// each of a few transactional producers takes every request waiting, writes
// them in one Kafka transaction and commits (group commit). A request is
// answered only after its transaction committed with acks from all in-sync
// replicas, so a 2xx always means "in Kafka". An event and its idempotency
// record share the transaction, so they exist together or not at all.
type txnWriter struct {
	reqs     chan *writeReq
	newCl    func(txnID string) (*kgo.Client, error)
	txnIDs   []string
	maxBatch int
	timeout  time.Duration
	log      *zap.Logger
	m        *metrics

	wg     sync.WaitGroup
	mu     sync.RWMutex // held for reading while enqueueing; Close takes it to refuse new writes
	closed bool
	stop   chan struct{}
}

type writeReq struct {
	recs []*kgo.Record
	done chan error // buffered: the writer never blocks on a caller
}

func newTxnWriter(newCl func(txnID string) (*kgo.Client, error), txnIDs []string, maxBatch int, timeout time.Duration, log *zap.Logger, m *metrics) *txnWriter {
	w := &txnWriter{
		reqs:     make(chan *writeReq, 4096),
		newCl:    newCl,
		txnIDs:   txnIDs,
		maxBatch: maxBatch,
		timeout:  timeout,
		log:      log,
		m:        m,
		stop:     make(chan struct{}),
	}
	for _, id := range txnIDs {
		w.wg.Add(1)
		go w.loop(id)
	}
	return w
}

// errNotWritten settles the claims of a request that never reached the
// writer (a bad item, a busy idempotency key).
var errNotWritten = errors.New("not written")

// errUndecided is returned by Write when ctx ended while the records'
// transaction was in flight: they may still be committed.
var errUndecided = errors.New("the transaction's outcome was not known in time")

// Write blocks until recs are committed, the commit failed, or ctx ends.
// settled is called exactly once with the final outcome, nil when the
// records were committed: before Write returns when that is known by then;
// later, from another goroutine, when ctx ended while the transaction was
// in flight — Write then returns an error wrapping errUndecided, because
// the records may still be committed.
func (w *txnWriter) Write(ctx context.Context, recs []*kgo.Record, settled func(error)) error {
	req := &writeReq{recs: recs, done: make(chan error, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		settled(errWriterClosed)
		return errWriterClosed
	}
	select {
	case w.reqs <- req:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		settled(ctx.Err()) // never queued: nothing can be written
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		settled(err)
		return err
	case <-ctx.Done():
		go func() { settled(<-req.done) }() // every queued request is answered
		return fmt.Errorf("%w: %w", errUndecided, ctx.Err())
	}
}

// Close stops the producers after the requests they hold are answered.
func (w *txnWriter) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
	}
	w.mu.Unlock()
	w.wg.Wait()
	// Answer whatever is still queued so no caller waits forever.
	for {
		select {
		case req := <-w.reqs:
			req.done <- errWriterClosed
		default:
			return
		}
	}
}

func (w *txnWriter) loop(txnID string) {
	defer w.wg.Done()
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for {
		var first *writeReq
		select {
		case first = <-w.reqs:
		case <-w.stop:
			return
		}
		batch := []*writeReq{first}
		n := len(first.recs)
	drain:
		for n < w.maxBatch {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
				n += len(r.recs)
			default:
				break drain
			}
		}

		if cl == nil {
			var err error
			if cl, err = w.newCl(txnID); err != nil {
				w.finish(batch, fmt.Errorf("creating producer: %w", err))
				continue
			}
		}
		start := time.Now()
		err := w.commit(cl, batch)
		w.m.commitSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			w.m.commitErrors.Inc()
			w.log.Warn("ingest transaction failed", zap.Int("records", n), zap.Error(err))
			// A failed transaction can leave the producer in a state it
			// cannot leave; a fresh client with the same transactional
			// id fences the old one and starts clean.
			cl.Close()
			cl = nil
		} else {
			w.m.batchRecords.Observe(float64(n))
		}
		w.finish(batch, err)
	}
}

func (w *txnWriter) finish(batch []*writeReq, err error) {
	for _, r := range batch {
		r.done <- err
	}
}

// commit writes batch in one transaction.
func (w *txnWriter) commit(cl *kgo.Client, batch []*writeReq) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	txn, err := kafkax.BeginTxn(cl)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	for _, req := range batch {
		for _, r := range req.recs {
			txn.Produce(ctx, r)
		}
	}
	err = txn.Commit(ctx, w.timeout)
	var aborted *kafkax.TxnAborted
	switch {
	case err == nil:
		return nil
	case errors.As(err, &aborted) && aborted.Commit != nil:
		return fmt.Errorf("committing transaction: %w", aborted.Commit)
	case aborted != nil:
		return fmt.Errorf("producing: %w", errors.Join(aborted.First, aborted.Flush))
	}
	return err
}
