package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
)

// envKafkaFaults enables the tests that kill brokers of a scripts/kafka.sh
// cluster (make test-kafka-faults).
const envKafkaFaults = "SURGE_KAFKA_FAULTS"

// TestPipelineSurvivesLosingABroker is issue 8's three-broker fault run:
// on a real 3-node Apache Kafka cluster (scripts/kafka.sh start --brokers
// 3), with every topic at replication factor 3 and min.insync.replicas 2,
// enrich, fanout and the dispatcher run as processes while 20,000 events
// over 500 entities are posted. When a quarter are delivered the node with
// the most pipeline roles (KRaft controller, group and transaction
// coordinators of the stages, leader of commerce.events.raw partitions) is
// killed with SIGKILL, and started again once the pipeline has carried on
// without it. Every delivery must arrive, signed, in order per entity, and
// every event be enriched and fanned out exactly once (read_committed).
// The poster is a well-behaved client: on 503/429 it sends the same batch
// with the same Idempotency-Key again. It logs how long deliveries stalled.
func TestPipelineSurvivesLosingABroker(t *testing.T) {
	if os.Getenv(envKafkaFaults) != "1" {
		t.Skipf("kills Kafka brokers: set %s=1 and %s to a 3-broker scripts/kafka.sh cluster (make test-kafka-faults)", envKafkaFaults, kafkatest.EnvBrokers)
	}
	env := os.Getenv(kafkatest.EnvBrokers)
	if brokers := strings.Split(env, ","); env == "" || len(brokers) != 3 {
		t.Fatalf("%s=1 needs %s to list the 3 brokers of 'scripts/kafka.sh start --brokers 3', got %q", envKafkaFaults, kafkatest.EnvBrokers, env)
	}
	ksh := newKafkaScript(t, env)

	const (
		n, entities = 20000, 500
		rate        = 800 // events/s posted, so posting goes on through the kill
	)
	sp := newStagePipelineRF(t, 3)
	rc := sp.rc
	procs := []*stageProcess{
		sp.stage(t, "enrich", "enrich-1"),
		sp.stage(t, "fanout", "fanout-1"),
		sp.stage(t, "dispatcher", "dispatcher-1", "--allow-loopback"),
	}
	poster := &faultPoster{url: sp.ingestURL, key: sp.kc.Prefix, status: map[string]int{}}
	dump := func() string {
		var b bytes.Buffer
		for _, p := range procs {
			fmt.Fprintf(&b, "--- %s\n%s", p.name, p.log())
		}
		fmt.Fprintf(&b, "--- poster: %s\n--- broker logs: %s/node-*/kafka.log\n", poster.summary(), ksh.state)
		return b.String()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stage logs (tails):\n%s", dump())
		}
	})

	start := time.Now()
	posted := make(chan map[string]int64, 1)
	go func() { posted <- poster.post(t, n, entities, rate) }()
	kafkatest.WaitFor(t, 120*time.Second, "a quarter of the deliveries", func() bool { return rc.distinct() >= n/4 })

	victim, why := pickVictim(t, sp.kc.Brokers, sp.kc.Prefix)
	deliveredAtKill, postedAtKill := rc.distinct(), poster.accepted.Load()
	ksh.run(t, "kill-node", strconv.Itoa(int(victim)))
	killedAt := time.Now()
	restarted := false
	t.Cleanup(func() {
		if !restarted { // leave a manually started cluster whole
			_, _ = ksh.exec("start-node", strconv.Itoa(int(victim)))
		}
	})
	status, _ := ksh.exec("status")
	t.Logf("%s in, %d delivered, %d accepted by ingest: killed node %d with SIGKILL, because it is %s\n%s",
		killedAt.Sub(start).Round(time.Millisecond), deliveredAtKill, postedAtKill, victim, why, strings.TrimSpace(status))

	// Bring it back once the pipeline has carried on without it for a
	// while (past the brokers' 9 s session timeout, which fences it).
	for {
		since := time.Since(killedAt)
		if since >= 20*time.Second && rc.distinct() >= n*6/10 {
			break
		}
		if since >= 120*time.Second {
			t.Logf("only %d of %d delivered 120 s after the kill: starting node %d again anyway", rc.distinct(), n, victim)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	restartAt := time.Now()
	deliveredWhileDown := rc.distinct() - deliveredAtKill
	ksh.run(t, "start-node", strconv.Itoa(int(victim)))
	restarted = true
	backAt := time.Now()
	t.Logf("node %d down for %s (%d delivered meanwhile); start-node took %s",
		victim, restartAt.Sub(killedAt).Round(time.Millisecond), deliveredWhileDown, backAt.Sub(restartAt).Round(time.Millisecond))

	versions := <-posted
	if versions == nil {
		t.Fatal("posting failed")
	}
	deadline := killedAt.Add(5 * time.Minute)
	for rc.distinct() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d delivered %s after the kill (%d before it)", rc.distinct(), n, time.Since(killedAt).Round(time.Second), deliveredAtKill)
		}
		time.Sleep(50 * time.Millisecond)
	}
	total := time.Since(start)
	if deliveredWhileDown == 0 {
		t.Errorf("nothing was delivered during the %s node %d was down", restartAt.Sub(killedAt).Round(time.Second), victim)
	}

	arrivals := rc.arrivals()
	gapKill := longestGap(arrivals, killedAt, restartAt)
	gapBack := longestGap(arrivals, restartAt, backAt.Add(30*time.Second))
	var gapBefore gap // the longest while all three brokers ran
	for i := 1; i < len(arrivals) && !arrivals[i].After(killedAt); i++ {
		if g := (gap{arrivals[i-1], arrivals[i]}); g.len() > gapBefore.len() {
			gapBefore = g
		}
	}
	requests := rc.Requests()
	t.Logf("stall after killing node %d: deliveries stopped %s after the kill and resumed %s after it (longest gap %s; longest before it %s)",
		victim, gapKill.from.Sub(killedAt).Round(time.Millisecond), gapKill.to.Sub(killedAt).Round(time.Millisecond),
		gapKill.len().Round(time.Millisecond), gapBefore.len().Round(time.Millisecond))
	var long []string
	for i := 1; i < len(arrivals); i++ {
		if g := (gap{arrivals[i-1], arrivals[i]}); g.len() >= 3*time.Second {
			long = append(long, fmt.Sprintf("%s at kill%+.1fs", g.len().Round(100*time.Millisecond), g.from.Sub(killedAt).Seconds()))
		}
	}
	t.Logf("gaps of 3 s or more between deliveries: %s", strings.Join(long, ", "))
	t.Logf("around start-node: longest gap %s (from %s after start-node was run)",
		gapBack.len().Round(time.Millisecond), gapBack.from.Sub(restartAt).Round(time.Millisecond))
	t.Logf("%d events delivered in %s in all (posting took %s); %d HTTP requests (%d repeats, same webhook-ids); ingest-to-delivery %s; poster: %s",
		n, total.Round(time.Millisecond), poster.took().Round(time.Millisecond), requests, requests-n, rc.percentiles(), poster.summary())

	if t.Failed() {
		return
	}
	rc.check(t, wantPerSub(1, versions))
	sp.exactlyOnce(t, n)
	t.Logf("signatures verify, order per entity holds, each event enriched once and fanned out once (read_committed)")
}

