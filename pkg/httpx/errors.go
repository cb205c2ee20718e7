// Package httpx holds the HTTP pieces every Surge listener shares: the JSON
// error body, JSON responses, bounded request bodies (ReadBody) and the
// drain that lets an early answer reach clients that send their whole
// body before reading (DrainUnread), and serving with graceful shutdown.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Error is an HTTP error with the JSON body every Surge API answers with:
//
//	{"error":{"code":"...","message":"...","field":"...","items":[...]}}
//
// Code is a stable machine-readable word; Message is for people.
type Error struct {
	Status     int           `json:"-"`
	Code       string        `json:"code"`
	Message    string        `json:"message"`
	Field      string        `json:"field,omitempty"`
	Items      []ItemError   `json:"items,omitempty"`
	RetryAfter time.Duration `json:"-"` // sets Retry-After when > 0
}

// ItemError is one bad item of a batch, by its index in the request.
type ItemError struct {
	Index   int    `json:"index"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%d %s: %s (field %s)", e.Status, e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Errorf builds an Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error codes used across the APIs.
const (
	CodeMalformed        = "malformed"          // 400: body is not what the endpoint takes
	CodeUnknownEventType = "unknown_event_type" // 400: do not retry
	CodeBadSignature     = "bad_signature"      // 401
	CodeUnauthorized     = "unauthorized"       // 401: missing/bad bearer token
	CodeNotFound         = "not_found"          // 404
	CodeMethodNotAllowed = "method_not_allowed" // 405
	CodeConflict         = "conflict"           // 409
	CodeTooLarge         = "too_large"          // 413
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeInvalid          = "invalid"     // 422: schema / validation failure
	CodeOverloaded       = "overloaded"  // 429: in-flight budget exhausted
	CodeUnavailable      = "unavailable" // 503: Kafka slow or down
	CodeInternal         = "internal"
)

// WriteError writes err as the JSON error body. A non-*Error becomes a 500
// whose message does not leak internals.
func WriteError(w http.ResponseWriter, err error) {
	e, ok := err.(*Error)
	if !ok {
		e = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"}
	}
	if e.RetryAfter > 0 {
		secs := int(e.RetryAfter.Round(time.Second) / time.Second)
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	WriteJSON(w, e.Status, struct {
		Error *Error `json:"error"`
	}{e})
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Serve serves h on ln until ctx ends, then shuts down gracefully within
// 10 s. It returns nil after a clean shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutting down HTTP: %w", err)
	}
	return nil
}

// ListenAndServe listens on addr and serves h like Serve; the error of a
// taken port names the address.
func ListenAndServe(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	return Serve(ctx, ln, h)
}

// ServeWhile serves h on addr while run runs: it returns when run returns
// (the listener is then shut down) or when the listener fails (run's
// context is then cancelled and ServeWhile waits for it). It is how a
// stage process serves its health and metrics next to its work.
func ServeWhile(ctx context.Context, addr string, h http.Handler, run func(context.Context) error) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	httpErr := make(chan error, 1)
	go func() {
		err := Serve(ctx, ln, h)
		cancel() // a listener that failed stops the process
		httpErr <- err
	}()
	runErr := run(ctx)
	cancel()
	return errors.Join(runErr, <-httpErr)
}
