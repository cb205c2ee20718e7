package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/inspect"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/opsevent"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/webhook/webhooktest"
)

// TestStallIsNeverSilentInSurgeDev is issue 13 as an operator meets it.
// Enrich cannot rebuild the state of partition 1 of commerce.events.raw:
// another producer holds a transaction open on commerce.entities
// partition 1 (what a killed previous owner leaves behind), so enrich
// defers that partition's records batch after batch. With --stall-after
// 2s: one warning names stage, topic, partition, offset and reason;
// /readyz on the ingest and admin listeners answers 503 with the reason;
// surge_stage_stalled_partitions counts it; `surge topics list` marks
// enrich's lag stalled and `describe` says why. When the transaction is
// aborted the partition is rebuilt and drains: a resume is logged, /readyz
// is 200 again, the gauge drops and the mark goes.
func TestStallIsNeverSilentInSurgeDev(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	kafka := config.Kafka{Brokers: brokers, Partitions: 3, ReplicationFactor: 1}
	ctx := context.Background()

	// The transaction left open on commerce.entities partition 1.
	hang, err := kgo.NewClient(kafkax.ClientOpts(kafka, nil, kgo.TransactionalID("test-previous-owner"), kgo.TransactionTimeout(3*time.Minute))...)
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	if err := kafkax.EnsureTopics(ctx, kadm.NewClient(hang), kafka, topics.DefaultDedupWindow); err != nil {
		t.Fatal(err)
	}
	if err := hang.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	snap := kafkax.WithPartition(&kgo.Record{Topic: topics.Entities, Key: []byte("order:half-written"), Value: []byte("x")}, 1)
	if err := hang.ProduceSync(ctx, snap).FirstErr(); err != nil {
		t.Fatal(err)
	}

	core, logs := observer.New(zapcore.InfoLevel)
	dir := t.TempDir()
	cfg := testDevConfig(dir)
	cfg.Brokers = brokers
	cfg.ReplicationFactor = 1
	cfg.Stall.After = 2 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	stack, err := startDev(ctx, cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	get := func(url string) (int, string) {
		t.Helper()
		return kafkatest.MustGet(t, url)
	}
	cli := func(args ...string) []string {
		return append(args, "--brokers", strings.Join(brokers, ","), "--registry", stack.RegistryURL)
	}
	enrichLag := func() inspect.GroupLag {
		list := topicsJSON[struct{ Topics []topicSummary }](t, cli("topics", "list")...).Topics
		g, _ := findGroup(findTopic(t, list, topics.EventsRaw).Groups, topics.GroupEnrich)
		return g
	}
	const stalled, resumed = "stage partition stalled: records wait to be processed and nothing has moved", "stage partition resumed after a stall"

	// An operators' subscription to the stage's operator events.
	ops := webhooktest.NewReceiver(t)
	subscribeAt(t, ops, stack.AdminURL, dir, "ops", "surge.stage.*")

	const n = 60
	postOrders(t, stack.IngestURL, n, 30)
	kafkatest.WaitFor(t, 60*time.Second, "the stall warning", func() bool { return logs.FilterMessage(stalled).Len() > 0 })
	warn := logs.FilterMessage(stalled).All()[0]
	f := warn.ContextMap()
	if warn.Level != zapcore.WarnLevel || f["stage"] != "enrich" || f["topic"] != topics.EventsRaw || f["partition"] != int32(1) ||
		f["offset"] != int64(0) || !strings.Contains(f["reason"].(string), "rebuilding the state of partition 1") {
		t.Errorf("stall warning %s %v", warn.Level, f)
	}
	for _, u := range []string{stack.IngestURL, stack.AdminURL} {
		code, body := get(u + "/readyz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "enrich: commerce.events.raw partition 1 has records to process at offset 0") ||
			!strings.Contains(body, "rebuilding the state of partition 1") {
			t.Errorf("%s/readyz while stalled: %d %q", u, code, body)
		}
	}
	if _, m := get(stack.AdminURL + "/metrics"); !strings.Contains(m, `surge_stage_stalled_partitions{stage="enrich",topic="commerce.events.raw"} 1`) {
		t.Errorf("/metrics has no stalled enrich partition:\n%s", grepLines(m, "surge_stage_stall"))
	}

	// surge topics: the stall report is in commerce.stalls (written
	// asynchronously when the warning was logged).
	kafkatest.WaitFor(t, 30*time.Second, "surge topics to mark enrich's lag stalled", func() bool { return enrichLag().Stalled == 1 })
	if g := enrichLag(); g.Lag == 0 {
		t.Errorf("enrich's lag while stalled: %+v", g)
	}
	out, _, err := runSurge(t, 30*time.Second, cli("topics", "list")...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("surge topics list, stalled:\n%s", out)
	for _, want := range []string{
		`(?m)^commerce\.events\.raw\s+3\s+1\s+delete\s+.*surge-enrich [1-9]\d* \(stalled\)$`,
		`(?m)^\(stalled\): the stage reports records it cannot process`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("surge topics list does not match %s", want)
		}
	}
	d := topicsJSON[topicDescription](t, cli("topics", "describe", topics.EventsRaw)...)
	g, _ := findGroup(d.Groups, topics.GroupEnrich)
	for _, p := range g.Partitions {
		switch {
		case p.Partition == 1 && (p.Stall == nil || p.Lag == 0 || p.Stall.Offset != 0 || p.Stall.Instance != "dev" ||
			!strings.Contains(p.Stall.Reason, "rebuilding the state of partition 1")):
			t.Errorf("partition 1 of enrich's lag: %+v %+v", p, p.Stall)
		case p.Partition != 1 && (p.Stall != nil || p.Lag > 1):
			// (A lag of 1: the stall's own operator event, just written.)
			t.Errorf("partition %d, which is not stalled: %+v %+v", p.Partition, p, p.Stall)
		}
	}
	out, _, err = runSurge(t, 30*time.Second, cli("topics", "describe", topics.EventsRaw)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("surge topics describe commerce.events.raw, stalled:\n%s", out)
	for _, want := range []string{
		`(?m)^group surge-enrich \(the stage that reads this topic.*\): lag [1-9]\d*, stalled on 1 partition$`,
		`(?m)^PARTITION\s+COMMITTED\s+LAG\s+STALLED$`,
		`(?m)^1\s+\S+\s+[1-9]\d*\s+at offset 0 for \d+s \(since \S+ on dev\): rebuilding the state of partition 1`,
		`(?m)^0\s+\d+\s+[01]\s+-$`, // 1: the stall's operator event, just written
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("surge topics describe does not match %s", want)
		}
	}
	if n := logs.FilterMessage(stalled).Len(); n != 1 {
		t.Errorf("%d stall warnings for one stalled partition", n)
	}

	// The previous owner's transaction ends: the state is rebuilt, the
	// partition drains and everything says so.
	if err := hang.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 60*time.Second, "the resume log", func() bool { return logs.FilterMessage(resumed).Len() > 0 })
	kafkatest.WaitFor(t, 60*time.Second, "enrich to catch up", func() bool { g := enrichLag(); return g.Committed && g.Lag == 0 })
	for _, u := range []string{stack.IngestURL, stack.AdminURL} {
		if code, body := get(u + "/readyz"); code != http.StatusOK {
			t.Errorf("%s/readyz after the recovery: %d %q", u, code, body)
		}
	}
	if _, m := get(stack.AdminURL + "/metrics"); !strings.Contains(m, `surge_stage_stalled_partitions{stage="enrich",topic="commerce.events.raw"} 0`) ||
		!strings.Contains(m, `surge_stage_stalls_total{stage="enrich",topic="commerce.events.raw"} 1`) {
		t.Errorf("/metrics after the recovery:\n%s", grepLines(m, "surge_stage_stall"))
	}
	if g := enrichLag(); g.Stalled != 0 {
		t.Errorf("enrich still marked stalled after the recovery: %+v", g)
	}
	out, _, _ = runSurge(t, 30*time.Second, cli("topics", "list")...)
	if strings.Contains(out, "(stalled)") {
		t.Errorf("surge topics list after the recovery:\n%s", out)
	}
	enriched := (&kafkatest.Cluster{Brokers: brokers}).ReadCommitted(t, topics.EventsEnriched)
	if len(enriched) < n {
		t.Errorf("%d enriched events, want at least %d", len(enriched), n)
	}

	// The operators' endpoint heard of it: surge.stage.stalled, then
	// surge.stage.recovered, about the partition, signed.
	const stallKey = topics.GroupEnrich + "/" + topics.EventsRaw + "/1"
	var got []webhookBody
	kafkatest.WaitFor(t, 60*time.Second, "the stage's stalled and recovered operator events", func() bool {
		got = got[:0]
		for _, a := range ops.Arrivals() {
			var b webhookBody
			if err := json.Unmarshal(a.Body, &b); err != nil {
				t.Fatalf("operator event body %s: %v", a.Body, err)
			}
			if b.Entity.Type == opsevent.EntityStage && b.Entity.ID == stallKey {
				got = append(got, b)
			}
		}
		return len(got) >= 2
	})
	ops.CheckSignatures(t)
	if len(got) != 2 || got[0].Type != opsevent.StageStalled || got[1].Type != opsevent.StageRecovered {
		t.Fatalf("operator events about %s: %+v, want stalled then recovered", stallKey, got)
	}
	for i, b := range got {
		d := b.Data
		if d["stage"] != "enrich" || d["topic"] != topics.EventsRaw || d["partition"] != 1.0 || d["offset"] != 0.0 || d["instance"] != "dev" ||
			d["stall_after_ms"] != 2000.0 || !strings.Contains(fmt.Sprint(d["reason"]), "rebuilding the state of partition 1") {
			t.Errorf("%s: data %v", b.Type, d)
		}
		if (i == 1) != (d["recovered_at"] != nil) {
			t.Errorf("%s: recovered_at %v", b.Type, d["recovered_at"])
		}
	}
}

// grepLines returns the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
