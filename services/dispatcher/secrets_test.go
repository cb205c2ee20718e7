package dispatcher_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/store"
	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/webhook/webhooktest"
)

// TestRevokedSecretStopsSigningWithinOneTableRefresh: the admin side
// writes the subscription through a table of its own, as `surge admin`
// does in another process; the dispatcher has its own table tailing the
// same topic. Once the dispatcher's table has refreshed (one Sync) after
// a revocation, nothing it sends is signed with the revoked secret: not a
// delivery already retrying when the secret was revoked, nor a new one.
func TestRevokedSecretStopsSigningWithinOneTableRefresh(t *testing.T) {
	h := newHarness(t, 1)
	ctx := context.Background()
	reg, err := avroserde.Connect(h.cfg.Registry.URL)
	if err != nil {
		t.Fatal(err)
	}
	adminTable, err := store.Subscriptions(ctx, store.Options{Names: topics.Namer{Prefix: h.Prefix},
		ClientOpts: kafkax.ClientOpts(config.Kafka{Brokers: h.Brokers}, nil), Registry: reg, Writable: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer adminTable.Close()
	change := func(f func(*event.Subscription)) {
		t.Helper()
		s, _ := adminTable.Get("sub_r")
		s = subscription.Clone(s)
		f(&s)
		if err := adminTable.Put(ctx, "sub_r", s); err != nil {
			t.Fatal(err)
		}
	}
	refreshed := func() { // the dispatcher's table: one refresh
		t.Helper()
		if err := h.subs.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	newSecret := func() event.Secret {
		t.Helper()
		s, err := subscription.NewSecret(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	a := newSecret()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := adminTable.Put(ctx, "sub_r", event.Subscription{ID: "sub_r", URL: h.recv.URL + "/sub_r", EventTypes: []string{"*"}, Enabled: true,
		RetrySchedule: []string{"1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"},
		Secrets:       []event.Secret{a}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	refreshed()

	// The endpoint refuses order:R until released.
	var (
		mu       sync.Mutex
		released time.Time
	)
	h.recv.setRespond(func(r received, n int) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		// An attempt that arrives this long after the release started
		// well after the dispatcher's table refreshed.
		if r.key == "order:R" && (released.IsZero() || r.at.Sub(released) < 3*time.Second) {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	})
	h.start()
	h.produce(delivery("sub_r", "order:R", 1, 1))
	attemptsOf := func(seq int, sigs int) []received {
		var out []received
		for _, g := range h.recv.all() {
			if g.seq == seq && (sigs == 0 || len(strings.Fields(g.sig)) == sigs) {
				out = append(out, g)
			}
		}
		return out
	}
	kafkatest.WaitFor(t, 30*time.Second, "an attempt signed by the first secret", func() bool { return len(attemptsOf(1, 1)) > 0 })

	// Rotated with a grace: the retrying delivery is signed by both.
	b := newSecret()
	change(func(s *event.Subscription) { s.Secrets = subscription.Rotate(s.Secrets, b, time.Now(), time.Hour) })
	refreshed()
	kafkatest.WaitFor(t, 30*time.Second, "a retry signed by both secrets", func() bool { return len(attemptsOf(1, 2)) > 0 })

	// Revoked: after one refresh, only b signs.
	change(func(s *event.Subscription) {
		var err error
		if s.Secrets, err = subscription.Revoke(s.Secrets, subscription.Fingerprint(a.Value)); err != nil {
			t.Fatal(err)
		}
	})
	refreshed()
	mu.Lock()
	released = time.Now()
	mu.Unlock()
	h.produce(delivery("sub_r", "order:N", 1, 2))
	kafkatest.WaitFor(t, 30*time.Second, "the retrying and the new delivery", func() bool {
		n := 0
		for _, g := range h.recv.delivered() {
			if g.seq == 1 || g.seq == 2 {
				n++
			}
		}
		return n >= 2
	})
	for _, g := range h.recv.delivered() {
		if n := len(strings.Fields(g.sig)); n != 1 {
			t.Errorf("delivery %d after the revocation carries %d signatures: %s", g.seq, n, g.sig)
		}
		if !webhooktest.VerifiesWith(t, b.Value, g.body, g.header) {
			t.Errorf("delivery %d: the remaining secret does not verify it", g.seq)
		}
		if webhooktest.VerifiesWith(t, a.Value, g.body, g.header) {
			t.Errorf("delivery %d: the revoked secret still verifies it", g.seq)
		}
	}
}
