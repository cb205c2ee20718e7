package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/ksuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/trace"
)

// TestTraceFollowsAnEventThroughARetriedDelivery is the issue's
// acceptance run on `surge dev`: an endpoint answers 503 once and 200
// afterwards, a subscription retries after 1s, and `surge trace` shows the
// raw record, the enriched version 1, the delivery, attempt 1 (503, retry),
// attempt 2 (200, delivered) and a "delivered" summary, as a table and as
// JSON lines; an unknown id fails naming it.
func TestTraceFollowsAnEventThroughARetriedDelivery(t *testing.T) {
	stack, dir := startTestDev(t, zap.WarnLevel)

	var mu sync.Mutex
	var hookIDs []string
	delivered := make(chan struct{})
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		hookIDs = append(hookIDs, r.Header.Get("webhook-id"))
		if len(hookIDs) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
		if len(hookIDs) == 2 {
			close(delivered)
		}
	}))
	defer receiver.Close()

	out, err := runCLI(t, "subs", "create", "--url", receiver.URL+"/hook", "--event-type", "order.*",
		"--retry-schedule", "1s", "--json", "--admin-addr", strings.TrimPrefix(stack.AdminURL, "http://"), "--data-dir", dir)
	if err != nil {
		t.Fatalf("subs create: %v\n%s", err, out)
	}
	var created struct{ ID string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID == "" {
		t.Fatalf("subs create --json printed %q: %v", out, err)
	}
	subID := created.ID

	status, body := postEvent(t, stack.IngestURL, `{"type":"order.placed","entity":{"type":"order","id":"T-100"},"data":{"total":42.5}}`, nil)
	if status != http.StatusAccepted {
		t.Fatalf("POST /v1/events: %d %v", status, body)
	}
	id, _ := body["id"].(string)
	select {
	case <-delivered:
	case <-time.After(60 * time.Second):
		mu.Lock()
		got := len(hookIDs)
		mu.Unlock()
		t.Fatalf("the receiver never got its 200 (%d requests in 60s); where event %s is:\n%s", got, id, devDiagnosis(t, stack, id))
	}
	mu.Lock()
	webhookID := hookIDs[0]
	if webhookID == "" || hookIDs[1] != webhookID {
		t.Fatalf("webhook-ids %q: want one, the same on the retry", hookIDs)
	}
	mu.Unlock()
	rawPart, rawOff := findRecord(t, stack.KafkaAddr, topics.EventsRaw, id)

	kafka := []string{"--brokers", stack.KafkaAddr, "--registry", stack.RegistryURL}
	// The attempt that got the 200 is logged just after the answer, and
	// trace reads to the end offsets it sees at start: ask until it shows.
	var table string
	for deadline := time.Now().Add(20 * time.Second); ; {
		table, err = runCLI(t, append([]string{"trace", id}, kafka...)...)
		if err != nil {
			t.Fatalf("surge trace %s: %v\n%s", id, err, table)
		}
		if strings.Contains(table, "outcome=delivered") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("surge trace %s:\n%s", id, table)

	// Each stage on its own line, in the order it happened.
	q := regexp.QuoteMeta
	lines := []struct{ name, re string }{
		{"ingest", `(?m)^\S+\s+ingest\s+commerce\.events\.raw\s+` + strconv.Itoa(int(rawPart)) + `\s+` + strconv.FormatInt(rawOff, 10) + `\s+type=order\.placed key=order:T-100 source=default received_at=`},
		{"enrich", `(?m)^\S+\s+enrich\s+commerce\.events\.enriched\s+\d+\s+\d+\s+type=order\.placed version=1 changes=total$`},
		{"fanout", `(?m)^\S+\s+fanout\s+commerce\.deliveries\s+\d+\s+\d+\s+subscription=` + q(subID) + ` webhook-id=` + q(webhookID) + ` key=order:T-100$`},
		{"attempt 1", `(?m)^\S+\s+dispatcher\s+commerce\.delivery-attempts\s+\d+\s+\d+\s+attempt=1 subscription=` + q(subID) + ` status=503 outcome=retry duration=\S+ms next_attempt_at=\S+`},
		{"attempt 2", `(?m)^\S+\s+dispatcher\s+commerce\.delivery-attempts\s+\d+\s+\d+\s+attempt=2 subscription=` + q(subID) + ` status=200 outcome=delivered duration=\S+ms$`},
		{"summary", `(?m)^` + q(subID) + `\s+delivered\s+2\s+` + q(webhookID) + `\s+HTTP 200 on attempt 2 at `},
	}
	last := -1
	for _, l := range lines {
		loc := regexp.MustCompile(l.re).FindStringIndex(table)
		if loc == nil {
			t.Fatalf("no %s line matching %s in\n%s", l.name, l.re, table)
		}
		if loc[0] < last {
			t.Fatalf("the %s line comes before the stage it follows:\n%s", l.name, table)
		}
		last = loc[0]
	}
	if strings.Contains(table, "dead-lettered") || strings.Contains(table, "parked") || strings.Contains(table, "note:") {
		t.Fatalf("a dead letter, a parked copy or a note in a clean run:\n%s", table)
	}

	t.Run("json", func(t *testing.T) {
		stdout, stderr, err := runCLISplit(t, append([]string{"trace", id, "--json"}, kafka...)...)
		if err != nil {
			t.Fatalf("surge trace --json: %v\n%s%s", err, stdout, stderr)
		}
		var steps []trace.Step
		for i, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
			var s trace.Step
			dec := json.NewDecoder(strings.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&s); err != nil {
				t.Fatalf("line %d %q: %v", i+1, line, err)
			}
			steps = append(steps, s)
		}
		stages := ""
		for _, s := range steps {
			stages += s.Stage + "/" + s.Kind + " "
		}
		if want := "ingest/event enrich/event fanout/delivery dispatcher/attempt dispatcher/attempt summary/ "; stages != want {
			t.Fatalf("steps %q, want %q", stages, want)
		}
		if s := steps[0]; s.EventType != "order.placed" || s.EntityKey != "order:T-100" || *s.Partition != rawPart || *s.Offset != rawOff || s.ReceivedAt == nil {
			t.Fatalf("ingest step %+v: want order.placed order:T-100 at %d/%d", s, rawPart, rawOff)
		}
		if s := steps[1]; s.EntityVersion != 1 || len(s.Changes) != 1 || s.Changes[0] != "total" {
			t.Fatalf("enrich step %+v: want version 1 changing total", s)
		}
		if s := steps[2]; s.SubscriptionID != subID || s.DeliveryID != webhookID {
			t.Fatalf("fanout step %+v: want %s, %s", s, subID, webhookID)
		}
		if s := steps[3]; s.Attempt != 1 || s.Status != 503 || s.Outcome != event.OutcomeRetry || s.NextAttemptAt == nil || s.DeliveryID != webhookID {
			t.Fatalf("attempt step %+v: want attempt 1, 503, retry, a next attempt", s)
		}
		if s := steps[4]; s.Attempt != 2 || s.Status != 200 || s.Outcome != event.OutcomeDelivered || s.URL != receiver.URL+"/hook" {
			t.Fatalf("attempt step %+v: want attempt 2, 200, delivered", s)
		}
		if s := steps[5]; s.SubscriptionID != subID || s.Result != trace.ResultDelivered || s.Attempts != 2 || s.DeliveryID != webhookID || s.URL != receiver.URL+"/hook" {
			t.Fatalf("summary %+v: want %s delivered after 2 attempts", s, subID)
		}
	})

	t.Run("unknown id", func(t *testing.T) {
		unknown := ksuid.New().String()
		out, err := runCLI(t, append([]string{"trace", unknown}, kafka...)...)
		if err == nil || !strings.Contains(err.Error(), "no record of event "+unknown+" on any topic (searched from 20") {
			t.Fatalf("trace of an unknown ksuid: err %v, output %q; want an error naming it and the time searched from", err, out)
		}
		out, err = runCLI(t, append([]string{"trace", "not-a-ksuid"}, kafka...)...)
		if err == nil || !strings.Contains(err.Error(), "no record of event not-a-ksuid on any topic (searched from the beginning)") ||
			!strings.Contains(out, "not a ksuid") {
			t.Fatalf("trace of an id that is not a ksuid: err %v, output %q", err, out)
		}
	})

	t.Run("searches from the id's time", func(t *testing.T) {
		// Two records on the raw topic written now, one for an id minted
		// now, one for an id minted 30 minutes from now: the search for
		// the second starts a minute before its time, after both records.
		// The values are not Avro: a record that does not decode is shown
		// with the error.
		now := ksuid.New()
		later, err := ksuid.NewRandomWithTime(time.Now().Add(30 * time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for _, k := range []ksuid.KSUID{now, later} {
			r := &kgo.Record{Topic: topics.EventsRaw, Key: []byte("order:T-200"), Value: []byte("not avro"),
				Headers: []kgo.RecordHeader{{Key: topics.HeaderEventID, Value: []byte(k.String())}}}
			if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		out, err := runCLI(t, append([]string{"trace", now.String()}, kafka...)...)
		if err != nil || !regexp.MustCompile(`(?m)\s+ingest\s+commerce\.events\.raw\s+\d+\s+\d+\s+value_error="`).MatchString(out) {
			t.Fatalf("trace of a record that does not decode: err %v, output\n%s", err, out)
		}
		out, err = runCLI(t, append([]string{"trace", later.String()}, kafka...)...)
		from := later.Time().Add(-time.Minute).UTC().Format(time.RFC3339)
		if err == nil || !strings.Contains(err.Error(), "no record of event "+later.String()+" on any topic (searched from "+from+")") {
			t.Fatalf("trace of an id minted after its only record: err %v, output %q; want no record, searched from %s", err, out, from)
		}
	})

	t.Run("missing topics are skipped", func(t *testing.T) {
		out, err := runCLI(t, append([]string{"trace", id, "--topic-prefix", "elsewhere."}, kafka...)...)
		if err == nil || !strings.Contains(err.Error(), "no record of event "+id) {
			t.Fatalf("trace under a prefix with no topics: err %v, want no record", err)
		}
		if !strings.Contains(out, "note: topic elsewhere.commerce.delivery-attempts does not exist; skipped") {
			t.Fatalf("no note about the missing topics in %q", out)
		}
	})
}

// findRecord returns where the record of event id is on topic, as any
// read_committed consumer finds it.
func findRecord(t *testing.T, broker, topic, id string) (int32, int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		for _, r := range cl.PollFetches(ctx).Records() {
			if stream.Header(r, topics.HeaderEventID) == id {
				return r.Partition, r.Offset
			}
		}
	}
	t.Fatalf("no record of %s on %s", id, topic)
	return 0, 0
}
