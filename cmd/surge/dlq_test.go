package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/dlq"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/webhook/webhooktest"
	"github.com/surgehq/surge/services/fanout"
)

// newSwitchable is a webhook endpoint answering every request with
// status until told otherwise (SetStatus); it checks signatures with the
// official library and records what arrived per path.
func newSwitchable(t *testing.T, status int) *webhooktest.Receiver {
	rc := webhooktest.NewReceiver(t)
	rc.SetStatus(status)
	return rc
}

// subscribeAt creates, through the admin API at adminURL of the stack
// whose data directory is dir, a subscription to rc at path for the event
// types types, and returns its id.
func subscribeAt(t testing.TB, rc *webhooktest.Receiver, adminURL, dir, path, types string) string {
	t.Helper()
	out := adminCall(t, adminURL, adminToken(t, dir), "POST", "/v1/subscriptions",
		fmt.Sprintf(`{"url":%q,"event_types":[%q]}`, rc.URL+"/"+path, types))
	rc.SetSecret(path, out["secret"].(string))
	return out["id"].(string)
}

// adminToken is the admin API's token of the stack whose data directory
// is dir.
func adminToken(t testing.TB, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// dlqCLI runs `surge dlq ARGS` in process against stack with ctx and
// returns what it printed (stdout and stderr).
func dlqCLI(ctx context.Context, stack *devStack, args ...string) (string, error) {
	var out bytes.Buffer
	err := execCLI(ctx, &out, &out, append(append([]string{"dlq"}, args...), "--brokers", stack.KafkaAddr, "--registry", stack.RegistryURL)...)
	return out.String(), err
}

func mustDLQ(t *testing.T, stack *devStack, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := dlqCLI(ctx, stack, args...)
	if err != nil {
		t.Fatalf("surge dlq %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func dlqStats(t *testing.T, stack *devStack, topic string) dlq.Stats {
	t.Helper()
	var st dlq.Stats
	out := mustDLQ(t, stack, "stats", "--json", "--topic", topic)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("stats --json printed %q: %v", out, err)
	}
	return st
}

// records reads topic with read_committed to its current end.
func records(t *testing.T, stack *devStack, topic string) []*kgo.Record {
	t.Helper()
	return kafkatest.At(stack.KafkaAddr).ReadCommitted(t, topic)
}

// endOffsets are the end offsets of every commerce.* topic.
func endOffsets(t *testing.T, stack *devStack) map[string]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if strings.HasPrefix(o.Topic, "commerce.") {
			out[fmt.Sprintf("%s/%d", o.Topic, o.Partition)] = o.Offset
		}
	})
	return out
}

// quiet waits until no commerce.* topic grows for half a second.
func quiet(t *testing.T, stack *devStack) map[string]int64 {
	t.Helper()
	prev := endOffsets(t, stack)
	for range 40 {
		time.Sleep(500 * time.Millisecond)
		cur := endOffsets(t, stack)
		if fmt.Sprint(cur) == fmt.Sprint(prev) {
			return cur
		}
		prev = cur
	}
	t.Fatal("the topics never went quiet")
	return nil
}

var replayIDRe = regexp.MustCompile(`rpl_[0-9A-Za-z]{27}`)

func startDLQStack(t *testing.T) (*devStack, string) {
	t.Helper()
	return startTestDev(t, zap.ErrorLevel)
}

// rejectAll posts n order events over entities while the endpoint answers
// 400 and waits until all n are dead-lettered.
func rejectAll(t *testing.T, stack *devStack, n, entities int) map[string]int64 {
	t.Helper()
	versions := postOrders(t, stack.IngestURL, n, entities)
	kafkatest.WaitFor(t, 90*time.Second, fmt.Sprintf("%d dead letters", n), func() bool {
		return dlqStats(t, stack, topics.DeliveriesDLQ).Total >= int64(n)
	})
	return versions
}

