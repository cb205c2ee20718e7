package httpx

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Defaults of Drain.
const (
	// DefaultDrainBytes is 64 times ingest's default body limit: enough
	// for the runaway batches and exports clients send by mistake (tens of
	// MiB), and it costs no memory — discarded bytes go through a small
	// buffer — only bandwidth the client spends anyway.
	DefaultDrainBytes = 64 << 20
	// DefaultDrainTimeout frees the connection of a slow or stalled
	// client: 64 MiB in 10 s takes ~54 Mbit/s; a slower client is cut
	// off when the time is up.
	DefaultDrainTimeout = 10 * time.Second
)

// Drain bounds how much of a request body a listener reads and throws
// away after a handler answered without reading the body to its end (a
// 413, or a 401, 404 or 415 decided from the headers).
//
// Without it, Go's server reads at most 256 KiB of such a body and then
// closes the connection with the rest unread, and the kernel answers the
// client's next bytes with a reset. A client that writes its whole body
// before reading the answer (Python's urllib and requests, PHP stream
// clients) then sees ECONNRESET or EPIPE, never the JSON error. Reading
// and discarding the rest first — nginx's lingering close — lets such a
// client finish writing and read the answer.
type Drain struct {
	// MaxBytes is the most unread body discarded. A body whose
	// Content-Length says more is left is not read at all: the
	// connection closes at once. 0 means DefaultDrainBytes.
	MaxBytes int64
	// MaxTime bounds the discarding, counted from when the answer is
	// sent. 0 means DefaultDrainTimeout.
	MaxTime time.Duration
}

// Flags registers the drain settings on fs with their defaults.
func (d *Drain) Flags(fs *pflag.FlagSet) {
	fs.Int64Var(&d.MaxBytes, "drain-body-bytes", DefaultDrainBytes,
		"after an early answer (413, 401, ...), most unread request body bytes read and discarded so that clients that send before they read get the answer; a longer body closes the connection")
	fs.DurationVar(&d.MaxTime, "drain-body-timeout", DefaultDrainTimeout,
		"after an early answer, longest time spent discarding the unread request body before closing the connection")
}

// Validate checks the settings without doing any I/O.
func (d *Drain) Validate() error {
	var errs []error
	if d.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("SURGE_DRAIN_BODY_BYTES (--drain-body-bytes) must not be negative, got %d", d.MaxBytes))
	}
	if d.MaxTime < 0 || d.MaxTime > 10*time.Minute {
		errs = append(errs, fmt.Errorf("SURGE_DRAIN_BODY_TIMEOUT (--drain-body-timeout) must be between 0 and 10m, got %s", d.MaxTime))
	}
	return errors.Join(errs...)
}

func (d Drain) withDefaults() Drain {
	if d.MaxBytes == 0 {
		d.MaxBytes = DefaultDrainBytes
	}
	if d.MaxTime == 0 {
		d.MaxTime = DefaultDrainTimeout
	}
	return d
}

// DrainUnread wraps h so that an answer sent before the request body was
// read to its end reaches the client: the answer is sent with
// "Connection: close", then the rest of the body is read and discarded
// within d's bounds, then the connection closes. Past the bounds the
// connection closes with the body unread, as without DrainUnread.
//
// A request that announced "Expect: 100-continue" and whose body h never
// read is not drained: the client was never told to send it. HTTP/2
// requests pass through untouched (a stream reset does not lose the
// answer).
func DrainUnread(h http.Handler, d Drain) http.Handler {
	d = d.withDefaults()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 || r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		// Keep the body readable after the answer's headers are out; by
		// default Go's server gives it up at that point.
		_ = rc.EnableFullDuplex()
		body := &trackedBody{ReadCloser: r.Body}
		r.Body = body
		tw := &trackingWriter{ResponseWriter: w, body: body}
		h.ServeHTTP(tw, r)
		if body.finished() {
			return
		}
		if body.read == 0 && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
			return // the client waits for a go-ahead it never got
		}
		if r.ContentLength > 0 && r.ContentLength-body.read > d.MaxBytes {
			return // hopeless: close now rather than read what we would reset anyway
		}
		tw.sendNow()
		_ = rc.SetReadDeadline(time.Now().Add(d.MaxTime))
		// The deadline stays: the server's own cleanup read of a body
		// given up on is bounded by it too, and the connection closes.
		_, _ = io.CopyN(io.Discard, body, d.MaxBytes+1)
	})
}

// trackedBody is a request body that knows whether it was read to its
// end. Only the handler's goroutine, then DrainUnread's, read it.
type trackedBody struct {
	io.ReadCloser
	read   int64
	eof    bool
	failed bool // a read error other than EOF: nothing more will come
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil:
		b.failed = true
	}
	return n, err
}

// Close does nothing: a handler closing the body must not stop the drain,
// and the server closes the real body itself once the request is done.
func (b *trackedBody) Close() error { return nil }

func (b *trackedBody) finished() bool { return b.eof || b.failed }

// trackingWriter marks an answer sent while the body is unread with
// "Connection: close": the connection ends after the drain.
type trackingWriter struct {
	http.ResponseWriter
	body  *trackedBody
	wrote bool
}

func (w *trackingWriter) WriteHeader(status int) {
	if !w.wrote && status >= 200 {
		w.wrote = true
		if !w.body.finished() {
			w.Header().Set("Connection", "close")
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *trackingWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends what was written so far (http.Flusher).
func (w *trackingWriter) Flush() {
	w.sendNow()
}

// sendNow writes the header if the handler did not, and flushes the
// answer to the client.
func (w *trackingWriter) sendNow() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController the server's writer.
func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
