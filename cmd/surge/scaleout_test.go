package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/ktable"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/services/ingest"
)

// buildStages compiles the enrich, fanout and dispatcher binaries once.
var buildStages = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "surge-stages")
	if err != nil {
		return "", err
	}
	out, err := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"github.com/surgehq/surge/services/enrich/cmd/enrich",
		"github.com/surgehq/surge/services/fanout/cmd/fanout",
		"github.com/surgehq/surge/services/dispatcher/cmd/dispatcher").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return dir, nil
})

// stageProcess is one stage instance running as its own process.
type stageProcess struct {
	name    string
	cmd     *exec.Cmd
	stderr  *bytes.Buffer
	mu      sync.Mutex
	metrics string // its /metrics, /readyz listener
}

func startStage(t *testing.T, bin, name string, args ...string) *stageProcess {
	t.Helper()
	metrics := freeAddr(t)
	p := &stageProcess{name: name, stderr: &bytes.Buffer{}, metrics: metrics}
	p.cmd = exec.Command(bin, append(args, "--metrics-addr", metrics)...)
	stderr, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _, _ = p.cmd.Process.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + metrics + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60 s; its log:\n%s", name, p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *stageProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return tailOf(p.stderr.String(), 3000)
}

// stagePipeline is Surge with its stages as separate processes: a Kafka
// cluster (kfake in this process, or KAFKA_BROKERS), the registry and
// ingest in this process, one subscription to a signature-checking
// receiver, and a helper to start stage processes against them.
type stagePipeline struct {
	kc        *kafkatest.Cluster
	ingestURL string
	rc        *hookReceiver
	dir       string
	common    []string
	subs      *ktable.Table[event.Subscription]
}

func newStagePipeline(t *testing.T) *stagePipeline { return newStagePipelineRF(t, 1) }

// newStagePipelineRF is newStagePipeline with every topic Surge creates,
// and the registry's, replicated rf times (stages get --replication-factor).
func newStagePipelineRF(t *testing.T, rf int16) *stagePipeline {
	t.Helper()
	dir, err := buildStages()
	if err != nil {
		t.Fatal(err)
	}
	st := kafkatest.NewStage(t, kafkatest.StageOptions{Partitions: 6, ReplicationFactor: rf, DedupWindow: time.Hour})
	kc, regURL, kcfg := st.Cluster, st.RegistryURL, st.Kafka

	// Ingest in process (no test here kills it).
	icfg := ingest.Config{Addr: "127.0.0.1:0", Kafka: kcfg, Registry: config.Registry{URL: regURL}, Log: config.Log{Level: "warn"},
		InstanceID: "scale", MaxBodyBytes: 1 << 20, MaxInFlight: 20000, ProduceTimeout: 30 * time.Second, DedupWindow: time.Hour,
		Writers: 2, MaxTxnRecords: 5000}
	ing, err := ingest.New(context.Background(), icfg, kafkatest.Logger(t, zap.ErrorLevel), ingest.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ing.Close)
	mux := http.NewServeMux()
	ing.Mount(mux)
	ingestSrv := httptest.NewServer(mux)
	t.Cleanup(ingestSrv.Close)

	// One subscription to a receiver that checks every signature.
	rc := newHookReceiver(t)
	sp := &stagePipeline{kc: kc, ingestURL: ingestSrv.URL, rc: rc, dir: dir, subs: st.Subscriptions(),
		common: []string{"--brokers", strings.Join(kc.Brokers, ","), "--topic-prefix", kc.Prefix, "--partitions", "6",
			"--replication-factor", strconv.Itoa(int(rf)), "--registry", regURL, "--session-timeout", "6s", "--log-level", "warn"}}
	sp.subscribe(t, "sub_scale", rc, "s0", nil)
	return sp
}

// subscribe adds a subscription to rc at path /<path>, changed by mut.
func (sp *stagePipeline) subscribe(t *testing.T, id string, rc *hookReceiver, path string, mut func(*event.Subscription)) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	sec, _ := subscription.NewSecret(now)
	sub := event.Subscription{ID: id, URL: rc.URL + "/" + path, EventTypes: []string{"*"},
		Enabled: true, Secrets: []event.Secret{sec}, CreatedAt: now, UpdatedAt: now}
	if mut != nil {
		mut(&sub)
	}
	if err := sp.subs.Put(context.Background(), id, sub); err != nil {
		t.Fatal(err)
	}
	rc.SetSecret(path, sec.Value)
}

// slowSubscription subscribes sub_slow to a receiver of its own at path
// /slow, changed by mut, whose requests pass gate first; gate is given the
// flag that releases the endpoint, returned with the receiver.
func (sp *stagePipeline) slowSubscription(t *testing.T, gate func(*http.Request, *atomic.Bool) bool, mut func(*event.Subscription)) (*hookReceiver, *atomic.Bool) {
	t.Helper()
	slow := newHookReceiver(t)
	released := &atomic.Bool{}
	slow.Gate(func(r *http.Request) bool { return gate(r, released) })
	sp.subscribe(t, "sub_slow", slow, "slow", mut)
	return slow, released
}

// stage starts one stage process (bin: enrich, fanout or dispatcher).
func (sp *stagePipeline) stage(t *testing.T, bin, id string, extra ...string) *stageProcess {
	args := append(append([]string{}, sp.common...), "--instance-id", id)
	return startStage(t, filepath.Join(sp.dir, bin), id, append(args, extra...)...)
}

