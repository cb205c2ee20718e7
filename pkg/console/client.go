package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// apiError is an error answer of the admin API.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (e *apiError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// answer records the admin API's answer to one in-process call.
type answer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *answer) Header() http.Header { return a.header }
func (a *answer) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	return a.body.Write(b)
}
func (a *answer) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}

// call sends method path (with a JSON body unless in is nil) to the admin
// API in process, with the admin token, and decodes a 2xx answer into out
// (unless out is nil). An error answer is an *apiError.
func (c *Console) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return err
	}
	req.RequestURI = path
	req.RemoteAddr = "console"
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	a := &answer{header: http.Header{}}
	c.cfg.API.ServeHTTP(a, req)
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.status >= 300 {
		var e struct {
			Error apiError `json:"error"`
		}
		if err := json.Unmarshal(a.body.Bytes(), &e); err != nil || e.Error.Message == "" {
			return &apiError{Status: a.status, Message: fmt.Sprintf("%s %s answered %d", method, path, a.status)}
		}
		e.Error.Status = a.status
		return &e.Error
	}
	if out == nil || a.status == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(a.body.Bytes(), out); err != nil {
		return fmt.Errorf("decoding the answer of %s %s: %w", method, path, err)
	}
	return nil
}