// TestDLQReplayAfterTheEndpointIsFixed is issue 7's run: an endpoint
// rejects 300 events for 20 entities with 400; stats show them; a dry run
// changes nothing; once the endpoint is fixed, a replay at 100 records/s
// delivers all 300 in per-entity order with their original webhook-ids,
// and the replayed records carry the replay headers.
func TestDLQReplayAfterTheEndpointIsFixed(t *testing.T) {
	stack, dir := startDLQStack(t)
	ep := newSwitchable(t, http.StatusBadRequest)
	sub := subscribeAt(t, ep, stack.AdminURL, dir, "hook", "*")
	versions := rejectAll(t, stack, 300, 20)

	st := dlqStats(t, stack, topics.DeliveriesDLQ)
	if st.Total != 300 || st.BySubscription[sub] != 300 || st.ByClass["rejected"] != 300 || st.ByHTTPStatus["400"] != 300 || st.ByStage["dispatcher"] != 300 {
		t.Fatalf("stats: %+v", st)
	}
	table := mustDLQ(t, stack, "stats")
	for _, want := range []string{"300 dead letters", sub, "rejected", "400"} {
		if !strings.Contains(table, want) {
			t.Fatalf("stats table lacks %q:\n%s", want, table)
		}
	}
	t.Logf("surge dlq stats:\n%s", table)
	rejected := ep.Answered("hook", http.StatusBadRequest)
	if len(rejected) != 300 {
		t.Fatalf("%d rejected requests, want 300", len(rejected))
	}

	// One record in full, with its attempt.
	var first dlq.Record
	show := mustDLQ(t, stack, "show", "--json", "--partition", fmt.Sprint(st.Partitions[0].Partition), "--offset", fmt.Sprint(st.Partitions[0].StartOffset))
	if err := json.Unmarshal([]byte(show), &first); err != nil {
		t.Fatal(err)
	}
	if first.DeadLetter.Class != "rejected" || first.DeadLetter.HTTPStatus != "400" || len(first.Attempts) != 1 || first.Attempts[0].Status != 400 {
		t.Fatalf("show: %s", show)
	}
	t.Logf("surge dlq show:\n%s", mustDLQ(t, stack, "show", "--partition", fmt.Sprint(first.Partition), "--offset", fmt.Sprint(first.Offset)))

	// A dry run writes nothing and counts 300.
	before := quiet(t, stack)
	dry := mustDLQ(t, stack, "replay", "--dry-run")
	if !strings.Contains(dry, "would replay 300 of the 300") {
		t.Fatalf("dry run:\n%s", dry)
	}
	time.Sleep(300 * time.Millisecond)
	if after := endOffsets(t, stack); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("the dry run wrote something:\nbefore %v\nafter  %v", before, after)
	}
	lines := strings.Split(strings.TrimSpace(dry), "\n")
	t.Logf("surge dlq replay --dry-run (first and last lines):\n%s\n...\n%s", strings.Join(lines[:4], "\n"), strings.Join(lines[len(lines)-4:], "\n"))

	// The endpoint is fixed; replay at 100 records/s.
	ep.SetStatus(http.StatusNoContent)
	start := time.Now()
	out := mustDLQ(t, stack, "replay", "--rate", "100")
	took := time.Since(start)
	id := replayIDRe.FindString(out)
	if id == "" || !strings.Contains(out, "done: 300 of 300") {
		t.Fatalf("replay:\n%s", out)
	}
	if took < 2500*time.Millisecond {
		t.Fatalf("300 records at --rate 100 took %s; want about 3s", took)
	}
	t.Logf("surge dlq replay --rate 100 (%s):\n%s", took.Round(time.Millisecond), out)
	kafkatest.WaitFor(t, 60*time.Second, "300 deliveries", func() bool { return len(ep.Answered("hook", http.StatusNoContent)) >= 300 })

	ep.CheckSignatures(t)
	wantIDs := map[string]bool{}
	for _, a := range rejected {
		wantIDs[a.ID] = true
	}
	last := map[string]int64{}
	seen := map[string]bool{}
	for _, a := range ep.Answered("hook", http.StatusNoContent) {
		if !wantIDs[a.ID] {
			t.Fatalf("delivered webhook-id %s was not one of the rejected ones", a.ID)
		}
		seen[a.ID] = true
		if a.Version <= last[a.Entity] {
			t.Fatalf("%s: version %d delivered after %d", a.Entity, a.Version, last[a.Entity])
		}
		last[a.Entity] = a.Version
	}
	if len(seen) != 300 {
		t.Fatalf("%d distinct webhook-ids delivered, want 300", len(seen))
	}
	for k, v := range versions {
		if last[k] != v {
			t.Fatalf("%s: delivered up to version %d, want %d", k, last[k], v)
		}
	}

	var replayed int
	for _, r := range records(t, stack, topics.Deliveries) {
		if stream.Header(r, topics.HeaderReplayID) != id {
			continue
		}
		replayed++
		if stream.Header(r, topics.HeaderReplayCount) != "1" || stream.Header(r, topics.HeaderDLQErrorClass) != "" || stream.Header(r, topics.HeaderDLQTopic) != "" {
			t.Fatalf("replayed record headers %v", r.Headers)
		}
	}
	if replayed != 300 {
		t.Fatalf("%d records of replay %s on %s, want 300", replayed, id, topics.Deliveries)
	}
}

