package ktable_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/ktable"
)

func stringTable(t *testing.T, kc *kafkatest.Cluster, topic string, onChange func(string, string, bool)) *ktable.Table[string] {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tb, err := ktable.Open(ctx, ktable.Config[string]{
		Topic:      topic,
		ClientOpts: []kgo.Opt{kgo.SeedBrokers(kc.Brokers...)},
		Decode: func(_ context.Context, _ string, b []byte) (string, error) {
			if strings.HasPrefix(string(b), "bad") {
				return "", errors.New("not a value")
			}
			return string(b), nil
		},
		Encode:   func(v string) ([]byte, error) { return []byte(v), nil },
		OnChange: onChange,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tb.Close)
	return tb
}

func TestWritesAreReadBackHereAndElsewhere(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic("table")
	kc.CreateTopics(t, 3, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var mu sync.Mutex
	var changes []string
	writer := stringTable(t, kc, topic, nil)
	reader := stringTable(t, kc, topic, func(k, v string, deleted bool) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, fmt.Sprintf("%s=%s/%v", k, v, deleted))
	})

	for i := range 20 {
		if err := writer.Put(ctx, fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
		// Read your own write: visible the moment Put returns.
		if v, ok := writer.Get(fmt.Sprintf("k%02d", i)); !ok || v != fmt.Sprintf("v%d", i) {
			t.Fatalf("after Put k%02d: got %q, %v", i, v, ok)
		}
	}
	if err := writer.Put(ctx, "k03", "v3b"); err != nil {
		t.Fatal(err)
	}
	if err := writer.Delete(ctx, "k05"); err != nil {
		t.Fatal(err)
	}
	if _, ok := writer.Get("k05"); ok {
		t.Fatal("k05 still there after Delete")
	}

	if err := reader.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := reader.List()
	if len(got) != 19 || reader.Len() != 19 {
		t.Fatalf("reader has %d values, want 19: %v", len(got), got)
	}
	if got[0] != "v0" || got[3] != "v3b" {
		t.Fatalf("List not sorted by key or stale: %v", got)
	}
	if v, _ := reader.Get("k03"); v != "v3b" {
		t.Fatalf("reader k03 = %q, want the second write", v)
	}
	mu.Lock()
	n := len(changes)
	sawTombstone := slices.Contains(changes, "k05=/true")
	mu.Unlock()
	// Order holds per partition only; the tombstone must be there.
	if n != 22 || !sawTombstone {
		t.Fatalf("OnChange saw %d changes (tombstone seen: %v), want 22 with the tombstone", n, sawTombstone)
	}
	if reader.Version() != 22 {
		t.Fatalf("Version = %d, want 22", reader.Version())
	}

	// A table opened later loads the same state before Open returns.
	late := stringTable(t, kc, topic, nil)
	if late.Len() != 19 {
		t.Fatalf("late table has %d keys, want 19", late.Len())
	}
	if _, ok := late.Get("k05"); ok {
		t.Fatal("late table resurrected a deleted key")
	}
}

func TestSyncSeesWritesOfOtherProducersAndSkipsUndecodable(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic("table")
	kc.CreateTopics(t, 1, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tb := stringTable(t, kc, topic, nil)

	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(k, v string) {
		t.Helper()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce("a", "one")
	produce("a", "bad value")
	produce("b", "two")
	// FreshAsOf a time after the writes must see them; concurrent callers
	// share syncs and all see the same state.
	at := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := tb.FreshAsOf(ctx, at); err != nil {
				errs <- err
				return
			}
			if v, _ := tb.Get("b"); v != "two" {
				errs <- fmt.Errorf("b = %q after FreshAsOf", v)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if v, _ := tb.Get("a"); v != "one" {
		t.Fatalf("a = %q: an undecodable value must leave the previous one", v)
	}
}

func TestReadOnlyTableRefusesWrites(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic("table")
	kc.CreateTopics(t, 1, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tb, err := ktable.Open(ctx, ktable.Config[string]{
		Topic:      topic,
		ClientOpts: []kgo.Opt{kgo.SeedBrokers(kc.Brokers...)},
		Decode:     func(_ context.Context, _ string, b []byte) (string, error) { return string(b), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if err := tb.Put(ctx, "a", "b"); !errors.Is(err, ktable.ErrReadOnly) {
		t.Fatalf("Put on a read-only table: %v", err)
	}
}
