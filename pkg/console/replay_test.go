package console

import (
	"net/url"
	"testing"
	"time"
)

// TestReplayFormSelection: the wizard's fields become the selection the
// API takes, and a field that does not parse is refused by name.
func TestReplayFormSelection(t *testing.T) {
	f := formOf(url.Values{"topic": {"commerce.events.dlq"}, "partitions": {"0, 2"}, "from_offset": {"5"}, "to_offset": {"9"},
		"since": {"2026-03-01T12:00"}, "until": {"2026-03-02T00:00:00Z"}, "subscription": {" sub_a "}, "filter": {"data.n > 1"}, "rate": {"2.5"}})
	sel, err := f.selection()
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if sel.Topic != "commerce.events.dlq" || len(sel.Partitions) != 2 || sel.Partitions[1] != 2 || *sel.FromOffset != 5 || *sel.ToOffset != 9 ||
		!sel.Since.Equal(since) || sel.Until.Day() != 2 || sel.Subscription != "sub_a" || sel.Filter != "data.n > 1" || sel.Rate != 2.5 {
		t.Errorf("selection %+v", sel)
	}
	if f := formOf(url.Values{"topic": {"commerce.nope"}}); f.Topic != "commerce.deliveries.dlq" || f.Rate != defaultReplayRate {
		t.Errorf("defaults: topic %q rate %q", f.Topic, f.Rate)
	}
	if sel, err := formOf(url.Values{"rate": {"max"}}).selection(); err != nil || sel.Rate != 0 {
		t.Errorf("rate max: %v %v, want 0 (no limit)", sel.Rate, err)
	}
	for field, v := range map[string]url.Values{
		"partitions":  {"partitions": {"0,x"}},
		"from_offset": {"from_offset": {"-1"}},
		"to_offset":   {"to_offset": {"ten"}},
		"since":       {"since": {"yesterday"}},
		"until":       {"until": {"03/01/2026"}},
		"rate":        {"rate": {"0"}},
	} {
		f := formOf(v)
		_, err := f.selection()
		if status, ok := f.refuse(err); !ok || status != 422 || f.Field != field || f.Error == "" {
			t.Errorf("%v: %d %v, field %q %q; want a 422 naming %s", v, status, ok, f.Field, f.Error, field)
		}
	}
	f = replayForm{Filter: "a &&\n  b >"}
	f.refuse(&apiError{Status: 422, Field: "filter", Message: "filter: line 2, column 6: Syntax error"})
	if f.Line != 2 || f.Column != 6 || f.FilterLine != "  b >" || f.Caret != "     ^" {
		t.Errorf("filter mark: line %d column %d %q %q", f.Line, f.Column, f.FilterLine, f.Caret)
	}
}
