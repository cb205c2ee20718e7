package kafkatest

import (
	"io"
	"net/http"
	"testing"
)

// Get GETs url and returns the status and the body; 0 and "" when no
// answer came (a listener not up yet, say), so a WaitFor can poll it.
func Get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// MustGet is Get for a listener that must answer: no answer fails t.
func MustGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
