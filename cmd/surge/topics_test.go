package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/surgehq/surge/pkg/inspect"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
)

func topicsJSON[T any](t *testing.T, args ...string) T {
	t.Helper()
	out, errOut, err := runSurge(t, 30*time.Second, append(args, "--json")...)
	if err != nil {
		t.Fatalf("surge %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("surge %s --json printed no JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

func findTopic(t *testing.T, list []topicSummary, name string) topicSummary {
	t.Helper()
	for _, s := range list {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("topics list has no %s", name)
	return topicSummary{}
}

func findGroup(gs []inspect.GroupLag, name string) (inspect.GroupLag, bool) {
	for _, g := range gs {
		if g.Group == name {
			return g, true
		}
	}
	return inspect.GroupLag{}, false
}

// TestTopicsListAndDescribe runs surge dev with a paused subscription, so
// the dispatcher holds its deliveries: `surge topics` must show every
// topic, the dispatcher's lag on commerce.deliveries, then the lag gone
// once the subscription is resumed; other topics and other groups'
// offsets show too.
func TestTopicsListAndDescribe(t *testing.T) {
	stack, _, token := startLoadDev(t)
	broker := strings.TrimPrefix(stack.KafkaAddr, "http://")
	topicsCLI := func(args ...string) []string { return append(args, "--brokers", broker) }

	var received atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	sub := adminCall(t, stack.AdminURL, token, http.MethodPost, "/v1/subscriptions", `{"url":"`+hook.URL+`","event_types":["order.*"]}`)
	id := sub["id"].(string)
	adminCall(t, stack.AdminURL, token, http.MethodPatch, "/v1/subscriptions/"+id, `{"paused":true}`)

	// Another application's topic, and its group's offset on a Surge topic.
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "legacy.orders"); err != nil {
		t.Fatal(err)
	}

	const n = 300
	postOrders(t, stack.IngestURL, n, 30)
	var offs kadm.Offsets
	offs.AddOffset(topics.EventsEnriched, 0, 1, -1)
	if err := adm.CommitAllOffsets(ctx, "analytics", offs); err != nil {
		t.Fatal(err)
	}

	// Fanout has written every delivery; the dispatcher holds them.
	kafkatest.WaitFor(t, 60*time.Second, "fanout to catch up", func() bool {
		list := topicsJSON[struct{ Topics []topicSummary }](t, topicsCLI("topics", "list")...).Topics
		g, ok := findGroup(findTopic(t, list, topics.EventsEnriched).Groups, topics.GroupFanout)
		return ok && g.Committed && g.Lag == 0 && findTopic(t, list, topics.Deliveries).EndOffsets >= n
	})
	list := topicsJSON[struct{ Topics []topicSummary }](t, topicsCLI("topics", "list")...).Topics
	for _, l := range topics.Layouts(time.Hour) {
		s := findTopic(t, list, l.Name)
		if !s.Surge || !s.Exists || s.ReplicationFactor != 1 {
			t.Errorf("%s: %+v", l.Name, s)
		}
	}
	raw := findTopic(t, list, topics.EventsRaw)
	if raw.Partitions != 3 || raw.CleanupPolicy != "delete" || raw.EndOffsets < n || raw.SizeBytes == nil || *raw.SizeBytes < 1000 {
		t.Errorf("commerce.events.raw: %+v", raw)
	}
	if g, ok := findGroup(raw.Groups, topics.GroupEnrich); !ok || !g.Stage || g.Lag != 0 {
		t.Errorf("commerce.events.raw's enrich group: %+v", raw.Groups)
	}
	if s := findTopic(t, list, topics.Subscriptions); s.CleanupPolicy != "compact" || s.Partitions != 1 {
		t.Errorf("commerce.subscriptions: %+v", s)
	}
	enriched := findTopic(t, list, topics.EventsEnriched)
	if g, ok := findGroup(enriched.Groups, "analytics"); !ok || g.Stage || !g.Committed || g.Lag < n-1-10 {
		t.Errorf("the analytics group, one record into partition 0 of commerce.events.enriched: %+v", enriched.Groups)
	}
	if s := findTopic(t, list, "legacy.orders"); s.Surge || s.Partitions != 2 {
		t.Errorf("legacy.orders: %+v", s)
	}
	// The dispatcher holds the deliveries on commerce.deliveries, or
	// parks them on commerce.deliveries.retry, depending on timing.
	deliveries := findTopic(t, list, topics.Deliveries)
	held, ok := findGroup(deliveries.Groups, topics.GroupDispatcher)
	parked, ok2 := findGroup(findTopic(t, list, topics.DeliveriesRetry).Groups, topics.GroupDispatcher)
	if !ok || !ok2 || !held.Stage || !parked.Stage || held.Lag+parked.Lag < n {
		t.Fatalf("with a paused subscription: dispatcher %+v on the deliveries, %+v on the retry topic; want lag of at least %d", held, parked, n)
	}
	if received.Load() != 0 {
		t.Fatalf("a paused subscription received %d webhooks", received.Load())
	}

	out, _, err := runSurge(t, 30*time.Second, topicsCLI("topics", "list")...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("surge topics list, deliveries held:\n%s", out)
	for _, want := range []string{
		`(?m)^commerce\.deliveries\s+3\s+1\s+delete\s+[0-9.]+ [KM]iB\s+\d+\s+surge-dispatcher \d+( \(no commits\))?$`,
		`(?m)^commerce\.deliveries(\.retry)?\s+.*surge-dispatcher [1-9]\d*`,
		`(?m)^commerce\.events\.enriched\s+.*surge-fanout 0, analytics \d+$`,
		`(?m)^commerce\.subscriptions\s+1\s+1\s+compact\s`,
		`(?m)^legacy\.orders \*\s+2\s+1\s+delete\s+0 B\s+0\s+-$`,
		`(?m)^\* not a Surge topic$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("surge topics list does not match %s", want)
		}
	}

	out, _, err = runSurge(t, 30*time.Second, topicsCLI("topics", "describe", topics.Deliveries)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("surge topics describe commerce.deliveries, deliveries held:\n%s", out)
	for _, want := range []string{
		`(?m)^topic\s+commerce\.deliveries \(a Surge topic\)$`,
		`(?m)^configs\s+\(all defaults\)$`,
		`(?m)^PARTITION\s+LEADER\s+REPLICAS\s+ISR\s+START\s+END\s+SIZE$`,
		`(?m)^group surge-dispatcher \(the stage that reads this topic.*\): lag \d+$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("surge topics describe does not match %s", want)
		}
	}
	d := topicsJSON[topicDescription](t, topicsCLI("topics", "describe", topics.Deliveries)...)
	g, _ := findGroup(d.Groups, topics.GroupDispatcher)
	if len(d.Partitions) != 3 || len(g.Partitions) != 3 || !g.Stage {
		t.Errorf("describe: %d partitions, dispatcher %+v", len(d.Partitions), g)
	}
	var sum, lagSum int64
	for i, p := range d.Partitions {
		sum += p.End
		lagSum += g.Partitions[i].Lag
		if p.Leader != 0 || len(p.ISR) != 1 || p.SizeBytes == nil {
			t.Errorf("partition %+v", p)
		}
		// Transaction markers take offsets but are no records.
		if c := g.Partitions[i].Committed; c != nil && *c+g.Partitions[i].Lag > p.StableEnd {
			t.Errorf("partition %d: committed %d + lag %d is past the stable end %d", p.Partition, *c, g.Partitions[i].Lag, p.StableEnd)
		}
	}
	if lagSum != g.Lag {
		t.Errorf("the dispatcher's lag is %d, its partitions' add up to %d", g.Lag, lagSum)
	}
	if sum != deliveries.EndOffsets {
		t.Errorf("describe's end offsets sum to %d, list said %d", sum, deliveries.EndOffsets)
	}
	if d := topicsJSON[topicDescription](t, topicsCLI("topics", "describe", topics.Subscriptions)...); d.Configs["cleanup.policy"] != "compact" {
		t.Errorf("commerce.subscriptions configs %v, want cleanup.policy=compact", d.Configs)
	}

	// Resumed, the dispatcher delivers everything and its lag goes to 0
	// on both topics.
	adminCall(t, stack.AdminURL, token, http.MethodPatch, "/v1/subscriptions/"+id, `{"paused":false}`)
	kafkatest.WaitFor(t, 60*time.Second, "the dispatcher to catch up", func() bool {
		if received.Load() < n {
			return false
		}
		list := topicsJSON[struct{ Topics []topicSummary }](t, topicsCLI("topics", "list")...).Topics
		for _, topic := range []string{topics.Deliveries, topics.DeliveriesRetry} {
			if g, _ := findGroup(findTopic(t, list, topic).Groups, topics.GroupDispatcher); !g.Committed || g.Lag != 0 {
				return false
			}
		}
		return true
	})
	out, _, _ = runSurge(t, 30*time.Second, topicsCLI("topics", "list")...)
	t.Logf("surge topics list, all delivered:\n%s", out)
	if received.Load() < n {
		t.Errorf("%d webhooks after the resume, want %d", received.Load(), n)
	}

	if _, _, err := runSurge(t, 30*time.Second, topicsCLI("topics", "describe", "no.such.topic")...); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("describe of a missing topic: %v", err)
	}
}

// TestTopicsPrefix: with --topic-prefix, the prefixed topics are Surge's,
// the stage groups are prefixed too, and describe takes the short name.
func TestTopicsPrefix(t *testing.T) {
	stack, _, _ := startLoadDev(t)
	broker := stack.KafkaAddr
	list := topicsJSON[struct{ Topics []topicSummary }](t, "topics", "list", "--brokers", broker, "--topic-prefix", "staging.").Topics
	missing := findTopic(t, list, "staging."+topics.Deliveries)
	if !missing.Surge || missing.Exists {
		t.Errorf("staging.commerce.deliveries on a cluster without it: %+v", missing)
	}
	if other := findTopic(t, list, topics.Deliveries); other.Surge {
		t.Errorf("with the prefix staging., commerce.deliveries is not Surge's: %+v", other)
	}
	out, _, err := runSurge(t, 30*time.Second, "topics", "list", "--brokers", broker, "--topic-prefix", "staging.")
	if err != nil || !regexp.MustCompile(`(?m)^staging\.commerce\.deliveries\s+\(missing\)\s`).MatchString(out) {
		t.Errorf("list with a missing topic: %v\n%s", err, out)
	}

	// A prefixed cluster: the short name finds the prefixed topic.
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, "staging."+topics.Deliveries); err != nil {
		t.Fatal(err)
	}
	d := topicsJSON[topicDescription](t, "topics", "describe", topics.Deliveries, "--brokers", broker, "--topic-prefix", "staging.")
	if d.Name != "staging."+topics.Deliveries || !d.Surge || len(d.Groups) != 1 || d.Groups[0].Group != "staging."+topics.GroupDispatcher || d.Groups[0].Committed {
		t.Errorf("describe with a prefix: %+v", d)
	}
}

func TestTopicsSizeText(t *testing.T) {
	for _, tc := range []struct {
		in   *int64
		want string
	}{
		{nil, "n/a"},
		{ptrTo(int64(0)), "0 B"},
		{ptrTo(int64(1023)), "1023 B"},
		{ptrTo(int64(1536)), "1.5 KiB"},
		{ptrTo(int64(5 << 30)), "5.0 GiB"},
	} {
		if got := sizeText(tc.in); got != tc.want {
			t.Errorf("sizeText(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestTopicsSizeNotAvailable: a broker that refuses DescribeLogDirs (an
// old one, or one that denies it) leaves sizes n/a; the rest still shows.
func TestTopicsSizeNotAvailable(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.ControlKey(int16(kmsg.DescribeLogDirs), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
		resp.Version = req.GetVersion()
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return resp, nil, true
	})
	broker := c.ListenAddrs()[0]
	out, _, err := runSurge(t, 30*time.Second, "topics", "list", "--brokers", broker)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("surge topics list:\n%s", out)
	for _, want := range []string{`(?m)^orders \*\s+2\s+1\s+delete\s+n/a\s+0\s+-$`, `(?m)^sizes n/a: `, `(?m)^commerce\.events\.raw\s+\(missing\)\s+-\s+-\s+-\s+-\s+-$`, `(?m)^no Surge topic here`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("surge topics list does not match %s", want)
		}
	}
	d := topicsJSON[topicDescription](t, "topics", "describe", "orders", "--brokers", broker)
	if d.SizeBytes != nil || d.Partitions[0].SizeBytes != nil || d.SizeError == "" {
		t.Errorf("describe without log dirs: %+v", d)
	}
}