// kafkaScript runs scripts/kafka.sh on the cluster the test uses.
type kafkaScript struct {
	path, state string
}

// newKafkaScript finds scripts/kafka.sh and checks it controls the cluster
// in KAFKA_BROKERS (same SURGE_KAFKA_STATE and KAFKA_PORT as its start).
func newKafkaScript(t *testing.T, brokers string) *kafkaScript {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "scripts", "kafka.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("scripts/kafka.sh: %v", err)
	}
	ks := &kafkaScript{path: path, state: os.Getenv("SURGE_KAFKA_STATE")}
	if ks.state == "" {
		ks.state = "/tmp/surge-kafka"
	}
	out, err := ks.exec("bootstrap")
	if got := strings.TrimSpace(out); err != nil || got != brokers {
		t.Fatalf("scripts/kafka.sh bootstrap (SURGE_KAFKA_STATE=%q KAFKA_PORT=%q) gives %q (%v), not %s=%s: "+
			"export the SURGE_KAFKA_STATE and KAFKA_PORT the cluster was started with, all 3 nodes running",
			os.Getenv("SURGE_KAFKA_STATE"), os.Getenv("KAFKA_PORT"), got, err, kafkatest.EnvBrokers, brokers)
	}
	return ks
}

// exec runs the script and returns its stdout; err carries its stderr.
func (ks *kafkaScript) exec(args ...string) (string, error) {
	cmd := exec.Command(ks.path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("scripts/kafka.sh %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (ks *kafkaScript) run(t *testing.T, args ...string) {
	t.Helper()
	if _, err := ks.exec(args...); err != nil {
		t.Fatal(err)
	}
}

// pickVictim returns the broker whose loss hurts the pipeline most, cheaply
// judged: the one holding the most of these roles — active KRaft
// controller, group coordinator of a stage's group, transaction
// coordinator of a stage's or ingest's transactional id — then leading the
// most commerce.events.raw partitions. It also describes every node's roles.
func pickVictim(t *testing.T, brokers []string, prefix string) (int32, string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw := prefix + topics.EventsRaw
	md, err := adm.Metadata(ctx, raw)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	roles := map[int32][]string{}
	leads := map[int32]int{}
	for _, b := range md.Brokers {
		roles[b.NodeID] = nil
	}
	for _, p := range md.Topics[raw].Partitions {
		leads[p.Leader]++
	}

	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, rt)
	if resp, err := req.RequestWith(ctx, cl); err == nil && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 {
		if id := resp.Topics[0].Partitions[0].LeaderID; id >= 0 {
			roles[id] = append(roles[id], "the active controller")
		}
	} else {
		t.Logf("DescribeQuorum: %v (the controller is not taken into account)", err)
	}
	for _, c := range []struct {
		what string
		resp kadm.FindCoordinatorResponses
	}{
		{"group coordinator", adm.FindGroupCoordinators(ctx, prefix+topics.GroupEnrich, prefix+topics.GroupFanout, prefix+topics.GroupDispatcher)},
		{"transaction coordinator", adm.FindTxnCoordinators(ctx, prefix+"surge-enrich-enrich-1", prefix+"surge-fanout-fanout-1",
			prefix+"surge-ingest-scale-0", prefix+"surge-ingest-scale-1")},
	} {
		names := make([]string, 0, len(c.resp))
		for name := range c.resp {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			r := c.resp[name]
			if r.Err != nil {
				t.Logf("finding the %s of %s: %v", c.what, name, r.Err)
				continue
			}
			roles[r.NodeID] = append(roles[r.NodeID], c.what+" of "+strings.TrimPrefix(name, prefix))
		}
	}

	ids := make([]int32, 0, len(roles))
	for id := range roles {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i], ids[j]
		if len(roles[a]) != len(roles[b]) {
			return len(roles[a]) > len(roles[b])
		}
		if leads[a] != leads[b] {
			return leads[a] > leads[b]
		}
		return a < b
	})
	describe := func(id int32) string {
		r := append(append([]string{}, roles[id]...), fmt.Sprintf("leader of %d/%d %s partitions", leads[id], len(md.Topics[raw].Partitions), topics.EventsRaw))
		return strings.Join(r, ", ")
	}
	var others []string
	for _, id := range ids[1:] {
		others = append(others, fmt.Sprintf("node %d: %s", id, describe(id)))
	}
	return ids[0], describe(ids[0]) + " (" + strings.Join(others, "; ") + ")"
}

