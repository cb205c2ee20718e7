package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/dlq"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
)

func testDevConfig(dir string) devConfig {
	return devConfig{
		DataDir:      dir,
		IngestAddr:   "127.0.0.1:0",
		AdminAddr:    "127.0.0.1:0",
		KafkaAddr:    "127.0.0.1:0",
		RegistryAddr: "127.0.0.1:0",
		Partitions:   3,
		Log:          config.Log{Level: "warn"},
		Stall:        config.Stall{After: config.DefaultStallAfter},
		// As `surge dev` runs by default.
		DLQAlertEvery: dlq.DefaultAlertEvery,
	}
}

// startTestDev runs `surge dev` with testDevConfig in a fresh data
// directory, logging at level and above into t, until the test ends; it
// returns the stack and the data directory.
func startTestDev(t *testing.T, level zapcore.Level) (*devStack, string) {
	t.Helper()
	dir := t.TempDir()
	stack, err := startDev(context.Background(), testDevConfig(dir), zaptest.NewLogger(t, zaptest.Level(level)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	waitConsuming(t, stack)
	return stack, dir
}

// TestDevIsReadyOnceEveryStageOwnsItsPartitions: startDev returns, and
// /readyz answers 200, only once enrich, fanout and the dispatcher each
// own their input partitions (here all 3 of each, as their groups' only
// members) and the broker describes every group Stable with them, so the
// first event after `surge dev` says ready waits for no rebalance. The
// cluster holds enrich's first SyncGroup answer for 1.5 s: a slow first
// assignment, as a loaded machine sees it.
func TestDevIsReadyOnceEveryStageOwnsItsPartitions(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	var held atomic.Bool
	cluster.ControlKey(kmsg.SyncGroup.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if req.(*kmsg.SyncGroupRequest).Group == topics.GroupEnrich && !held.Swap(true) {
			cluster.SleepControl(func() { time.Sleep(1500 * time.Millisecond) })
		}
		return nil, nil, false
	})
	cfg := testDevConfig(t.TempDir())
	cfg.Brokers = cluster.ListenAddrs()
	stack, err := startDev(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	if !held.Load() {
		t.Error("enrich's SyncGroup was not held")
	}
	for name, owned := range map[string]int{"enrich": stack.enrich.Owned(), "fanout": stack.fanout.Owned(), "dispatcher": stack.dispatcher.Owned()} {
		if owned != 3 {
			t.Errorf("%s owns %d partitions when surge dev is ready, want 3", name, owned)
		}
	}
	if !stagesAssigned(t, stack) {
		t.Errorf("surge dev is ready before the broker has every stage's group assigned:\n%s", groupDiagnosis(stack.KafkaAddr))
	}
	for _, u := range []string{stack.IngestURL, stack.AdminURL} {
		if code, body := kafkatest.MustGet(t, u+"/readyz"); code != http.StatusOK {
			t.Errorf("%s/readyz: %d %q", u, code, body)
		}
	}
}

// jsonRequest is a request to url with body of the given content type.
func jsonRequest(t testing.TB, method, url, contentType, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return req
}

// sendJSON sends req and returns the status and the JSON object answered
// (nil when the answer is not one).
func sendJSON(t testing.TB, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// postEvent POSTs body to ingest's /v1/events with the extra headers.
func postEvent(t *testing.T, url, body string, headers map[string]string) (int, map[string]any) {
	t.Helper()
	req := jsonRequest(t, http.MethodPost, url+"/v1/events", "application/json", body)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return sendJSON(t, req)
}

// TestDevQuickstart is the README's 5-minute tour: surge dev, one curl,
// surge tap shows the event decoded with key order:100012.
func TestDevQuickstart(t *testing.T) {
	stack, dir := startTestDev(t, zap.WarnLevel)

	for _, u := range []string{stack.IngestURL, stack.AdminURL} {
		resp, err := http.Get(u + "/readyz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s/readyz: %v %v", u, resp, err)
		}
		resp.Body.Close()
	}
	if tok, err := os.ReadFile(filepath.Join(dir, "admin-token")); err != nil || len(bytes.TrimSpace(tok)) < 20 {
		t.Fatalf("admin token file: %q %v", tok, err)
	}

	// Exactly the README's curl -d, which sends a form content type.
	status, body := postEvent(t, stack.IngestURL,
		`{"type":"order.placed","entity":{"type":"order","id":"100012"},"data":{"total":"59.90"}}`,
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if status != http.StatusAccepted {
		t.Fatalf("POST: %d %v", status, body)
	}

	// /metrics on the ingest listener counts it, and exports the Kafka
	// clients' own metrics.
	metrics := httpGetBody(t, stack.IngestURL+"/metrics")
	for _, want := range []string{"surge_ingest_events_accepted_total 1", "surge_kafka_"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := execCLI(ctx, &out, os.Stderr, "tap", topics.EventsRaw, "--from-beginning", "--max", "1",
		"--brokers", stack.KafkaAddr, "--registry", stack.RegistryURL); err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Topic   string            `json:"topic"`
		Key     string            `json:"key"`
		Headers map[string]string `json:"headers"`
		Value   map[string]any    `json:"value"`
	}
	if err := json.Unmarshal(out.Bytes(), &rec); err != nil {
		t.Fatalf("tap printed %q: %v", out.String(), err)
	}
	if rec.Key != "order:100012" || rec.Topic != topics.EventsRaw {
		t.Errorf("tap: key %q topic %q", rec.Key, rec.Topic)
	}
	if rec.Value["id"] != body["id"] || rec.Value["type"] != "order.placed" {
		t.Errorf("tap value %v, want id %v", rec.Value, body["id"])
	}
	if !strings.Contains(fmt.Sprint(rec.Value["data"]), "59.90") {
		t.Errorf("tap value data %v", rec.Value["data"])
	}

	// Enrich picks it up: the enriched topic has the whole entity and
	// version 1.
	out.Reset()
	if err := execCLI(ctx, &out, os.Stderr, "tap", topics.EventsEnriched, "--from-beginning", "--max", "1",
		"--brokers", stack.KafkaAddr, "--registry", stack.RegistryURL); err != nil {
		t.Fatal(err)
	}
	var enriched struct {
		Key   string         `json:"key"`
		Value map[string]any `json:"value"`
	}
	if err := json.Unmarshal(out.Bytes(), &enriched); err != nil {
		t.Fatalf("tap printed %q: %v", out.String(), err)
	}
	entity, _ := enriched.Value["entity"].(map[string]any)
	if enriched.Key != "order:100012" || enriched.Value["id"] != body["id"] || fmt.Sprint(entity["version"]) != "1" ||
		!strings.Contains(fmt.Sprint(enriched.Value["data"]), "59.90") {
		t.Errorf("enriched record %s", out.String())
	}

	// --exit-at-end returns by itself on a topic that is not growing.
	out.Reset()
	if err := execCLI(ctx, &out, os.Stderr, "tap", topics.EventsRaw, "--from-beginning", "--exit-at-end",
		"--brokers", stack.KafkaAddr, "--registry", stack.RegistryURL); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Errorf("--exit-at-end printed %d records, want 1", n)
	}
}

// buildSurge compiles the surge binary once for the subprocess tests.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "surge-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "surge")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// devProcess is `surge dev` as a separate process.
type devProcess struct {
	cmd                 *exec.Cmd
	ingestURL, registry string
	kafka               string
	stderr              *bytes.Buffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	// Let the kernel pick, then release: good enough on loopback in tests.
	l, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func startDevProcess(t *testing.T, dataDir string, addrs [4]string) *devProcess {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	p := &devProcess{stderr: &bytes.Buffer{}}
	p.cmd = exec.Command(bin, "dev", "--data-dir", dataDir,
		"--ingest-addr", addrs[0], "--admin-addr", addrs[1], "--kafka-addr", addrs[2], "--registry-addr", addrs[3],
		"--partitions", "3", "--log-level", "warn")
	stdout, _ := p.cmd.StdoutPipe()
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "surge dev is ready") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatalf("surge dev did not start: %s", p.stderr)
	}
	p.ingestURL, p.kafka, p.registry = "http://"+addrs[0], addrs[2], "http://"+addrs[3]
	return p
}

func (p *devProcess) kill9() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_, _ = p.cmd.Process.Wait()
}

