package enrich

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/stream"
)

// maxLoaderBody bounds a loader response.
const maxLoaderBody = 4 << 20

// loaders runs the HTTP calls that fill thin events, in the background so
// that a slow platform does not hold the Kafka transaction of every other
// partition: a handler waits up to `wait` for its load, then defers its
// record (stream.ErrDefer) and gets it back in a later batch, by which time
// the load has usually finished. Loads are keyed by event id, so the same
// event asks once however often it is deferred.
//
// One load is a few tries within the loader's timeout budget: timeouts,
// network errors, 408, 425, 429 and 5xx are tried again after a short
// jittered back-off; 404 and other 4xx, a body that is not a JSON object,
// and an exhausted budget fail the load for good (a *loadFailure): the
// handler then enriches the event without it, with a warning.
//
// It is safe for concurrent use.
type loaders struct {
	client   *http.Client
	attempts int
	wait     time.Duration
	sem      chan struct{} // bounds HTTP calls in flight
	ctx      context.Context
	log      *zap.Logger
	m        *metrics

	mu        sync.Mutex
	calls     map[string]*loadCall
	lastSweep time.Time
}

type loadCall struct {
	done     chan struct{}
	body     json.RawMessage
	err      error
	finished time.Time
}

func newLoaders(ctx context.Context, client *http.Client, attempts, concurrency int, wait time.Duration, log *zap.Logger, m *metrics) *loaders {
	return &loaders{
		client:   client,
		attempts: attempts,
		wait:     wait,
		sem:      make(chan struct{}, concurrency),
		ctx:      ctx,
		log:      log,
		m:        m,
		calls:    map[string]*loadCall{},
	}
}