// faultPoster posts what postOrdersAsync posts (n order events over
// entities, batches of 100, entity versions counted), paced to a rate so
// the posting spans the broker loss, and retries like a client should: a
// batch answered 503 or 429, or whose request failed, is sent again after
// Retry-After with the same body and the same Idempotency-Key header.
// Ingest keys each item of a batch as "<key>:<index>" in its dedup index,
// written in the event's own transaction, so a batch that was committed
// although its answer was a 503 is answered from the index, not written
// twice.
type faultPoster struct {
	url, key string

	accepted atomic.Int64 // events answered 202
	retries  atomic.Int64 // batches sent again
	replayed atomic.Int64 // events a retry found already accepted ("duplicates" in the 202)

	mu      sync.Mutex
	status  map[string]int // non-202 outcomes
	started time.Time
	ended   time.Time
}

func (p *faultPoster) post(t *testing.T, n, entities, rate int) map[string]int64 {
	p.mu.Lock()
	p.started = time.Now()
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.ended = time.Now()
		p.mu.Unlock()
	}()
	batches, version := orderBatches(n, entities)
	sent := 0
	for j, b := range batches {
		if err := p.send(b.body, fmt.Sprintf("%sbatch-%d", p.key, j), b.events); err != nil {
			t.Error(err)
			return nil
		}
		sent += b.events
		if wait := time.Until(p.started.Add(time.Duration(sent) * time.Second / time.Duration(rate))); wait > 0 {
			time.Sleep(wait)
		}
	}
	return version
}

