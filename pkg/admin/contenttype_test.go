package admin_test

import (
	"net/http"
	"testing"

	"github.com/surgehq/surge/pkg/admin"
)

// curlForm is the Content-Type curl sends with -d unless told otherwise.
const curlForm = "application/x-www-form-urlencoded"

// TestCurlDefaultContentTypeIsReadAsJSON sends what `curl -d '{...}'`
// sends: a JSON body labelled as a form. The admin API reads it as JSON,
// as ingest does, keeps every field, and refuses a body that really is a
// form as malformed JSON instead of taking it some other way.
func TestCurlDefaultContentTypeIsReadAsJSON(t *testing.T) {
	e := newEnv(t, admin.Config{MaxBodyBytes: 1 << 16})

	r := e.do("POST", "/v1/subscriptions", validCreate, "Content-Type", curlForm)
	if r.status != http.StatusCreated {
		t.Fatalf("create with curl's content type: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	got := e.do("GET", "/v1/subscriptions/"+id, nil).json(t)
	if got["url"] != "https://hooks.example.com/surge" || got["filter"] != `type == "order.placed"` ||
		got["description"] != "ERP" || got["timeout_ms"] != 5000.0 || got["max_in_flight"] != 4.0 {
		t.Fatalf("the subscription created as a form lost fields: %v", got)
	}

	if r = e.do("PATCH", "/v1/subscriptions/"+id, `{"paused":true}`, "Content-Type", curlForm+"; charset=utf-8"); r.status != http.StatusOK {
		t.Fatalf("patch with curl's content type: %d %s", r.status, r.body)
	}
	if got := e.do("GET", "/v1/subscriptions/"+id, nil).json(t); got["paused"] != true {
		t.Fatalf("the patch sent as a form did not pause: %v", got)
	}

	// A real form body is not JSON: 400, and nothing changes.
	r = e.do("PATCH", "/v1/subscriptions/"+id, `paused=false`, "Content-Type", curlForm)
	r.wantError(t, http.StatusBadRequest, "malformed", "", "not valid JSON")
	if got := e.do("GET", "/v1/subscriptions/"+id, nil).json(t); got["paused"] != true {
		t.Fatalf("a refused form body changed the subscription: %v", got)
	}

	// Other media types are still refused.
	r = e.do("PUT", "/v1/event-types/order.placed", `{}`, "Content-Type", "multipart/form-data; boundary=x")
	r.wantError(t, http.StatusUnsupportedMediaType, "unsupported_media_type", "", "multipart/form-data")
}
