package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/webhook/webhooktest"
)

// TestDevSurvivesFiveSIGKILLs is what `make run` promises, tried the way a
// crash tries it: the whole `surge dev` process (embedded cluster,
// registry and every stage) is SIGKILLed five times at random moments
// while posters send single and batched events for 48 entities, and is
// started again on the same data dir each time. Afterwards every
// acknowledged event has been delivered to the subscription, in order per
// entity, a repeat only ever with the same webhook-id; idempotency keys
// from before the first kill are still honoured; and no stage has lag
// left on any topic.
//
// SURGE_KILL_SEED=N replays the kill moments and load of a failed run
// (the seed is logged).
func TestDevSurvivesFiveSIGKILLs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs surge dev as a process, killed five times")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SURGE_KILL_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("SURGE_KILL_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	dir := t.TempDir()
	addrs := [4]string{freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)}
	p := startDevProcess(t, dir, addrs)
	defer func() { p.kill9() }()
	rc := newHookReceiver(t)
	subscribeReceiver(t, rc, "http://"+addrs[1], dir, 1)

	const entities, posters = 48, 8
	load := newCrashLoad(p.ingestURL, entities, posters, seed)
	load.start()

	// Keys acknowledged before the first kill, to try again at the end.
	time.Sleep(time.Second)
	earlyKeys := load.acknowledgedKeys(20)

	for kill := 1; kill <= 5; kill++ {
		wait := time.Duration(300+rng.IntN(4700)) * time.Millisecond
		time.Sleep(wait)
		before := load.acked()
		p.kill9()
		t.Logf("kill %d after %s: %d events acknowledged so far", kill, wait, before)
		p = startDevProcess(t, dir, addrs)
	}
	time.Sleep(2 * time.Second) // load on the last incarnation too
	load.stop()
	if err := load.err(); err != nil {
		t.Fatal(err)
	}
	acked := load.acknowledged()
	if len(acked) < 1000 {
		t.Fatalf("only %d events acknowledged in the whole run", len(acked))
	}
	t.Logf("%d events acknowledged in %d requests (%d single, %d batches); %d retried after no answer or a 503",
		len(acked), load.requests(), load.singles(), load.batches(), load.retries())

	// Every acknowledged event is delivered.
	deadline := time.Now().Add(2 * time.Minute)
	for missing := rc.missing(acked); len(missing) > 0; missing = rc.missing(acked) {
		if time.Now().After(deadline) {
			lag := stageLag(t, p.kafka)
			p.kill9()
			t.Fatalf("%d of %d acknowledged events never delivered (first: %+v); stage lag: %v; surge dev's log:\n%s",
				len(missing), len(acked), missing[0], lag, tailOf(p.stderr.String(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	rc.checkCrashRun(t, acked)
	want := map[string]int64{}
	for _, e := range acked {
		want["s0/"+e.entity] = max(want["s0/"+e.entity], e.version)
	}
	rc.check(t, want)

	// Idempotency keys from before the first kill still answer with the
	// event first written, and write nothing new.
	deliveredBefore := rc.distinct()
	for _, k := range earlyKeys {
		status, out := postEvent(t, p.ingestURL, k.body, nil)
		if status != http.StatusAccepted || fmt.Sprint(out["duplicates"]) != strconv.Itoa(k.events) {
			t.Fatalf("re-posting %s after five kills: %d %v, want 202 with %d duplicates", k.key, status, out, k.events)
		}
		if got := idsOf(out); strings.Join(got, ",") != strings.Join(k.ids, ",") {
			t.Fatalf("re-posting %s after five kills answered ids %v, want the first answer's %v", k.key, got, k.ids)
		}
	}

	// No stage is left behind on any topic.
	var lagged []string
	kafkatest.WaitFor(t, time.Minute, "no stage lag on any topic", func() bool {
		lagged = stageLag(t, p.kafka)
		return len(lagged) == 0
	})
	time.Sleep(time.Second)
	if n := rc.distinct(); n != deliveredBefore {
		t.Fatalf("re-posted idempotency keys made %d new deliveries", n-deliveredBefore)
	}
	if n := rc.repeats(); n > 0 {
		t.Logf("%d deliveries repeated after the kills (same webhook-id each time)", n)
	}
}

// stageLag runs `surge topics list --json` and returns "group topic lag"
// for every stage group with lag.
func stageLag(t *testing.T, kafka string) []string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "topics", "list", "--json", "--brokers", kafka).Output()
	if err != nil {
		t.Fatalf("surge topics list: %v", err)
	}
	var list struct {
		Topics []struct {
			Name   string `json:"name"`
			Groups []struct {
				Group string `json:"group"`
				Stage bool   `json:"stage"`
				Lag   int64  `json:"lag"`
			} `json:"groups"`
		} `json:"topics"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("surge topics list --json: %v\n%s", err, out)
	}
	var lagged []string
	for _, topic := range list.Topics {
		for _, g := range topic.Groups {
			if g.Stage && g.Lag > 0 {
				lagged = append(lagged, fmt.Sprintf("%s %s %d", g.Group, topic.Name, g.Lag))
			}
		}
	}
	return lagged
}

func idsOf(out map[string]any) []string {
	if id, ok := out["id"].(string); ok {
		return []string{id}
	}
	var ids []string
	list, _ := out["ids"].([]any)
	for _, id := range list {
		ids = append(ids, fmt.Sprint(id))
	}
	return ids
}

// ackedEvent is an event ingest acknowledged: the n-th of its entity,
// so the version enrich must give it.
type ackedEvent struct {
	entity  string // "order:K7"
	version int64
	id      string // the event id ingest answered
}

// postedKey is one request that was acknowledged, kept to be sent again.
type postedKey struct {
	key    string
	body   string
	events int
	ids    []string
}

// crashLoad posts events for its entities from several posters, each
// owning a disjoint set of entities and sending an entity's events one
// request after the other: a request is sent again, with the same body
// and so the same event ids (the idempotency keys), until ingest
// acknowledges it — through refused connections while surge dev is down,
// and 503s. The next event of an entity is only sent after the previous
// one was acknowledged, so the acknowledged order is the order ingest
// must keep.
type crashLoad struct {
	url      string
	entities int
	posters  int
	seed     uint64
	client   *http.Client

	quit chan struct{}
	wg   sync.WaitGroup

	mu                         sync.Mutex
	events                     []ackedEvent
	posted                     []postedKey
	nreq, nsingle, nbatch, nre int
	failure                    error
}

func newCrashLoad(url string, entities, posters int, seed uint64) *crashLoad {
	return &crashLoad{url: url, entities: entities, posters: posters, seed: seed,
		client: &http.Client{Timeout: 15 * time.Second}, quit: make(chan struct{})}
}

func (l *crashLoad) start() {
	for w := range l.posters {
		l.wg.Add(1)
		go l.post(w)
	}
}

func (l *crashLoad) stop() {
	close(l.quit)
	l.wg.Wait()
}

// post is poster w: entities w, w+posters, ... Each round sends either one
// event of one of its entities or a batch with two events of each.
func (l *crashLoad) post(w int) {
	defer l.wg.Done()
	rng := rand.New(rand.NewPCG(l.seed, uint64(w)+2))
	var mine []string
	for e := w; e < l.entities; e += l.posters {
		mine = append(mine, "K"+strconv.Itoa(e))
	}
	next := map[string]int64{} // versions acknowledged per entity
	for round := 0; ; round++ {
		select {
		case <-l.quit:
			return
		default:
		}
		var items []string
		var planned []ackedEvent
		add := func(id string) {
			v := next[id] + int64(1+countOf(planned, id))
			items = append(items, fmt.Sprintf(`{"id":"%s-%d","type":"order.updated","entity":{"type":"order","id":%q},"data":{"seq":%d,"qty":%d}}`,
				id, v, id, v, 1+rng.IntN(5)))
			planned = append(planned, ackedEvent{entity: "order:" + id, version: v})
		}
		batch := rng.IntN(3) == 0
		if batch {
			for _, id := range mine {
				add(id)
				add(id)
			}
		} else {
			add(mine[round%len(mine)])
		}
		body := items[0]
		if batch {
			body = `{"events":[` + strings.Join(items, ",") + `]}`
		}
		ids, err := l.send(body, len(items))
		if err != nil {
			l.fail(err)
			return
		}
		l.mu.Lock()
		for i := range planned {
			planned[i].id = ids[i]
			l.events = append(l.events, planned[i])
			next[strings.TrimPrefix(planned[i].entity, "order:")] = planned[i].version
		}
		l.posted = append(l.posted, postedKey{key: fmt.Sprintf("%s (%d events)", items[0][:min(30, len(items[0]))], len(items)), body: body, events: len(items), ids: ids})
		if batch {
			l.nbatch++
		} else {
			l.nsingle++
		}
		l.mu.Unlock()
	}
}

func countOf(es []ackedEvent, id string) int {
	n := 0
	for _, e := range es {
		if e.entity == "order:"+id {
			n++
		}
	}
	return n
}

// send posts body until it is acknowledged and returns the event ids.
// Only an answer that can never succeed is an error.
func (l *crashLoad) send(body string, events int) ([]string, error) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			l.mu.Lock()
			l.nre++
			l.mu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
		l.mu.Lock()
		l.nreq++
		l.mu.Unlock()
		resp, err := l.client.Post(l.url+"/v1/events", "application/json", strings.NewReader(body))
		if err != nil {
			continue // surge dev is down or was killed mid-request: no promise was made
		}
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusAccepted:
			ids := idsOf(out)
			if len(ids) != events {
				return nil, fmt.Errorf("202 with %d ids for %d events: %v", len(ids), events, out)
			}
			return ids, nil
		case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests:
			continue
		default:
			return nil, fmt.Errorf("POST answered %d %v", resp.StatusCode, out)
		}
	}
}

func (l *crashLoad) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failure == nil {
		l.failure = err
	}
}

func (l *crashLoad) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failure
}

func (l *crashLoad) acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

func (l *crashLoad) acknowledged() []ackedEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ackedEvent(nil), l.events...)
}

func (l *crashLoad) acknowledgedKeys(n int) []postedKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]postedKey(nil), l.posted[:min(n, len(l.posted))]...)
}

func (l *crashLoad) requests() int { l.mu.Lock(); defer l.mu.Unlock(); return l.nreq }
func (l *crashLoad) singles() int  { l.mu.Lock(); defer l.mu.Unlock(); return l.nsingle }
func (l *crashLoad) batches() int  { l.mu.Lock(); defer l.mu.Unlock(); return l.nbatch }
func (l *crashLoad) retries() int  { l.mu.Lock(); defer l.mu.Unlock(); return l.nre }

// missing are the acknowledged events no delivery carried yet.
func (rc *hookReceiver) missing(acked []ackedEvent) []ackedEvent {
	events := map[string]bool{}
	for _, h := range rc.Arrivals() {
		events[h.EventID] = true
	}
	var out []ackedEvent
	for _, e := range acked {
		if !events[e.id] {
			out = append(out, e)
		}
	}
	return out
}

// checkCrashRun fails t unless each acknowledged event arrived with the
// version its acknowledged position gives it, every arrival of one event
// carried one webhook-id, and nothing arrived that was not acknowledged
// (an event written twice would arrive under a second id).
func (rc *hookReceiver) checkCrashRun(t *testing.T, acked []ackedEvent) {
	t.Helper()
	got := rc.Arrivals()
	byID := map[string]ackedEvent{}
	for _, e := range acked {
		byID[e.id] = e
	}
	webhookID := map[string]string{}
	for _, h := range got {
		e, ok := byID[h.EventID]
		if !ok {
			t.Fatalf("delivery %s carries event %s (%s v%d), which ingest never acknowledged; around it:\n%s",
				h.ID, h.EventID, h.Entity, h.Version, around(got, acked, h.Entity, h.Version))
		}
		if h.Entity != e.entity || h.Version != e.version {
			t.Fatalf("event %s arrived as %s version %d, acknowledged as %s's event %d", h.EventID, h.Entity, h.Version, e.entity, e.version)
		}
		if w, seen := webhookID[h.EventID]; seen && w != h.ID {
			t.Fatalf("event %s arrived under webhook-ids %s and %s", h.EventID, w, h.ID)
		}
		webhookID[h.EventID] = h.ID
	}
}

// around describes, for a failure message, the acknowledged events and
// the deliveries of entity within two versions of version, with the
// sender's body of each delivery (of got).
func around(got []webhooktest.Arrival, acked []ackedEvent, entity string, version int64) string {
	var b strings.Builder
	near := func(v int64) bool { return v >= version-2 && v <= version+2 }
	for _, e := range acked {
		if e.entity == entity && near(e.version) {
			fmt.Fprintf(&b, "  acknowledged v%d as %s\n", e.version, e.id)
		}
	}
	for _, h := range got {
		if h.Entity == entity && near(h.Version) {
			fmt.Fprintf(&b, "  delivered v%d as %s (%s): %.300s\n", h.Version, h.EventID, h.ID, h.Body)
		}
	}
	return b.String()
}

// repeats counts arrivals of a webhook-id already seen.
func (rc *hookReceiver) repeats() int { return rc.Requests() - rc.Distinct() }
