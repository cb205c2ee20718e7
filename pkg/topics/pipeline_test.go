package topics_test

import (
	"slices"
	"testing"

	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/schemas"
)

// TestPipelineTable pins the table: every topic a stage names is created,
// every created topic has a key rule and (but for the events DLQ, whose
// records keep their own) a schema of the schemas module, every header a
// topic names has a doc and every documented header is on a topic, and
// the ids the services derive from it are the ones deployed groups and
// producers use.
func TestPipelineTable(t *testing.T) {
	layouts := map[string]topics.Layout{}
	for _, l := range topics.Layouts(topics.DefaultDedupWindow) {
		layouts[l.Name] = l
		if l.Key == "" {
			t.Errorf("%s has no key rule", l.Name)
		}
		if l.Schema != "" && !slices.Contains(schemas.Names(), l.Schema) {
			t.Errorf("%s: schema %q is not in the schemas module", l.Name, l.Schema)
		}
		if l.Schema == "" && l.Name != topics.EventsDLQ {
			t.Errorf("%s has no schema", l.Name)
		}
	}
	used := map[string]bool{}
	for _, l := range layouts {
		for _, h := range l.Headers {
			used[h] = true
			if doc, ok := topics.HeaderDoc(h); !ok || doc == "" {
				t.Errorf("%s: header %s has no doc in the Headers table", l.Name, h)
			}
		}
	}
	for _, h := range topics.Headers {
		if !used[h.Name] {
			t.Errorf("header %s is in the Headers table but on no topic", h.Name)
		}
	}
	for _, st := range topics.Pipeline() {
		for _, name := range append(append(slices.Clone(st.Reads), st.Writes...), st.DLQ) {
			if _, ok := layouts[name]; !ok && name != "" {
				t.Errorf("stage %s names topic %q, which is not created", st.Name, name)
			}
		}
		if (len(st.Reads) > 0) != (st.Group != "") || (st.DLQ != "") != (st.Group != "") {
			t.Errorf("stage %s: a stage that reads has a group and a DLQ, and only then: %+v", st.Name, st)
		}
	}
	ids := map[string][2]string{ // deployed names: changing one orphans offsets and transactions
		topics.StageEnrich:     {"surge-enrich", "p.surge-enrich-i1"},
		topics.StageFanout:     {"surge-fanout", "p.surge-fanout-i1"},
		topics.StageDispatcher: {"surge-dispatcher", ""},
		topics.StageIngest:     {"", "p.surge-ingest-i1"},
	}
	for _, st := range topics.Pipeline() {
		want := ids[st.Name]
		if st.Group != want[0] || st.TransactionalID("p.", "i1") != want[1] {
			t.Errorf("stage %s: group %q, transactional id %q; want %q", st.Name, st.Group, st.TransactionalID("p.", "i1"), want)
		}
	}
	for topic, want := range map[string]string{topics.EventsRaw: "enrich", topics.EventsEnriched: "fanout",
		topics.Deliveries: "dispatcher", topics.DeliveriesRetry: "dispatcher"} {
		if st, ok := topics.ReaderOf(topic); !ok || st.Name != want {
			t.Errorf("ReaderOf(%s) = %s, %v; want %s", topic, st.Name, ok, want)
		}
	}
	if _, ok := topics.ReaderOf(topics.DeliveriesDLQ); ok {
		t.Error("no stage reads the deliveries DLQ (replays do, outside the pipeline)")
	}
}
