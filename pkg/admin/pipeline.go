package admin

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/inspect"
)

// Inspector is what the admin API reads of the running pipeline from
// Kafka (GET /v1/stages/lag, /v1/subscriptions/{id}/attempts and
// /lanes); *inspect.Inspector implements it. Every method may block on
// Kafka and is safe for concurrent use; an error is Kafka or the registry
// being unavailable.
type Inspector interface {
	StageLag(ctx context.Context) (*inspect.StageLagReport, error)
	Attempts(ctx context.Context, subscription string, limit int) ([]inspect.Attempt, error)
	Lanes(ctx context.Context, subscription string) (*inspect.LaneReport, error)
	Parked(ctx context.Context) (*inspect.ParkedSummary, error)
	Topics(ctx context.Context) (*inspect.TopicReport, error)
	TopicExists(ctx context.Context, topic string) (bool, error)
	TopicRecords(ctx context.Context, topic string, window time.Duration, now time.Time) (*inspect.TopicRecords, error)
	AttemptStats(ctx context.Context, window time.Duration, now time.Time) (*inspect.AttemptStatsReport, error)
}

// attemptList is the answer of GET /v1/subscriptions/{id}/attempts.
type attemptList struct {
	Attempts []inspect.Attempt `json:"attempts"`
}

// fromInspector is what op returns from the API's Inspector: a 503 when
// the API has none or Kafka fails.
func fromInspector[T any](a *API, op func(in Inspector) (T, error)) (T, error) {
	var zero T
	if a.deps.Inspector == nil {
		e := httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "this admin process does not read the pipeline's topics")
		e.RetryAfter = RetryAfter
		return zero, e
	}
	v, err := op(a.deps.Inspector)
	if err != nil {
		e := httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "reading Kafka failed: %v; retry later", err)
		e.RetryAfter = RetryAfter
		return zero, e
	}
	return v, nil
}

// stageLagOf is GET /v1/stages/lag: every stage's consumer-group lag per
// partition, with the partitions the stages report stalled.
func (a *API) stageLagOf(ctx context.Context) (*inspect.StageLagReport, error) {
	return fromInspector(a, func(in Inspector) (*inspect.StageLagReport, error) { return in.StageLag(ctx) })
}

// attemptsOf is GET /v1/subscriptions/{id}/attempts: the subscription's
// newest attempts, at most limit (0: inspect.DefaultAttempts). An unknown
// subscription is a 404.
func (a *API) attemptsOf(ctx context.Context, id string, limit int) ([]inspect.Attempt, error) {
	if _, err := lookup(a.deps.Subscriptions, "subscription", id); err != nil {
		return nil, err
	}
	return fromInspector(a, func(in Inspector) ([]inspect.Attempt, error) { return in.Attempts(ctx, id, limit) })
}

// lanesOf is GET /v1/subscriptions/{id}/lanes: the subscription's parked
// entity keys. An unknown subscription is a 404.
func (a *API) lanesOf(ctx context.Context, id string) (*inspect.LaneReport, error) {
	if _, err := lookup(a.deps.Subscriptions, "subscription", id); err != nil {
		return nil, err
	}
	return fromInspector(a, func(in Inspector) (*inspect.LaneReport, error) { return in.Lanes(ctx, id) })
}

func (a *API) stageLag(r *http.Request) (any, error) { return a.stageLagOf(r.Context()) }

func (a *API) subscriptionAttempts(r *http.Request) (any, error) {
	limit := 0
	if vs, ok := r.URL.Query()["limit"]; ok { // given, even empty or twice: it must be one number
		n, err := strconv.Atoi(vs[0])
		if len(vs) != 1 || err != nil || n < 1 || n > inspect.MaxAttempts {
			return nil, &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: "limit",
				Message: "must be a number from 1 to " + strconv.Itoa(inspect.MaxAttempts)}
		}
		limit = n
	}
	list, err := a.attemptsOf(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		return nil, err
	}
	return attemptList{Attempts: orEmpty(list)}, nil
}

// parked is GET /v1/lanes: every subscription's parked keys, counted in
// one read of the retry topic.
func (a *API) parked(r *http.Request) (any, error) {
	return fromInspector(a, func(in Inspector) (*inspect.ParkedSummary, error) { return in.Parked(r.Context()) })
}

func (a *API) subscriptionLanes(r *http.Request) (any, error) {
	return a.lanesOf(r.Context(), r.PathValue("id"))
}
