package admin

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/inspect"
)

// The admin API's reads of the topics and of the attempts over a window:
// GET /v1/topics (what `surge topics list` prints, with every partition),
// GET /v1/topics/{topic}/records (the records a topic took in a window:
// the overview's per-minute figures) and GET /v1/attempt-stats (every
// subscription's success rate and attempt-time percentiles, one read of
// commerce.delivery-attempts for all of them).

// Windows are the values the window query parameter takes (the
// document lists them as an enum, so a client cannot send a window the
// API would refuse).
var Windows = []string{"1m", "5m", "15m", "1h"}

// windowParam is the window query parameter, one of Windows; absent, def.
func windowParam(r *http.Request, def time.Duration) (time.Duration, error) {
	vs, ok := r.URL.Query()["window"]
	if !ok {
		return def, nil
	}
	if len(vs) != 1 || !slices.Contains(Windows, vs[0]) {
		return 0, &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: "window",
			Message: "must be one of " + strings.Join(Windows, ", ")}
	}
	return time.ParseDuration(vs[0])
}

func (a *API) listTopics(r *http.Request) (any, error) {
	return fromInspector(a, func(in Inspector) (*inspect.TopicReport, error) { return in.Topics(r.Context()) })
}

func (a *API) topicRecords(r *http.Request) (any, error) {
	window, err := windowParam(r, time.Minute)
	if err != nil {
		return nil, err
	}
	topic := r.PathValue("topic")
	exists, err := fromInspector(a, func(in Inspector) (bool, error) { return in.TopicExists(r.Context(), topic) })
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, notFound("topic", topic)
	}
	return fromInspector(a, func(in Inspector) (*inspect.TopicRecords, error) {
		return in.TopicRecords(r.Context(), topic, window, a.now())
	})
}

func (a *API) attemptStats(r *http.Request) (any, error) {
	window, err := windowParam(r, inspect.DefaultStatsWindow)
	if err != nil {
		return nil, err
	}
	return a.attemptStatsOf(r.Context(), window)
}

// attemptStatsOf is GET /v1/attempt-stats: every subscription's attempts
// over window.
func (a *API) attemptStatsOf(ctx context.Context, window time.Duration) (*inspect.AttemptStatsReport, error) {
	return fromInspector(a, func(in Inspector) (*inspect.AttemptStatsReport, error) { return in.AttemptStats(ctx, window, a.now()) })
}
