package dlq_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/opsevent"
	"github.com/surgehq/surge/pkg/topics"
)

// TestWatchReportsEachMultipleOnce: with 7 dead letters already in
// commerce.deliveries.dlq when the watch starts and every 5, none is
// reported for what was there (a restart repeats no alert); 8 more pass
// 10 and 15, and each is one surge.dlq.threshold_crossed on
// commerce.events.raw, keyed by the topic, naming the count and the dead
// letter that passed the mark.
func TestWatchReportsEachMultipleOnce(t *testing.T) {
	e := newEnv(t)
	all := letters("sub_w", 15, 3, 400)
	e.deadLetter(all[:7]...)
	if err := e.svc.Watch(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	e.deadLetter(all[7:]...)

	raw := e.names.Name(topics.EventsRaw)
	codec := avroserde.NewEventCodec(e.reg, raw)
	dlqTopic := e.names.Name(topics.DeliveriesDLQ)
	var got []opsevent.DLQThreshold
	read := func() {
		got = got[:0]
		for _, d := range kafkatest.DecodeAll(t, codec, e.c.ReadCommitted(t, raw)) {
			if d.Value.Type != opsevent.DLQThresholdCrossed {
				t.Fatalf("an event of type %s on %s", d.Value.Type, raw)
			}
			if d.Value.Entity.Type != opsevent.EntityDLQ || d.Value.Entity.ID != dlqTopic || string(d.Record.Key) != "dlq:"+dlqTopic {
				t.Errorf("threshold event about %+v keyed %q", d.Value.Entity, d.Record.Key)
			}
			var b opsevent.DLQThreshold
			if err := json.Unmarshal(d.Value.Data, &b); err != nil {
				t.Fatal(err)
			}
			got = append(got, b)
		}
	}
	kafkatest.WaitFor(t, 30*time.Second, "two threshold events", func() bool { read(); return len(got) >= 2 })
	time.Sleep(500 * time.Millisecond)
	read()
	if len(got) != 2 {
		t.Fatalf("%d threshold events, want 2 (at 10 and 15): %+v", len(got), got)
	}
	for i, want := range []int64{10, 15} {
		b := got[i]
		if b.Topic != dlqTopic || b.DeadLetters != want || b.Every != 5 || b.Last.Stage != "dispatcher" || b.Last.ErrorClass != "rejected" || b.Last.Error != "HTTP 400" {
			t.Errorf("threshold event %d: %+v, want %d dead letters of %s", i, b, want, dlqTopic)
		}
	}
}
