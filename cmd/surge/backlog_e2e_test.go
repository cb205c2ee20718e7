package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/surgehq/surge/pkg/backlog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
)

// TestBacklogIsVisibleToAnOperator is issue 20's "backpressure an operator
// can see", with the stages as processes and `surge admin` in process: a
// slow endpoint (a second per request) next to a fast one. While the slow
// one is behind, `surge subs get` shows its backlog (in memory, in the
// retry topic, the oldest's age, deliveries/s) and the fast one's "none",
// and `surge topics list` lists it. A SIGKILLed dispatcher's last report
// stays in commerce.backlog but stops counting: only its successor is
// shown. A dispatcher stopped with SIGTERM leaves tombstones. When the
// endpoint recovers and the backlog drains, the running dispatcher writes
// a tombstone and both commands read "none", though the killed instance's
// report is still in the topic.
func TestBacklogIsVisibleToAnOperator(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the stages as processes")
	}
	const events, entities = 1500, 10
	sp := newStagePipeline(t) // sub_scale → sp.rc is the fast endpoint
	slow, released := sp.slowSubscription(t, answerAfterASecond, func(s *event.Subscription) {
		s.MaxInFlight = entities
		s.TimeoutMS = 5000
	})
	sp.stage(t, "enrich", "enrich-1")
	sp.stage(t, "fanout", "fanout-1")
	const every = "300ms" // stale after 1.2 s
	dispatcher := func(id string) *stageProcess {
		return sp.stage(t, "dispatcher", id, "--allow-loopback", "--backlog-every", every)
	}
	d1 := dispatcher("dispatcher-1")
	adminAddr, token := sp.startAdmin(t)

	subsGet := func(id string, asJSON bool) string {
		t.Helper()
		args := []string{"subs", "get", id, "--admin-addr", adminAddr, "--admin-token", token}
		if asJSON {
			args = append(args, "--json")
		}
		out, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("surge %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	backlogOf := func(id string) backlog.Summary {
		t.Helper()
		var v struct {
			Backlog *backlog.Summary `json:"backlog"`
		}
		if err := json.Unmarshal([]byte(subsGet(id, true)), &v); err != nil || v.Backlog == nil {
			t.Fatalf("surge subs get %s --json: no backlog (%v)", id, err)
		}
		return *v.Backlog
	}
	instances := func(b backlog.Summary) []string {
		var out []string
		for _, in := range b.Instances {
			out = append(out, in.Instance)
		}
		return out
	}
	topicsArgs := []string{"topics", "list", "--brokers", strings.Join(sp.kc.Brokers, ","), "--topic-prefix", sp.kc.Prefix,
		"--registry", sp.registryURL()}
	topicsList := func(asJSON bool) string {
		t.Helper()
		args := topicsArgs
		if asJSON {
			args = append(slices.Clone(args), "--json")
		}
		out, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("surge topics list: %v\n%s", err, out)
		}
		return out
	}
	// lastValues is commerce.backlog as Kafka holds it: the last record
	// of each key, true for a report, false for a tombstone.
	lastValues := func() map[string]bool {
		out := map[string]bool{}
		for _, r := range sp.kc.ReadCommitted(t, sp.kc.Topic(topics.Backlog)) {
			out[string(r.Key)] = r.Value != nil
		}
		return out
	}

	batches, _ := orderBatches(events, entities)
	for _, b := range batches {
		if status, body := postEvent(t, sp.ingestURL, b.body, nil); status != http.StatusAccepted {
			t.Fatalf("POST: %d %v", status, body)
		}
	}

	// While the endpoint is slow: a backlog with an age and a rate, on
	// dispatcher-1, in memory and in the retry topic (32 a key stay in
	// memory, the rest spill).
	var b backlog.Summary
	kafkatest.WaitFor(t, 2*time.Minute, "surge subs get to show sub_slow's backlog with an age and a rate", func() bool {
		b = backlogOf("sub_slow")
		return b.InMemory > 0 && b.InRetryTopic > 0 && b.OldestAgeSeconds != nil && *b.OldestAgeSeconds > 0 &&
			b.DeliveriesPerSecond > 0 && slices.Equal(instances(b), []string{"dispatcher-1"})
	})
	t.Logf("sub_slow's backlog while slow: %s", b.Text())
	out := subsGet("sub_slow", false)
	for _, want := range []string{
		`(?m)^BACKLOG\s+[1-9]\d* waiting: [1-9]\d* in memory, [1-9]\d* in the retry topic$`,
		`(?m)^OLDEST\s+\d\S* \(20\d\d-`,
		`(?m)^DELIVERIES/S\s+\d+\.\d$`,
		`(?m)^INSTANCES\s+dispatcher-1: `,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("surge subs get sub_slow does not match %s:\n%s", want, out)
		}
	}
	kafkatest.WaitFor(t, time.Minute, "the fast endpoint to get every event", func() bool { return sp.rc.distinct() >= events })
	kafkatest.WaitFor(t, 30*time.Second, "sub_scale's backlog to read none", func() bool {
		return regexp.MustCompile(`(?m)^BACKLOG\s+none$`).MatchString(subsGet("sub_scale", false))
	})
	if n := slow.distinct(); n > events/2 {
		t.Fatalf("the slow endpoint already got %d of %d: the test shows nothing", n, events)
	}

	out = topicsList(false)
	if !regexp.MustCompile(`(?m)^sub_slow\s+[1-9]\d*\s+[1-9]\d*\s+[1-9]\d*\s+\d\S*\s+\d+\.\d\s+dispatcher-1$`).MatchString(out) {
		t.Errorf("surge topics list has no backlog line for sub_slow on dispatcher-1:\n%s", out)
	}
	if strings.Contains(out, "sub_scale") {
		t.Errorf("surge topics list shows a backlog for the fast subscription:\n%s", out)
	}
	var listed struct{ Backlog []backlog.Summary }
	if err := json.Unmarshal([]byte(topicsList(true)), &listed); err != nil || len(listed.Backlog) != 1 ||
		listed.Backlog[0].Subscription != "sub_slow" || listed.Backlog[0].Waiting() == 0 {
		t.Errorf("surge topics list --json backlog %+v (%v), want sub_slow's", listed.Backlog, err)
	}

	// SIGKILL: dispatcher-1's last report stays in the topic, and stops
	// counting once it is stale; its successor's report is shown.
	_ = d1.cmd.Process.Signal(syscall.SIGKILL)
	_, _ = d1.cmd.Process.Wait()
	if !lastValues()["sub_slow/dispatcher-1"] {
		t.Fatal("the killed dispatcher's report is not in commerce.backlog: the test shows nothing")
	}
	d2 := dispatcher("dispatcher-2")
	kafkatest.WaitFor(t, 2*time.Minute, "surge subs get to show only dispatcher-2's report", func() bool {
		b = backlogOf("sub_slow")
		return b.Waiting() > 0 && slices.Equal(instances(b), []string{"dispatcher-2"})
	})
	if !lastValues()["sub_slow/dispatcher-1"] {
		t.Error("the killed dispatcher's report left commerce.backlog: the staleness rule was not what hid it")
	}
	if out := topicsList(false); strings.Contains(out, "dispatcher-1") {
		t.Errorf("surge topics list shows the killed dispatcher-1's stale report:\n%s", out)
	}

	// SIGTERM: a clean stop leaves a tombstone for what it reported.
	_ = d2.cmd.Process.Signal(syscall.SIGTERM)
	_, _ = d2.cmd.Process.Wait()
	if v, ok := lastValues()["sub_slow/dispatcher-2"]; !ok || v {
		t.Errorf("after dispatcher-2's clean stop its key in commerce.backlog holds a report (%v, written %v), want a tombstone", v, ok)
	}

	// The endpoint recovers: the backlog drains and reads none, by the
	// running dispatcher's tombstone.
	dispatcher("dispatcher-3")
	kafkatest.WaitFor(t, time.Minute, "dispatcher-3 to report sub_slow's backlog", func() bool {
		return slices.Equal(instances(backlogOf("sub_slow")), []string{"dispatcher-3"})
	})
	released.Store(true)
	kafkatest.WaitFor(t, 2*time.Minute, "every delivery to the slow endpoint", func() bool { return slow.distinct() >= events })
	kafkatest.WaitFor(t, 30*time.Second, "surge subs get sub_slow to read none", func() bool {
		return regexp.MustCompile(`(?m)^BACKLOG\s+none$`).MatchString(subsGet("sub_slow", false))
	})
	if b := backlogOf("sub_slow"); !b.None() || b.Instances == nil {
		t.Errorf("surge subs get --json after the drain: %+v, want no instances", b)
	}
	if out := topicsList(false); !strings.Contains(out, "\nbacklog: none") {
		t.Errorf("surge topics list after the drain does not say backlog: none:\n%s", out)
	}
	last := lastValues()
	if v, ok := last["sub_slow/dispatcher-3"]; !ok || v {
		t.Errorf("after the drain dispatcher-3's key holds a report (%v, written %v), want a tombstone", v, ok)
	}
	if !last["sub_slow/dispatcher-1"] {
		t.Error("the killed dispatcher's report left commerce.backlog: \"none\" does not show the staleness rule")
	}
}

// registryURL is the registry the stages are given.
func (sp *stagePipeline) registryURL() string {
	i := slices.Index(sp.common, "--registry")
	return sp.common[i+1]
}

// startAdmin runs `surge admin` in process against the pipeline's Kafka
// and registry until the test ends, and returns its address and token.
func (sp *stagePipeline) startAdmin(t *testing.T) (addr, token string) {
	t.Helper()
	addr, token = freeAddr(t), "backlog-test-token-0123456789"
	var c adminConfig
	fs := pflag.NewFlagSet("admin", pflag.ContinueOnError)
	c.Flags(fs)
	args := []string{"--admin-addr", addr, "--admin-token", token, "--allow-loopback",
		"--brokers", strings.Join(sp.kc.Brokers, ","), "--topic-prefix", sp.kc.Prefix, "--registry", sp.registryURL(),
		"--partitions", "6", "--replication-factor", "1"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runAdmin(ctx, c, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))) }()
	t.Cleanup(func() { cancel(); <-done })
	kafkatest.WaitFor(t, 30*time.Second, "the admin API to answer", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return addr, token
}