// send posts one batch until it is accepted (3 minutes at most).
func (p *faultPoster) send(body, key string, events int) error {
	deadline := time.Now().Add(3 * time.Minute)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			p.retries.Add(1)
		}
		req, err := http.NewRequest(http.MethodPost, p.url+"/v1/events", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		outcome, wait := "", time.Second
		if err != nil {
			outcome = "error"
		} else {
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusAccepted:
				var a struct {
					Duplicates int `json:"duplicates"`
				}
				_ = json.Unmarshal(msg, &a)
				p.accepted.Add(int64(events))
				p.replayed.Add(int64(a.Duplicates))
				return nil
			case http.StatusServiceUnavailable, http.StatusTooManyRequests:
				outcome = strconv.Itoa(resp.StatusCode)
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
					wait = time.Duration(s) * time.Second
				}
			default:
				return fmt.Errorf("POST %s: %d %s", key, resp.StatusCode, msg)
			}
		}
		p.mu.Lock()
		p.status[outcome]++
		p.mu.Unlock()
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("POST %s: not accepted after %d attempts in 3 minutes (last: %s %v)", key, attempt+1, outcome, err)
		}
		time.Sleep(wait)
	}
}

func (p *faultPoster) took() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ended.Sub(p.started)
}

func (p *faultPoster) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var outcomes []string
	for k, v := range p.status {
		outcomes = append(outcomes, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(outcomes)
	if len(outcomes) == 0 {
		outcomes = []string{"none"}
	}
	return fmt.Sprintf("%d events accepted, %d batches re-sent (failed attempts: %s), %d events found already accepted on a retry",
		p.accepted.Load(), p.retries.Load(), strings.Join(outcomes, " "), p.replayed.Load())
}

// arrivals are the first-arrival times of every webhook-id, sorted.
func (rc *hookReceiver) arrivals() []time.Time {
	first := rc.FirstArrivals()
	out := make([]time.Time, 0, len(first))
	for _, at := range first {
		out = append(out, at)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

type gap struct{ from, to time.Time }

func (g gap) len() time.Duration { return g.to.Sub(g.from) }

// longestGap is the longest time between consecutive deliveries that
// overlaps [from, to].
func longestGap(arrivals []time.Time, from, to time.Time) gap {
	var best gap
	for i := 1; i < len(arrivals); i++ {
		g := gap{arrivals[i-1], arrivals[i]}
		if g.to.Before(from) || g.from.After(to) {
			continue
		}
		if g.len() > best.len() {
			best = g
		}
	}
	return best
}