// TestDevSurvivesSIGKILL fires a burst of events at a `surge dev`
// process, kills it with SIGKILL in the middle, restarts it on the same
// data dir, and checks that every event that got a 202 is on the raw
// topic exactly once, and that an idempotency key used before the kill is
// still remembered after it.
func TestDevSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs surge dev as a process")
	}
	dir := t.TempDir()
	addrs := [4]string{freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)}
	p := startDevProcess(t, dir, addrs)

	status, keyed := postEvent(t, p.ingestURL, `{"type":"order.placed","entity":{"type":"order","id":"1"}}`,
		map[string]string{"Idempotency-Key": "before-the-kill"})
	if status != 202 {
		t.Fatalf("keyed POST: %d %v", status, keyed)
	}

	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		wg       sync.WaitGroup
		stop     = make(chan struct{})
		client   = &http.Client{Timeout: 5 * time.Second}
		attempts int
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"type":"order.updated","entity":{"type":"order","id":"%d-%d"},"data":{"n":%d}}`, w, i, i)
				resp, err := client.Post(p.ingestURL+"/v1/events", "application/json", strings.NewReader(body))
				mu.Lock()
				attempts++
				mu.Unlock()
				if err != nil {
					continue // the process is gone: no answer, no promise
				}
				var out map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&out)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 202 {
					mu.Lock()
					acked[out["id"].(string)] = true
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	p.kill9()
	close(stop)
	wg.Wait()
	if len(acked) < 100 {
		t.Fatalf("only %d events acknowledged before the kill (of %d attempts)", len(acked), attempts)
	}

	p = startDevProcess(t, dir, addrs)
	defer p.kill9()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka), kgo.ConsumeTopics(topics.EventsRaw),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]int{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		f := cl.PollFetches(ctx)
		cancel()
		if f.NumRecords() == 0 {
			break
		}
		f.EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key == topics.HeaderEventID {
					seen[string(h.Value)]++
				}
			}
		})
	}
	for id := range acked {
		if seen[id] != 1 {
			t.Errorf("acknowledged event %s is on the topic %d times", id, seen[id])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s is on the topic %d times", id, n)
		}
	}
	t.Logf("%d acknowledged before SIGKILL, %d on the topic after restart", len(acked), len(seen))

	status, again := postEvent(t, p.ingestURL, `{"type":"order.placed","entity":{"type":"order","id":"1"}}`,
		map[string]string{"Idempotency-Key": "before-the-kill"})
	if status != 202 || again["id"] != keyed["id"] {
		t.Fatalf("idempotency key after SIGKILL: %d %v, want id %v", status, again, keyed["id"])
	}
}

func netListen() (interface {
	Addr() net.Addr
	Close() error
}, error) {
	return net.Listen("tcp", "127.0.0.1:0")
}

// TestDevTakenPortFailsClearlyAndReleasesTheOthers: a port already in use
// is named in the error, and the ports claimed before it are free again.
func TestDevTakenPortFailsClearlyAndReleasesTheOthers(t *testing.T) {
	taken, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	c := testDevConfig(t.TempDir())
	c.IngestAddr, c.RegistryAddr = freeAddr(t), freeAddr(t)
	c.AdminAddr = taken.Addr().String()
	if _, err := startDev(context.Background(), c, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "--admin-addr") {
		t.Fatalf("error %v, want one naming --admin-addr", err)
	}
	for _, addr := range []string{c.IngestAddr, c.RegistryAddr} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s is still held after the failed start: %v", addr, err)
		}
		ln.Close()
	}
}
