package admin

import (
	"context"
	"net/http"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/observe"
)

// change is one handler's write to a store: the request it answers and
// the logger of its lines, each of which names the route and what changes
// (the fields given to API.change), in that order.
type change struct {
	a   *API
	r   *http.Request
	log *zap.Logger
}

// change starts the change r asks for; ids name what it changes in every
// log line (zap.String(observe.KeySourceID, id)).
func (a *API) change(r *http.Request, ids ...zap.Field) *change {
	return &change{a: a, r: r, log: a.log.With(append([]zap.Field{zap.String(observe.KeyRoute, routeOf(r))}, ids...)...)}
}

// write runs op, one store write, bounded by Config.WriteTimeout. When op
// fails, write logs failed at warn with the error and returns the 503
// saying that what was not stored.
func (c *change) write(failed, what string, op func(ctx context.Context) error) error {
	ctx, cancel := c.a.writeCtx(c.r)
	defer cancel()
	if err := op(ctx); err != nil {
		c.log.Warn(failed, zap.Error(err))
		return unavailable(what, err)
	}
	return nil
}

// writeCtx bounds one store write.
func (a *API) writeCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), a.cfg.WriteTimeout)
}

// put stores v under key in st, as write does.
func put[V any](c *change, st Store[V], key string, v V, failed, what string) error {
	return c.write(failed, what, func(ctx context.Context) error { return st.Put(ctx, key, v) })
}

// answerPut answers a PUT that stored body under a key: 201 Created with
// Location when the key was new (existed false), else 200. The change is
// logged at info as "<noun> created" or "<noun> replaced", with fields.
func (c *change) answerPut(w http.ResponseWriter, existed bool, noun, location string, body any, fields ...zap.Field) error {
	status, what := http.StatusOK, noun+" replaced"
	if !existed {
		status, what = http.StatusCreated, noun+" created"
		w.Header().Set("Location", location)
	}
	c.log.Info(what, fields...)
	httpx.WriteJSON(w, status, body)
	return nil
}

// deleteKey answers a DELETE of key from st: a 404 naming noun when st
// holds no such key, a 503 when the tombstone was not written, else a 204.
// The change is logged as "<noun> deleted", or at warn as "<noun> not
// deleted". It holds the API's lock, so the check and the delete are one
// step for this process.
func deleteKey[V any](c *change, w http.ResponseWriter, st Store[V], noun, key string) error {
	c.a.mu.Lock()
	defer c.a.mu.Unlock()
	if _, ok := st.Get(key); !ok {
		return notFound(noun, key)
	}
	if err := c.write(noun+" not deleted", "the deletion", func(ctx context.Context) error { return st.Delete(ctx, key) }); err != nil {
		return err
	}
	c.log.Info(noun + " deleted")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// unavailable is the answer to a failed store write.
func unavailable(what string, err error) error {
	e := httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "%s was not stored: %v; nothing changed, retry later", what, err)
	e.RetryAfter = RetryAfter
	return e
}

func notFound(what, id string) error {
	return httpx.Errorf(http.StatusNotFound, httpx.CodeNotFound, "%s %q does not exist", what, id)
}
