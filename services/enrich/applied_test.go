package enrich_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/services/enrich"
)

// TestAnEventIsNotAppliedTwice is the embedded cluster's torn commit: a
// crash inside EndTxn can leave a transaction's outputs (enriched events,
// snapshots) committed while the group's input offsets were not, so enrich
// reads the same raw events again. Simulated here by moving the group's
// committed offsets back to the start after everything was enriched: no
// event gets a second version, and each is counted as applied already.
func TestAnEventIsNotAppliedTwice(t *testing.T) {
	h := newHarness(t, 3)
	const n, keys = 300, 30
	rs := make([]*kgo.Record, 0, n)
	for i := range n {
		rs = append(rs, h.record(rawEvent(idf("ev", i), "product.updated", "product:P"+strconv.Itoa(i%keys), `{"seq":`+strconv.Itoa(i)+`}`)))
	}
	h.Produce(rs...)
	out := h.Follow(topics.EventsEnriched)
	first := h.start("first", enrich.Deps{})
	kafkatest.WaitFor(t, 60*time.Second, "every event enriched", func() bool { return out.Len() >= n })
	first.stop()

	// The group's offsets go back to the start, as if no commit of the
	// run had recorded them.
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	group := h.Prefix + topics.GroupEnrich
	offs := kadm.Offsets{}
	for p := range int32(3) {
		offs.Add(kadm.Offset{Topic: h.Topic(topics.EventsRaw), Partition: p, At: 0, LeaderEpoch: -1})
	}
	kafkatest.WaitFor(t, 30*time.Second, "the group to be empty and its offsets reset", func() bool {
		resp, err := adm.CommitOffsets(context.Background(), group, offs)
		return err == nil && resp.Error() == nil
	})

	reg := prometheus.NewRegistry()
	h.start("second", enrich.Deps{Metrics: reg})
	kafkatest.WaitFor(t, 60*time.Second, "every event read again", func() bool {
		return kafkatest.MetricSum(t, reg, "surge_enrich_already_applied_total") >= n
	})
	time.Sleep(500 * time.Millisecond)
	if got := out.Len(); got != n {
		t.Fatalf("%d enriched events after the second run, want %d (no event applied twice)", got, n)
	}
	versions := map[string]int64{}
	for _, e := range h.decode(out.Records()) {
		key := e.Value.Entity.Type + ":" + e.Value.Entity.ID
		if e.Value.EntityVersion != versions[key]+1 {
			t.Fatalf("%s: version %d after %d", key, e.Value.EntityVersion, versions[key])
		}
		versions[key] = e.Value.EntityVersion
	}
}
