package dlq_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/dlq"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/topics"
)

// TestRecordsPagesNewestFirstAndFromAnOffset: the newest page is the head
// of the full listing, even past an aborted transaction's offsets; paging
// one partition from an offset lists each of its dead letters once, in
// offset order; every record carries its headers and its attempts.
func TestRecordsPagesNewestFirstAndFromAnOffset(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ls := letters("sub_a", 24, 6, 400)
	e.deadLetter(ls[:12]...)
	time.Sleep(5 * time.Millisecond) // later record times for the second half
	e.deadLetter(ls[12:]...)
	d := ls[23].delivery()
	v, err := e.attC.Encode(event.DeliveryAttempt{DeliveryID: d.ID, EventID: d.EventID, SubscriptionID: d.SubscriptionID,
		Attempt: 1, URL: "http://x/", StartedAt: time.Now(), StatusCode: 400, Outcome: event.OutcomeDeadLettered})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cl.ProduceSync(ctx, &kgo.Record{Topic: e.names.Name(topics.DeliveryAttempts), Key: []byte(d.ID), Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// An aborted transaction of 12 on the partition of ls[0]'s key takes
	// offsets a read_committed reader skips.
	txn, err := kgo.NewClient(kgo.SeedBrokers(e.c.Brokers...), kgo.TransactionalID("dlq-browse-"+e.c.Prefix), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	aborted := make([]letter, 12)
	for i := range aborted {
		aborted[i] = letter{sub: "sub_a", entity: ls[0].entity, version: 99, status: 500, eventID: fmt.Sprintf("ev-aborted-%d", i)}
	}
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(ctx, e.deadLetterRecords(aborted...)...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := txn.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	part := e.deadLetterRecords(ls[0])[0].Partition
	time.Sleep(200 * time.Millisecond) // the abort marker reaches the stable end

	all, err := e.svc.Records(ctx, dlq.Browse{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Records) != 24 || all.More || all.Topic != e.names.Name(topics.DeliveriesDLQ) {
		t.Fatalf("all: %d records, more %v, topic %s; want 24, false", len(all.Records), all.More, all.Topic)
	}
	seen := map[string]bool{}
	for i, r := range all.Records {
		if i > 0 && r.Timestamp.After(all.Records[i-1].Timestamp) {
			t.Errorf("record %d (%s) is newer than record %d (%s)", i, r.Timestamp, i-1, all.Records[i-1].Timestamp)
		}
		if r.DeadLetter.Class != "rejected" || r.DeadLetter.HTTPStatus != "400" || r.DeadLetter.Stage != "dispatcher" {
			t.Errorf("record %d/%d: dead letter %+v", r.Partition, r.Offset, r.DeadLetter)
		}
		seen[fmt.Sprint(r.Partition, "/", r.Offset)] = true
	}
	if len(seen) != 24 {
		t.Errorf("%d distinct records of 24", len(seen))
	}
	if newest := all.Records[0]; newest.Timestamp.Before(all.Records[23].Timestamp) {
		t.Errorf("newest first: the first is %s, the last %s", newest.Timestamp, all.Records[23].Timestamp)
	}
	withAttempts := 0
	for _, r := range all.Records {
		if len(r.Attempts) > 0 {
			withAttempts++
			if r.Attempts[0].Status != 400 || !strings.Contains(string(r.Value), d.ID) {
				t.Errorf("attempts %+v on the record of %s", r.Attempts, r.Value)
			}
		}
	}
	if withAttempts != 1 {
		t.Errorf("%d records with attempts, want 1 (%s's)", withAttempts, d.ID)
	}

	head, err := e.svc.Records(ctx, dlq.Browse{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(head.Records) != 5 || !head.More {
		t.Fatalf("limit 5: %d records, more %v", len(head.Records), head.More)
	}
	for i, r := range head.Records {
		if w := all.Records[i]; r.Partition != w.Partition || r.Offset != w.Offset {
			t.Errorf("limit 5, record %d: %d/%d, want the full listing's %d/%d", i, r.Partition, r.Offset, w.Partition, w.Offset)
		}
	}

	// One partition, past the aborted transaction: the newest 3 are its
	// last 3 committed dead letters.
	var inPart []*dlq.Record
	for _, r := range all.Records {
		if r.Partition == part {
			inPart = append(inPart, r)
		}
	}
	tail, err := e.svc.Records(ctx, dlq.Browse{Partition: &part, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(tail.Records) != min(3, len(inPart)) || tail.More != (len(inPart) > 3) {
		t.Fatalf("partition %d, limit 3: %d records, more %v; it has %d", part, len(tail.Records), tail.More, len(inPart))
	}
	var last []int64 // the partition's highest offsets, highest first
	for _, r := range inPart {
		last = append(last, r.Offset)
	}
	slices.Sort(last)
	slices.Reverse(last)
	for i, r := range tail.Records {
		if r.Partition != part || r.Offset != last[i] || r.DeadLetter.HTTPStatus != "400" {
			t.Errorf("partition %d's tail has %d/%d (status %s), want offset %d", part, r.Partition, r.Offset, r.DeadLetter.HTTPStatus, last[i])
		}
	}

	// Paging partition part from offset 0, 2 at a time.
	var paged []int64
	from := int64(0)
	for range 50 {
		pg, err := e.svc.Records(ctx, dlq.Browse{Partition: &part, FromOffset: &from, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range pg.Records {
			if len(paged) > 0 && r.Offset <= paged[len(paged)-1] {
				t.Errorf("offset %d after %d", r.Offset, paged[len(paged)-1])
			}
			paged = append(paged, r.Offset)
		}
		if !pg.More {
			if pg.NextFromOffset != nil {
				t.Errorf("the last page names a next offset %d", *pg.NextFromOffset)
			}
			break
		}
		if pg.NextFromOffset == nil {
			t.Fatal("a page with more has no next offset")
		}
		from = *pg.NextFromOffset
	}
	if len(paged) != len(inPart) {
		t.Errorf("paging partition %d listed %d records (%v), it has %d", part, len(paged), paged, len(inPart))
	}

	bad := int32(99)
	if _, err := e.svc.Records(ctx, dlq.Browse{Partition: &bad}); !isInvalid(err, "partition") {
		t.Errorf("partition 99: %v, want invalid partition", err)
	}
	if _, err := e.svc.Records(ctx, dlq.Browse{Limit: dlq.MaxBrowseLimit + 1}); !isInvalid(err, "limit") {
		t.Errorf("limit past the maximum: %v, want invalid limit", err)
	}
}

func isInvalid(err error, field string) bool {
	var inv *dlq.InvalidError
	return errors.As(err, &inv) && inv.Field == field
}
