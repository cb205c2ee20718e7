package webhooktest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/surgehq/surge/pkg/webhook/webhooktest"
)

// TestReceiverFindsRequestsByPathStatusAndEvent: what Answered and OfEvent
// return is what arrived, with the status the Receiver answered then.
func TestReceiverFindsRequestsByPathStatusAndEvent(t *testing.T) {
	rc := webhooktest.NewReceiver(t)
	post := func(path, id string) {
		t.Helper()
		resp, err := http.Post(rc.URL+"/"+path, "application/json", strings.NewReader(`{"id":"`+id+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	rc.SetStatus(http.StatusBadRequest)
	post("a", "ev-1")
	rc.SetStatus(http.StatusNoContent)
	post("a", "ev-2")
	post("b", "ev-3")

	if got := rc.Answered("a", http.StatusBadRequest); len(got) != 1 || got[0].EventID != "ev-1" {
		t.Fatalf("a answered 400: %+v", got)
	}
	if got := rc.Answered("a", http.StatusNoContent); len(got) != 1 || got[0].EventID != "ev-2" {
		t.Fatalf("a answered 204: %+v", got)
	}
	if a, ok := rc.OfEvent("ev-3"); !ok || a.Path != "b" || a.Status != http.StatusNoContent {
		t.Fatalf("OfEvent ev-3: %+v %v", a, ok)
	}
	if _, ok := rc.OfEvent("ev-4"); ok {
		t.Fatal("OfEvent found an event that never arrived")
	}
	if len(rc.BadSignatures()) != 3 {
		t.Fatalf("unsigned requests: %d bad signatures, want 3", len(rc.BadSignatures()))
	}
}
