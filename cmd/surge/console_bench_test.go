package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/console"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/topics"
)

// BenchmarkConsolePages is issue 15's figures: surge dev in process with
// 1,000 subscriptions and 100,000 attempts on commerce.delivery-attempts
// (100 per subscription, 200-byte bodies), then the console's overview,
// subscriptions list, one subscription's page (its attempts and lanes
// read from Kafka) and the topics page served b.N times each, reported as
// ms per page (server time: the request on loopback, rendering included),
// and the process's heap after a GC (the embedded cluster's copy of the
// topics included, as surge dev keeps them in memory). Run it once:
// -bench ConsolePages -benchtime 5x.
func BenchmarkConsolePages(b *testing.B) {
	const subs, attemptsPerSub = 1000, 100
	dir := b.TempDir()
	stack, err := startDev(context.Background(), testDevConfig(dir), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer stack.Close()
	token := adminToken(b, dir)

	ids := make([]string, subs)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ids[i] = adminCall(b, stack.AdminURL, token, "POST", "/v1/subscriptions",
				fmt.Sprintf(`{"url":"http://127.0.0.1:9/s%d","event_types":["order.*"],"paused":true}`, i))["id"].(string)
		}()
	}
	wg.Wait()

	reg, err := avroserde.Connect(stack.RegistryURL)
	if err != nil {
		b.Fatal(err)
	}
	topic := topics.DeliveryAttempts
	codec := avroserde.NewDeliveryAttemptCodec(reg, topic)
	ctx := context.Background()
	if err := codec.Register(ctx); err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(kafkax.ClientOpts(devKafka(testDevConfig(dir), []string{stack.KafkaAddr}), nil, kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	start := time.Now().Add(-time.Hour)
	body := strings.Repeat("x", 200)
	var perr error
	var pmu sync.Mutex
	for i := range subs * attemptsPerSub {
		sub := ids[i%subs]
		a := event.DeliveryAttempt{DeliveryID: fmt.Sprintf("msg_%d", i), EventID: fmt.Sprintf("evt_%d", i), SubscriptionID: sub,
			EntityKey: fmt.Sprintf("order:%d", i%5000), Attempt: 1, URL: "http://127.0.0.1:9/", StartedAt: start.Add(time.Duration(i) * time.Millisecond),
			Duration: 3 * time.Millisecond, StatusCode: 503, Outcome: "retry", Error: "endpoint answered 503", ResponseHeaders: map[string]string{"content-type": "text/plain"},
			ResponseBody: body}
		v, err := codec.Encode(a)
		if err != nil {
			b.Fatal(err)
		}
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(a.DeliveryID), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				pmu.Lock()
				perr = err
				pmu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil || perr != nil {
		b.Fatal(err, perr)
	}

	resp, err := noRedirects.PostForm(stack.AdminURL+"/console/login", url.Values{"token": {token}})
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	cookie := ""
	for _, ck := range resp.Cookies() {
		if ck.Name == console.CookieName {
			cookie = ck.Value
		}
	}
	if cookie == "" {
		b.Fatal("no session cookie")
	}
	get := func(path string) int {
		req, _ := http.NewRequest("GET", stack.AdminURL+path, nil)
		req.AddCookie(&http.Cookie{Name: console.CookieName, Value: cookie})
		resp, err := noRedirects.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return int(n)
	}
	pages := []struct{ name, path string }{
		{"overview", "/console/"},
		{"subscriptions", "/console/subscriptions"},
		{"subscription", "/console/subscriptions/" + ids[0]},
		{"topics", "/console/topics"},
	}
	for _, p := range pages {
		get(p.path) // warm
	}
	b.ResetTimer()
	for _, p := range pages {
		t0 := time.Now()
		size := 0
		for range b.N {
			size = get(p.path)
		}
		b.ReportMetric(float64(time.Since(t0).Milliseconds())/float64(b.N), p.name+"_ms/page")
		b.ReportMetric(float64(size)/1024, p.name+"_KiB")
	}
	b.StopTimer()
	browserTimings(b, stack.AdminURL, token, pages)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap_inuse_MiB")
	b.ReportMetric(float64(ms.Sys)/(1<<20), "sys_MiB")
}