// TestDLQReplayStoppedAndResumed stops a replay halfway as Ctrl-C would,
// resumes it with --resume ID alone, and finds every record written once;
// then refuses a replay to a deleted subscription and sends those dead
// letters to another one with --to-subscription.
func TestDLQReplayStoppedAndResumed(t *testing.T) {
	stack, dir := startDLQStack(t)
	ep := newSwitchable(t, http.StatusBadRequest)
	subscribeAt(t, ep, stack.AdminURL, dir, "hook", "order.*")
	rejectAll(t, stack, 300, 20)
	ep.SetStatus(http.StatusNoContent)

	ctx, stop := context.WithCancel(context.Background())
	var (
		out string
		err error
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		out, err = dlqCLI(ctx, stack, "replay", "--rate", "100")
	}()
	kafkatest.WaitFor(t, 60*time.Second, "half the replay", func() bool { return len(ep.Answered("hook", http.StatusNoContent)) >= 150 })
	stop() // what SIGINT does: signal.NotifyContext cancels the same context
	<-done
	id := replayIDRe.FindString(out)
	if err == nil || !strings.Contains(err.Error(), "stopped") || id == "" {
		t.Fatalf("stopped replay: err %v\n%s", err, out)
	}
	t.Logf("stopped replay: %v\n%s", err, out)

	resumed := mustDLQ(t, stack, "replay", "--resume", id)
	if !strings.Contains(resumed, "done: 300 of 300") {
		t.Fatalf("resumed replay:\n%s", resumed)
	}
	t.Logf("surge dlq replay --resume %s:\n%s", id, resumed)
	if _, err := dlqCLI(context.Background(), stack, "replay", "--resume", id); err == nil {
		t.Fatal("resuming a finished replay: want an error")
	}

	total, distinct := 0, map[string]bool{}
	srCl, _ := sr.NewClient(sr.URLs(stack.RegistryURL))
	codec := avroserde.NewDeliveryCodec(avroserde.NewRegistry(srCl), topics.Deliveries)
	for _, r := range records(t, stack, topics.Deliveries) {
		if stream.Header(r, topics.HeaderReplayID) != id {
			continue
		}
		d, err := codec.Decode(context.Background(), r.Value)
		if err != nil {
			t.Fatal(err)
		}
		total++
		distinct[d.ID] = true
	}
	if total != 300 || len(distinct) != 300 {
		t.Fatalf("replay %s wrote %d records, %d distinct; want each of the 300 once", id, total, len(distinct))
	}
	kafkatest.WaitFor(t, 60*time.Second, "300 deliveries", func() bool {
		ids := map[string]bool{}
		for _, a := range ep.Answered("hook", http.StatusNoContent) {
			ids[a.ID] = true
		}
		return len(ids) >= 300
	})

	// A deleted subscription's dead letters: refused, then sent to
	// another subscription.
	gone := subscribeAt(t, ep, stack.AdminURL, dir, "gone", "product.*")
	ep.SetStatus(http.StatusBadRequest)
	var batch []string
	for i := range 10 {
		batch = append(batch, fmt.Sprintf(`{"type":"product.updated","entity":{"type":"product","id":"P%d"},"data":{"price":%d}}`, i%3, i))
	}
	if status, body := postEvent(t, stack.IngestURL, `{"events":[`+strings.Join(batch, ",")+`]}`, nil); status != http.StatusAccepted {
		t.Fatalf("POST: %d %v", status, body)
	}
	kafkatest.WaitFor(t, 60*time.Second, "10 more dead letters", func() bool { return dlqStats(t, stack, topics.DeliveriesDLQ).BySubscription[gone] >= 10 })
	adminCall(t, stack.AdminURL, adminToken(t, dir), "DELETE", "/v1/subscriptions/"+gone, "")
	out, err = dlqCLI(context.Background(), stack, "replay", "--subscription", gone)
	if err == nil || !strings.Contains(err.Error(), gone) || !strings.Contains(err.Error(), "deleted") {
		t.Fatalf("replay to a deleted subscription: err %v\n%s", err, out)
	}
	t.Logf("refused: %v", err)
	ep.SetStatus(http.StatusNoContent)
	other := subscribeAt(t, ep, stack.AdminURL, dir, "other", "product.*")
	out = mustDLQ(t, stack, "replay", "--subscription", gone, "--to-subscription", other)
	if !strings.Contains(out, "done: 10 of 10") {
		t.Fatalf("replay --to-subscription:\n%s", out)
	}
	kafkatest.WaitFor(t, 60*time.Second, "10 deliveries to the other subscription", func() bool { return len(ep.Answered("other", http.StatusNoContent)) >= 10 })
	for _, r := range records(t, stack, topics.Deliveries) {
		if stream.Header(r, topics.HeaderReplayID) != replayIDRe.FindString(out) {
			continue
		}
		d, err := codec.Decode(context.Background(), r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if d.SubscriptionID != other || string(r.Key) != event.DeliveryKey(other, d.EntityKey) || d.ID != fanout.DeliveryID(d.EventID, other) {
			t.Fatalf("replayed to %s: %+v key %s", other, d, r.Key)
		}
	}
	ep.CheckSignatures(t)
}

// TestDLQReplaysEventsDLQToTheFailedStage dead-letters a poison record in
// enrich and replays it from commerce.events.dlq back to
// commerce.events.raw, where enrich dead-letters it again with the replay
// count; then does the same through the admin API.
func TestDLQReplaysEventsDLQToTheFailedStage(t *testing.T) {
	stack, dir := startDLQStack(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	poison := &kgo.Record{Topic: topics.EventsRaw, Key: []byte("order:poison"), Value: []byte("not avro"),
		Headers: []kgo.RecordHeader{{Key: topics.HeaderEventID, Value: []byte("ev-poison")}}}
	if err := cl.ProduceSync(context.Background(), poison).FirstErr(); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 30*time.Second, "the poison record's dead letter", func() bool { return dlqStats(t, stack, topics.EventsDLQ).Total >= 1 })
	st := dlqStats(t, stack, topics.EventsDLQ)
	if st.ByStage["enrich"] != 1 || st.ByClass["undecodable"] != 1 || st.BySourceTopic[topics.EventsRaw] != 1 {
		t.Fatalf("events DLQ stats %+v", st)
	}
	// Enrich wrote the one dead letter in a transaction: the record is
	// offset 0, its commit marker offset 1, and the table says 0.
	var dead dlq.PartitionStats
	for _, p := range st.Partitions {
		if p.Count > 0 {
			dead = p
		}
	}
	if dead.FirstOffset == nil || *dead.FirstOffset != 0 || dead.LastOffset == nil || *dead.LastOffset != 0 || dead.EndOffset != 2 {
		t.Fatalf("the dead letter's partition: %+v, want first and last offset 0, end offset 2", dead)
	}
	row := regexp.MustCompile(fmt.Sprintf(`(?m)^%d +1 +0 +\d{4}-`, dead.Partition))
	if table := mustDLQ(t, stack, "stats", "--topic", topics.EventsDLQ); !row.MatchString(table) {
		t.Fatalf("stats table: want partition %d with 1 dead letter at offset 0:\n%s", dead.Partition, table)
	}
	var shown dlq.Record
	if err := json.Unmarshal([]byte(mustDLQ(t, stack, "show", "--topic", topics.EventsDLQ, "--event-id", "ev-poison", "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.ReplaysTo != topics.EventsRaw || shown.ValueError == "" {
		t.Fatalf("show: %+v", shown)
	}

	out := mustDLQ(t, stack, "replay", "--topic", topics.EventsDLQ)
	id := replayIDRe.FindString(out)
	if !strings.Contains(out, "done: 1 of 1") {
		t.Fatalf("replay:\n%s", out)
	}
	var back []*kgo.Record
	for _, r := range records(t, stack, topics.EventsRaw) {
		if stream.Header(r, topics.HeaderReplayID) == id {
			back = append(back, r)
		}
	}
	if len(back) != 1 || string(back[0].Key) != "order:poison" || string(back[0].Value) != "not avro" ||
		back[0].Partition != shown.Partition || stream.Header(back[0], topics.HeaderReplayCount) != "1" || stream.Header(back[0], topics.HeaderEventID) != "ev-poison" {
		t.Fatalf("replayed to %s: %+v", topics.EventsRaw, back)
	}
	// Still poison: enrich dead-letters it again, marked as replayed once.
	kafkatest.WaitFor(t, 30*time.Second, "the second dead letter", func() bool { return dlqStats(t, stack, topics.EventsDLQ).Total >= 2 })
	if st := dlqStats(t, stack, topics.EventsDLQ); st.Replayed != 1 {
		t.Fatalf("stats after the replay: %+v", st)
	}
	dry := mustDLQ(t, stack, "replay", "--topic", topics.EventsDLQ, "--dry-run", "--json")
	if !strings.Contains(dry, `"replay_count":2`) {
		t.Fatalf("a second replay would carry count 2:\n%s", dry)
	}

	// The same through the admin API, as a console would.
	tok := adminToken(t, dir)
	stats := adminCall(t, stack.AdminURL, tok, "GET", "/v1/dlq/stats?topic="+topics.EventsDLQ, "")
	if stats["total"].(float64) != 2 {
		t.Fatalf("GET /v1/dlq/stats: %v", stats)
	}
	// Both dead letters on one partition, each in its own transaction:
	// offsets 0 and 2, with commit markers at 1 and 3.
	part := stats["partitions"].([]any)[dead.Partition].(map[string]any)
	if part["count"] != 2.0 || part["first_offset"] != 0.0 || part["last_offset"] != 2.0 || part["end_offset"] != 4.0 {
		t.Fatalf("GET /v1/dlq/stats partition %d: %v, want count 2, first_offset 0, last_offset 2, end_offset 4", dead.Partition, part)
	}
	rec := adminCall(t, stack.AdminURL, tok, "GET", fmt.Sprintf("/v1/dlq/records/%d/%d?topic=%s", shown.Partition, shown.Offset, topics.EventsDLQ), "")
	if rec["replays_to"] != topics.EventsRaw {
		t.Fatalf("GET /v1/dlq/records: %v", rec)
	}
	plan := adminCall(t, stack.AdminURL, tok, "POST", "/v1/dlq/replays", `{"topic":"commerce.events.dlq","dry_run":true}`)
	if plan["plan"].(map[string]any)["selected"].(float64) != 2 {
		t.Fatalf("dry run: %v", plan)
	}
	started := adminCall(t, stack.AdminURL, tok, "POST", "/v1/dlq/replays", `{"topic":"commerce.events.dlq","rate":50}`)
	apiID, _ := started["id"].(string)
	if started["state"] != "running" || !replayIDRe.MatchString(apiID) {
		t.Fatalf("POST /v1/dlq/replays: %v", started)
	}
	kafkatest.WaitFor(t, 30*time.Second, "the API's replay", func() bool {
		st := adminCall(t, stack.AdminURL, tok, "GET", "/v1/dlq/replays/"+apiID, "")
		return st["state"] == "done" && st["replayed"].(float64) == 2
	})
	list := adminCall(t, stack.AdminURL, tok, "GET", "/v1/dlq/replays", "")
	if n := len(list["replays"].([]any)); n != 2 {
		t.Fatalf("GET /v1/dlq/replays: %d replays, want the CLI's and the API's", n)
	}
}

func TestStatsTableOffsets(t *testing.T) {
	at := func(v int64) *int64 { return &v }
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	printStats(&out, &dlq.Stats{Topic: topics.DeliveriesDLQ, Total: 101, Oldest: &now, Newest: &now, Partitions: []dlq.PartitionStats{
		{Partition: 0, Count: 1, StartOffset: 0, EndOffset: 2, FirstOffset: at(0), LastOffset: at(0), Oldest: &now, Newest: &now},
		{Partition: 1, Count: 100, StartOffset: 1000, EndOffset: 1400, FirstOffset: at(1200), LastOffset: at(1398), Oldest: &now, Newest: &now},
		{Partition: 2, StartOffset: 7, EndOffset: 9},
	}})
	for _, want := range []string{
		`(?m)^0 +1 +0 +2026-03-01T12:00:00Z`,
		`(?m)^1 +100 +1200-1398 +2026-03-01T12:00:00Z`,
		`(?m)^2 +0 +- +- +-$`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("stats table lacks a row matching %s:\n%s", want, out.String())
		}
	}
}

func TestReplayFlags(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		args    []string
		want    string // fmt of the selection's interesting fields
		wantErr string
	}{
		{name: "defaults", args: nil, want: "rate=0 since=<nil> until=<nil>"},
		{name: "rate and times", args: []string{"--rate", "100", "--since", "2h", "--until", "2026-03-01T11:30:00Z"}, want: "rate=100 since=2026-03-01 10:00:00 +0000 UTC until=2026-03-01 11:30:00 +0000 UTC"},
		{name: "bad rate", args: []string{"--rate", "0"}, wantErr: "--rate"},
		{name: "bad since", args: []string{"--since", "yesterday"}, wantErr: "--since"},
		{name: "resume with a selection", args: []string{"--resume", "rpl_x", "--subscription", "sub_a"}, wantErr: "--resume takes no --subscription"},
		{name: "resume with a rate", args: []string{"--resume", "rpl_x", "--rate", "max"}, want: "rate=0 since=<nil> until=<nil>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("replay", pflag.ContinueOnError)
			var rf replayFlags
			rf.register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			sel, _, err := rf.selection(fs, "", now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			show := func(p *time.Time) string {
				if p == nil {
					return "<nil>"
				}
				return p.String()
			}
			if got := fmt.Sprintf("rate=%g since=%s until=%s", sel.Rate, show(sel.Since), show(sel.Until)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestReplayProgressDrawsABarOnATerminalAndLinesElsewhere(t *testing.T) {
	eta := 1.5
	st := dlq.Status{ID: "rpl_x", Total: 300, Replayed: 150, RatePerSecond: 100, ETASeconds: &eta}
	var buf bytes.Buffer
	bar := replayProgressOn(&buf, true)
	bar.update(st)
	if got := buf.String(); !strings.HasPrefix(got, "\r[===============               ] 150/300  50.0%  100.0/s  ETA 2s") {
		t.Fatalf("terminal bar %q", got)
	}
	buf.Reset()
	lines := newReplayProgress(&buf) // a buffer is not a terminal
	lines.update(st)
	lines.update(st) // within a second: not printed again
	lines.finish(st)
	if got := buf.String(); got != "progress 150/300 (50.0%)  100.0 records/s  ETA 2s\nprogress 150/300 (50.0%)  100.0 records/s  ETA 2s\n" {
		t.Fatalf("plain lines %q", got)
	}
}
