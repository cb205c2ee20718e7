package kafkax

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func admFor(t *testing.T, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(ClientOpts(configFor(brokers), nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// committedValues reads every committed value of topic b.
func committedValues(t *testing.T, brokers []string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := EndOffsets(ctx, admFor(t, brokers), "b", true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = RangeReader{Opts: ClientOpts(configFor(brokers), nil)}.Read(ctx, Ranges{"b": {0: {From: 0, End: ends[0]}}}, func(r *kgo.Record) error {
		got = append(got, string(r.Value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestTxnCommitsTogetherOrNotAtAll(t *testing.T) {
	brokers, prod := fakeTopics(t)
	ctx := context.Background()

	txn, err := BeginTxn(prod)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1", "2"} {
		txn.Produce(ctx, &kgo.Record{Topic: "b", Value: []byte(v)})
	}
	if err := txn.Commit(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	txn.Abort(time.Second) // after Commit: nothing

	// A record that fails aborts the transaction with its fellows.
	small, err := kgo.NewClient(ClientOpts(configFor(brokers), nil, kgo.TransactionalID("small"), kgo.ProducerBatchMaxBytes(1000))...)
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	txn, err = BeginTxn(small)
	if err != nil {
		t.Fatal(err)
	}
	txn.Produce(ctx, &kgo.Record{Topic: "b", Value: []byte("3")})
	txn.Produce(ctx, &kgo.Record{Topic: "b", Value: []byte(strings.Repeat("x", 2000))})
	err = txn.Commit(ctx, 5*time.Second)
	var aborted *TxnAborted
	if !errors.As(err, &aborted) || aborted.First == nil || aborted.Records == nil || aborted.Flush != nil || aborted.Commit != nil {
		t.Fatalf("a record too large: %#v, want a TxnAborted naming the record", err)
	}
	if first, _ := txn.Failed(); !errors.Is(err, first) {
		t.Fatalf("%v does not wrap the record's failure %v", err, first)
	}

	// The producer goes on with a new transaction.
	txn, err = BeginTxn(small)
	if err != nil {
		t.Fatal(err)
	}
	txn.Produce(ctx, &kgo.Record{Topic: "b", Value: []byte("4")})
	if err := txn.Commit(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// An aborted transaction leaves nothing either.
	txn, err = BeginTxn(small)
	if err != nil {
		t.Fatal(err)
	}
	txn.Produce(ctx, &kgo.Record{Topic: "b", Value: []byte("5")})
	txn.Abort(5 * time.Second)

	if got := committedValues(t, brokers); !slices.Equal(got, []string{"1", "2", "4"}) {
		t.Fatalf("committed %q, want 1 2 4", got)
	}
}

func TestTxnCommitGivesUpWithItsContext(t *testing.T) {
	_, prod := fakeTopics(t)
	txn, err := BeginTxn(prod)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	txn.Produce(context.Background(), &kgo.Record{Topic: "b", Value: []byte("late")})
	err = txn.Commit(ctx, 5*time.Second)
	var aborted *TxnAborted
	if !errors.As(err, &aborted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("commit on an ended context: %v, want an abort wrapping context.Canceled", err)
	}
}