// exactlyOnce fails unless each of n events was enriched and fanned out
// exactly once, as read_committed readers see it.
func (sp *stagePipeline) exactlyOnce(t *testing.T, n int) {
	t.Helper()
	for _, c := range []struct{ topic, what string }{{topics.EventsEnriched, "enriched"}, {topics.Deliveries, "fanned out"}} {
		seen := map[string]int{}
		for _, r := range sp.kc.ReadCommitted(t, sp.kc.Topic(c.topic)) {
			if id := stream.Header(r, topics.HeaderEventID); id != "" {
				seen[id]++
			}
		}
		if len(seen) != n {
			t.Fatalf("%d distinct events %s, want %d", len(seen), c.what, n)
		}
		for id, k := range seen {
			if k != 1 {
				t.Fatalf("event %s %s %d times", id, c.what, k)
			}
		}
	}
}

// TestScaleOutSurvivesKillingOneInstanceOfEachStage: two instances of
// each of enrich, fanout and dispatcher as separate processes; events
// flow; one instance of each is killed with SIGKILL mid-run. Every event
// is enriched exactly once and fanned out exactly once (read_committed),
// every delivery reaches the endpoint, signed, in order per entity; the
// time the survivors took to take over is reported. Runs on kfake, and on
// the real broker under `make test-kafka`.
func TestScaleOutSurvivesKillingOneInstanceOfEachStage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the stages and runs them as processes")
	}
	n, entities := 20000, 500
	sp := newStagePipeline(t)
	rc := sp.rc
	var procs []*stageProcess
	for _, id := range []string{"a", "b"} {
		procs = append(procs,
			sp.stage(t, "enrich", "enrich-"+id),
			sp.stage(t, "fanout", "fanout-"+id),
			sp.stage(t, "dispatcher", "dispatcher-"+id, "--allow-loopback", "--commit-interval", "200ms"))
	}
	dump := func() string {
		var b bytes.Buffer
		for _, p := range procs {
			fmt.Fprintf(&b, "--- %s\n%s", p.name, p.log())
		}
		return b.String()
	}

	// Post while the pipeline runs, so the kill lands mid-stream.
	start := time.Now()
	posted := make(chan map[string]int64, 1)
	go func() { posted <- postOrdersAsync(t, sp.ingestURL, n, entities) }()
	kafkatest.WaitFor(t, 120*time.Second, "a quarter of the deliveries", func() bool { return rc.distinct() >= n/4 })
	killedAt := time.Now()
	before := rc.distinct()
	for _, p := range procs[3:] { // enrich-b, fanout-b, dispatcher-b
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_, _ = p.cmd.Process.Wait()
	}
	versions := <-posted
	if versions == nil {
		t.FailNow()
	}
	deadline := killedAt.Add(4 * time.Minute)
	for rc.distinct() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d delivered %s after the kill (%d before it)\n%s", rc.distinct(), n, time.Since(killedAt).Round(time.Second), before, dump())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d events: %d delivered before SIGKILL of enrich-b, fanout-b, dispatcher-b (%s in); the survivors finished %s after the kill (group session timeout 6 s); %s",
		n, before, killedAt.Sub(start).Round(time.Millisecond), time.Since(killedAt).Round(time.Millisecond), rc.percentiles())
	rc.check(t, wantPerSub(1, versions))

	// Inside the pipeline, exactly once.
	sp.exactlyOnce(t, n)
	total := rc.Requests()
	t.Logf("enriched once and fanned out once each; %d HTTP requests for %d deliveries (%d repeats after the kill, same webhook-ids)", total, n, total-n)

}

// postOrdersAsync is postOrders for a goroutine other than the test's: it
// reports failures with t.Error and returns nil.
func postOrdersAsync(t *testing.T, ingestURL string, n, entities int) map[string]int64 {
	batches, version := orderBatches(n, entities)
	for _, b := range batches {
		resp, err := http.Post(ingestURL+"/v1/events", "application/json", strings.NewReader(b.body))
		if err != nil {
			t.Error(err)
			return nil
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("POST: %d", resp.StatusCode)
			return nil
		}
	}
	return version
}

// TestDispatcherSurvivesSIGKILL: the dispatcher, as its own process, is
// killed with SIGKILL while it delivers and started again with the same
// instance id: every delivery arrives, in order per entity; repeats carry
// the webhook-id they had.
func TestDispatcherSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the stages and runs them as processes")
	}
	const n, entities = 6000, 50
	sp := newStagePipeline(t)
	sp.stage(t, "enrich", "enrich-1")
	sp.stage(t, "fanout", "fanout-1")
	disp := sp.stage(t, "dispatcher", "dispatcher-1", "--allow-loopback")
	posted := make(chan map[string]int64, 1)
	go func() { posted <- postOrdersAsync(t, sp.ingestURL, n, entities) }()
	kafkatest.WaitFor(t, 120*time.Second, "a quarter of the deliveries", func() bool { return sp.rc.distinct() >= n/4 })
	_ = disp.cmd.Process.Signal(syscall.SIGKILL)
	_, _ = disp.cmd.Process.Wait()
	before := sp.rc.distinct()
	killed := time.Now()
	sp.stage(t, "dispatcher", "dispatcher-1", "--allow-loopback")
	versions := <-posted
	if versions == nil {
		t.FailNow()
	}
	kafkatest.WaitFor(t, 180*time.Second, "every delivery after the restart", func() bool { return sp.rc.distinct() >= n })
	total := sp.rc.Requests()
	t.Logf("%d of %d delivered before SIGKILL; all %s after it; %d requests in all (%d repeats, same webhook-ids)",
		before, n, time.Since(killed).Round(time.Millisecond), total, total-n)
	sp.rc.check(t, wantPerSub(1, versions))
	sp.exactlyOnce(t, n)
}
