package httpx

import (
	"errors"
	"io"
	"net/http"
)

// ReadBody reads the whole request body, up to limit bytes. A body over
// the limit is a 413 too_large (at once when Content-Length says so); a
// body that breaks off is a 400 malformed. Serve the handler through
// DrainUnread so that the 413 reaches clients that send their whole body
// before reading.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the body of %d bytes is over the %d byte limit", r.ContentLength, limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the body is over the %d byte limit", limit)
		}
		return nil, Errorf(http.StatusBadRequest, CodeMalformed, "reading the body: %v", err)
	}
	return body, nil
}
