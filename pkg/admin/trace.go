package admin

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/trace"
)

// Tracer is what GET /v1/trace reads from Kafka; *trace.Tracer implements
// it. Every method may block on Kafka, bounded by its context, and is safe
// for concurrent use.
type Tracer interface {
	Event(ctx context.Context, id string, opts trace.Options) (*trace.Trace, error)
	BySenderID(ctx context.Context, id string, f trace.OriginFilter) ([]trace.SenderMatch, error)
	EntityEvents(ctx context.Context, key string, limit int) (*trace.EntityEvents, error)
	ByDeliveryID(ctx context.Context, id string) (string, error)
}

// TraceTimeout bounds one GET /v1/trace (within the request's context).
const TraceTimeout = 20 * time.Second

// traceAnswer is the answer of GET /v1/trace: Trace for ?id= and
// ?webhook_id=, Entity for ?entity=.
type traceAnswer struct {
	Trace  *trace.Trace        `json:"trace,omitempty"`
	Entity *trace.EntityEvents `json:"entity,omitempty"`
}

// traceParams are the search parameters, in the order one given wins
// over the others.
var traceParams = []string{"id", "entity", "webhook_id"}

// traceQuery is GET /v1/trace: ?id= an event's Surge id or its sender's
// id, ?webhook_id= a delivery's id, ?entity= an entity key (with an
// optional ?limit=).
func (a *API) traceQuery(r *http.Request) (any, error) {
	q := r.URL.Query()
	var name, value string
	for _, p := range traceParams {
		vs, ok := q[p]
		if !ok {
			continue
		}
		if name != "" {
			continue // the first given wins: id, then entity, then webhook_id
		}
		if len(vs) != 1 || strings.TrimSpace(vs[0]) == "" {
			return nil, &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: p, Message: "must be given once, not empty"}
		}
		name, value = p, strings.TrimSpace(vs[0])
	}
	if name == "" {
		// Each parameter is optional in the document, so asking for none is
		// a valid request that cannot be answered: a 422.
		return nil, &httpx.Error{Status: http.StatusUnprocessableEntity, Code: httpx.CodeInvalid, Field: "id",
			Message: "give ?id= (an event id or the sender's id), ?entity= (an entity key, type:id) or ?webhook_id="}
	}
	limit := 0
	if vs, ok := q["limit"]; ok {
		n, err := strconv.Atoi(vs[0])
		if len(vs) != 1 || err != nil || n < 1 || n > trace.MaxEntityEvents {
			return nil, &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: "limit",
				Message: "must be one number from 1 to " + strconv.Itoa(trace.MaxEntityEvents)}
		}
		limit = n
	}
	if name == "entity" && !trace.ValidEntityKey(value) {
		return nil, &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: "entity", Message: "must be an entity key, <entity type>:<entity id>, e.g. order:123"}
	}
	if a.deps.Tracer == nil {
		e := httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "this admin process does not read the pipeline's topics")
		e.RetryAfter = RetryAfter
		return nil, e
	}
	ctx, cancel := context.WithTimeout(r.Context(), TraceTimeout)
	defer cancel()
	var ans traceAnswer
	var err error
	switch name {
	case "entity":
		ans.Entity, err = a.deps.Tracer.EntityEvents(ctx, value, limit)
	case "webhook_id":
		ans.Trace, err = a.traceDelivery(ctx, value)
	default:
		ans.Trace, err = a.traceEvent(ctx, value)
	}
	if errors.Is(err, trace.ErrPartial) && ans.Trace != nil && len(ans.Trace.Steps) > 0 {
		err = nil // what was found, marked partial
	}
	if err != nil {
		return nil, traceError(ctx, err)
	}
	return ans, nil
}

// traceEvent traces the event with Surge id or sender's id id, as
// `surge trace` does: an id that is not a ksuid is first looked for as a
// sender's id, a ksuid no topic holds as one too.
func (a *API) traceEvent(ctx context.Context, id string) (*trace.Trace, error) {
	tr := a.deps.Tracer
	bySender := func() (string, error) {
		ms, err := tr.BySenderID(ctx, id, trace.OriginFilter{})
		if err != nil || len(ms) == 0 {
			return "", err
		}
		if len(ms) > 1 {
			ids := make([]string, len(ms))
			for i, m := range ms {
				ids[i] = m.EventID + " (" + m.EntityKey + ")"
			}
			return "", httpx.Errorf(http.StatusConflict, httpx.CodeConflict, "%d events have sender's id %s: %s; trace one of these event ids",
				len(ms), id, strings.Join(ids, ", "))
		}
		return ms[0].EventID, nil
	}
	if _, minted := trace.From(id, time.Now()); minted.IsZero() {
		found, err := bySender()
		if err != nil {
			return nil, err
		}
		if found != "" {
			id = found
		}
	}
	res, err := tr.Event(ctx, id, trace.Options{Details: true})
	if errors.Is(err, trace.ErrNoRecord) {
		found, ferr := bySender()
		if ferr != nil {
			return nil, ferr
		}
		if found != "" && found != id {
			res, err = tr.Event(ctx, found, trace.Options{Details: true})
		}
	}
	return res, err
}

// traceDelivery traces the event of the delivery with webhook-id id.
func (a *API) traceDelivery(ctx context.Context, id string) (*trace.Trace, error) {
	eventID, err := a.deps.Tracer.ByDeliveryID(ctx, id)
	if err != nil {
		return nil, err
	}
	if eventID == "" {
		return nil, httpx.Errorf(http.StatusNotFound, httpx.CodeNotFound,
			"no attempt of a delivery with webhook-id %s among the last %d records of its partition of the attempts topic", id, trace.DeliveryWindow)
	}
	return a.deps.Tracer.Event(ctx, eventID, trace.Options{Details: true})
}

// traceError is the answer to a failed search: an *httpx.Error as it
// is, a 404 when no topic holds the event, a 503 when Kafka failed or the
// search ran out of time with nothing found.
func traceError(ctx context.Context, err error) error {
	var he *httpx.Error
	switch {
	case errors.As(err, &he):
		return he
	case errors.Is(err, trace.ErrNoRecord):
		return httpx.Errorf(http.StatusNotFound, httpx.CodeNotFound, "%v", err)
	case errors.Is(err, trace.ErrPartial) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		e := httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "%v (after %s); retry later", err, TraceTimeout)
		e.RetryAfter = RetryAfter
		return e
	}
	e := httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "reading Kafka failed: %v; retry later", err)
	e.RetryAfter = RetryAfter
	return e
}
