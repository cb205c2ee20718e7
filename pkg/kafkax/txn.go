package kafkax

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Txn is one transaction of a producer-only transactional client (made
// with kgo.TransactionalID): the records produced into it are committed
// together, or none is. BeginTxn opens it, Produce adds records, Commit
// flushes and commits them, or aborts when any of that failed; Abort
// drops it. Produce is safe for concurrent use; Commit and Abort are
// not, and end the transaction (a later Abort does nothing).
type Txn struct {
	cl    *kgo.Client
	ended bool

	mu      sync.Mutex
	first   error // the first record that failed
	records error // every record that failed, joined
}

// BeginTxn begins a transaction on cl, returning BeginTransaction's error
// as it is.
func BeginTxn(cl *kgo.Client) (*Txn, error) {
	if err := cl.BeginTransaction(); err != nil {
		return nil, err
	}
	return &Txn{cl: cl}, nil
}

// Produce adds r to the transaction without waiting; a failure is kept
// for Failed and Commit. ctx bounds the record's wait in the buffer.
func (t *Txn) Produce(ctx context.Context, r *kgo.Record) {
	t.cl.Produce(ctx, r, t.promise)
}

func (t *Txn) promise(_ *kgo.Record, err error) {
	if err == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.first == nil {
		t.first = err
	}
	t.records = errors.Join(t.records, err)
}

// Failed returns the first record's failure and all of them joined,
// among the records that finished so far; nil, nil while none failed.
func (t *Txn) Failed() (first, all error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.first, t.records
}

// TxnAborted is Commit's error when it aborted the transaction instead:
// the flush did not finish (Flush, ctx's error), records failed (First
// and Records), or the commit itself failed (Commit, EndTransaction's
// error; its outcome may be unknown, and the abort after it settles it).
type TxnAborted struct {
	Flush, First, Records, Commit error
}

func (e *TxnAborted) Error() string {
	return "transaction aborted: " + errors.Join(e.Flush, e.Records, e.Commit).Error()
}

func (e *TxnAborted) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Flush, e.Records, e.Commit} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Commit waits for the transaction's records and commits them. When the
// flush or a record failed it does not commit, and when the commit fails
// it does not retry: either way it aborts (Abort, within abortTimeout)
// and returns a *TxnAborted saying why.
func (t *Txn) Commit(ctx context.Context, abortTimeout time.Duration) error {
	flushErr := t.cl.Flush(ctx)
	first, records := t.Failed()
	if flushErr != nil || records != nil {
		t.Abort(abortTimeout)
		return &TxnAborted{Flush: flushErr, First: first, Records: records}
	}
	if err := t.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Abort(abortTimeout)
		return &TxnAborted{Commit: err}
	}
	t.ended = true
	return nil
}

// Abort drops the records still buffered and aborts the transaction, on
// a context of its own bounded by timeout (the caller's may be what ran
// out). Its errors are not returned: a producer whose abort failed is one
// to close, and a new client with the same transactional id fences it.
func (t *Txn) Abort(timeout time.Duration) {
	if t.ended {
		return
	}
	t.ended = true
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = t.cl.AbortBufferedRecords(ctx)
	_ = t.cl.EndTransaction(ctx, kgo.TryAbort)
}