// load returns the body l gives for ev's entity. It returns an error
// wrapping stream.ErrDefer while the load is still running after the wait,
// a *loadFailure when it failed for good, and ctx's error when ctx ends.
func (ls *loaders) load(ctx context.Context, ev event.Event, l catalog.Loader) (json.RawMessage, error) {
	ls.mu.Lock()
	c, ok := ls.calls[ev.ID]
	if !ok {
		ls.sweepLocked()
		c = &loadCall{done: make(chan struct{})}
		ls.calls[ev.ID] = c
		go ls.run(c, ev, l)
	}
	ls.mu.Unlock()

	var timeout <-chan time.Time
	if ls.wait > 0 {
		t := time.NewTimer(ls.wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-c.done:
	case <-timeout:
		return nil, fmt.Errorf("loading %s: still running after %s: %w", ev.Entity.Key(), ls.wait, stream.ErrDefer)
	case <-ctx.Done():
		return nil, fmt.Errorf("loading %s: %w", ev.Entity.Key(), ctx.Err())
	}
	ls.mu.Lock()
	delete(ls.calls, ev.ID)
	ls.mu.Unlock()
	return c.body, c.err
}

// sweepLocked forgets finished loads nobody came back for (their partition
// moved to another instance) once a minute.
func (ls *loaders) sweepLocked() {
	now := time.Now()
	if now.Sub(ls.lastSweep) < time.Minute {
		return
	}
	ls.lastSweep = now
	for id, c := range ls.calls {
		select {
		case <-c.done:
			if now.Sub(c.finished) > 5*time.Minute {
				delete(ls.calls, id)
			}
		default:
		}
	}
}

func (ls *loaders) run(c *loadCall, ev event.Event, l catalog.Loader) {
	defer func() {
		c.finished = time.Now()
		close(c.done)
	}()
	select {
	case ls.sem <- struct{}{}:
		defer func() { <-ls.sem }()
	case <-ls.ctx.Done():
		c.err = fmt.Errorf("loading %s: %w", ev.Entity.Key(), ls.ctx.Err())
		return
	}
	c.body, c.err = ls.fetch(ls.ctx, ev, l)
}

// fetch is one load: tries within l's timeout budget. A try may use half
// of the budget left, the last try all of it, so a platform that is slow
// but answers within half the budget still succeeds at the first try,
// while a hung connection leaves time for another.
func (ls *loaders) fetch(ctx context.Context, ev event.Event, l catalog.Loader) (json.RawMessage, error) {
	target := l.URLFor(ev.Entity.ID)
	shown := redactURL(target)
	budget := l.Timeout()
	deadline := time.Now().Add(budget)
	backoff := 50 * time.Millisecond
	var (
		lastErr    error
		lastStatus int
		tries      int
	)
	for tries < ls.attempts {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			break
		}
		tries++
		per := remaining
		if tries < ls.attempts {
			per = remaining / 2
		}
		start := time.Now()
		body, status, err := ls.get(ctx, target, l.Headers, per)
		ls.m.loaderSeconds.Observe(time.Since(start).Seconds())
		if ctx.Err() != nil {
			return nil, fmt.Errorf("loading %s: %w", ev.Entity.Key(), ctx.Err())
		}
		lastErr, lastStatus = err, status
		switch {
		case err == nil && status/100 == 2:
			if !isJSONObject(body) {
				ls.m.loaderCalls.WithLabelValues("bad_body").Inc()
				return nil, &loadFailure{entity: ev.Entity.Key(), url: shown, reason: "the loader's body is not a JSON object", tries: tries, status: status}
			}
			ls.m.loaderCalls.WithLabelValues("ok").Inc()
			return body, nil
		case err == nil && status == http.StatusNotFound:
			ls.m.loaderCalls.WithLabelValues("not_found").Inc()
			return nil, &loadFailure{entity: ev.Entity.Key(), url: shown, reason: "the loader answered 404 not found", tries: tries, status: status}
		case err == nil && !retryableStatus(status):
			ls.m.loaderCalls.WithLabelValues("rejected").Inc()
			return nil, &loadFailure{entity: ev.Entity.Key(), url: shown, reason: fmt.Sprintf("the loader answered %d", status), tries: tries, status: status}
		}
		ls.m.loaderCalls.WithLabelValues("retry").Inc()
		ls.log.Debug("loader try failed", zap.String(observe.KeyEventID, ev.ID), zap.String("url", shown),
			zap.Int(observe.KeyAttempts, tries), zap.Int(observe.KeyStatus, status), zap.Error(err))
		wait := backoff/2 + rand.N(backoff)
		if wait >= time.Until(deadline) || tries >= ls.attempts {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("loading %s: %w", ev.Entity.Key(), ctx.Err())
		case <-time.After(wait):
		}
		backoff *= 2
	}
	ls.m.loaderCalls.WithLabelValues("exhausted").Inc()
	last := fmt.Sprintf("status %d", lastStatus)
	if lastErr != nil {
		last = "no answer"
		if errors.Is(lastErr, context.DeadlineExceeded) {
			last = "timed out"
		}
	}
	return nil, &loadFailure{entity: ev.Entity.Key(), url: shown, tries: tries, status: lastStatus, cause: lastErr,
		reason: fmt.Sprintf("the loader gave up after %d tries within %s (last: %s)", tries, budget, last)}
}

// get is one HTTP try. A transport error (timeout included) is returned as
// err with status 0.
func (ls *loaders) get(ctx context.Context, target string, headers map[string]string, timeout time.Duration) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := ls.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxLoaderBody+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading the body: %w", err)
	}
	if len(body) > maxLoaderBody {
		return nil, resp.StatusCode, fmt.Errorf("body larger than %d bytes", maxLoaderBody)
	}
	return body, resp.StatusCode, nil
}

func retryableStatus(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	return status >= 500
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// loadFailure is a load that failed for good. Its reason names no URL
// (it goes into the enriched event, which subscribers receive); Error,
// for the log, does.
type loadFailure struct {
	entity string // "order:100012"
	url    string // redacted
	reason string // "the loader answered 404 not found"
	tries  int
	status int   // last HTTP status; 0 when none was received
	cause  error // last transport error, if any
}

func (f *loadFailure) Error() string {
	msg := fmt.Sprintf("loading %s from %s: %s", f.entity, f.url, f.reason)
	if f.cause != nil {
		msg += ": " + f.cause.Error()
	}
	return msg
}

func (f *loadFailure) Unwrap() error { return f.cause }

// redactURL drops the query and user info of a loader URL before it is
// logged or written to a dead-letter header: they may hold credentials.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}
