package httpx

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWriteErrorBody(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, &Error{Status: 422, Code: CodeInvalid, Message: "bad batch", Field: "events",
		Items: []ItemError{{Index: 3, Code: CodeInvalid, Message: "must be a number", Field: "events[3].data.total"}}})
	var body struct {
		Error struct {
			Code, Message, Field string
			Items                []ItemError
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 422 || body.Error.Code != "invalid" || body.Error.Field != "events" || len(body.Error.Items) != 1 || body.Error.Items[0].Index != 3 {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("Retry-After") != "" {
		t.Error("Retry-After on a 422")
	}

	rec = httptest.NewRecorder()
	WriteError(rec, &Error{Status: 503, Code: CodeUnavailable, Message: "later", RetryAfter: 1500 * time.Millisecond})
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("got %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}

	rec = httptest.NewRecorder()
	WriteError(rec, errors.New("db password is hunter2"))
	if rec.Code != 500 || !json.Valid(rec.Body.Bytes()) || strings.Contains(rec.Body.String(), "hunter2") {
		t.Fatalf("an internal error leaks: %d %s", rec.Code, rec.Body)
	}
}
