package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// ContentType is the media type of every answer, as Confluent's registry.
const ContentType = "application/vnd.schemaregistry.v1+json"

// Confluent's error codes. The HTTP status is the first three digits.
const (
	errNotFound                   = 404
	errMethodNotAllowed           = 405
	errIncompatible               = 409
	errUnsupportedMedia           = 415
	errSubjectNotFound            = 40401
	errVersionNotFound            = 40402
	errSchemaNotFound             = 40403
	errSubjectSoftDeleted         = 40404
	errSubjectNotSoftDeleted      = 40405
	errVersionSoftDeleted         = 40406
	errVersionNotSoftDeleted      = 40407
	errSubjectCompatNotConfigured = 40408
	errInvalidSchema              = 42201
	errInvalidVersion             = 42202
	errInvalidCompatibility       = 42203
	errOperationNotPermitted      = 42205
	errReferenceExists            = 42206
	errInvalidSubject             = 42208
	errStore                      = 50001
	errTimeout                    = 50002
	errBadRequest                 = 400
	errTooLarge                   = 413
)

const (
	// maxBodyBytes bounds a request body; the topic takes records up to
	// about 1 MB by default anyway.
	maxBodyBytes = 8 << 20
	// readyWait is how long a request waits for the initial load of the
	// topic before it is refused.
	readyWait = 10 * time.Second
)

// apiError is an error answered as {"error_code":N,"message":"..."}.
type apiError struct {
	status  int
	Code    int    `json:"error_code"`
	Message string `json:"message"`
	cause   error
}

func (e *apiError) Error() string { return e.Message }
func (e *apiError) Unwrap() error { return e.cause }

func apiErr(code int, format string, args ...any) *apiError {
	status := code
	for status >= 1000 {
		status /= 10
	}
	return &apiError{status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// storeErr reports a failure to read or write the topic.
func storeErr(doing string, err error) *apiError {
	if errors.Is(err, context.DeadlineExceeded) {
		e := apiErr(errTimeout, "Operation timed out while %s: %v", doing, err)
		e.cause = err
		return e
	}
	e := apiErr(errStore, "Error in the backend data store while %s: %v", doing, err)
	e.cause = err
	return e
}

// rawBody is written as is (a schema's text).
type rawBody string

type params map[string]string

type handlerFunc func(req *http.Request, p params) (any, error)

type route struct {
	method  string
	pattern []string // literal segments, or "{name}" capturing one segment
	handle  handlerFunc
}

// Handler returns the REST API. Requests made before the registry is ready
// wait for it a few seconds, then fail with 50002.
func (r *Registry) Handler() http.Handler {
	rt := func(method, pattern string, h handlerFunc) route {
		return route{method: method, pattern: splitPattern(pattern), handle: h}
	}
	routes := []route{
		rt("GET", "/", func(*http.Request, params) (any, error) { return struct{}{}, nil }),
		rt("GET", "/schemas/types", func(*http.Request, params) (any, error) { return []string{schemaTypeAvro}, nil }),
		rt("GET", "/schemas", r.getSchemas),
		rt("GET", "/schemas/ids/{id}", r.getSchemaByID),
		rt("GET", "/schemas/ids/{id}/schema", r.getSchemaTextByID),
		rt("GET", "/schemas/ids/{id}/subjects", r.getSubjectsByID),
		rt("GET", "/schemas/ids/{id}/versions", r.getVersionsByID),
		rt("GET", "/subjects", r.getSubjects),
		rt("POST", "/subjects/{subject}", r.lookupSchema),
		rt("DELETE", "/subjects/{subject}", r.deleteSubject),
		rt("GET", "/subjects/{subject}/versions", r.getVersions),
		rt("POST", "/subjects/{subject}/versions", r.registerSchema),
		rt("GET", "/subjects/{subject}/versions/{version}", r.getVersion),
		rt("DELETE", "/subjects/{subject}/versions/{version}", r.deleteVersion),
		rt("GET", "/subjects/{subject}/versions/{version}/schema", r.getVersionText),
		rt("GET", "/subjects/{subject}/versions/{version}/referencedby", r.getReferencedBy),
		rt("GET", "/subjects/{subject}/metadata", r.getLatestWithMetadata),
		rt("POST", "/compatibility/subjects/{subject}/versions", r.checkCompatibility),
		rt("POST", "/compatibility/subjects/{subject}/versions/{version}", r.checkCompatibility),
		rt("GET", "/config", r.getConfig),
		rt("PUT", "/config", r.putConfig),
		rt("DELETE", "/config", r.deleteConfig),
		rt("GET", "/config/{subject}", r.getConfig),
		rt("PUT", "/config/{subject}", r.putConfig),
		rt("DELETE", "/config/{subject}", r.deleteConfig),
		rt("GET", "/mode", getMode),
		rt("GET", "/mode/{subject}", getMode),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.serve(w, req, routes)
	})
}

func splitPattern(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func (r *Registry) serve(w http.ResponseWriter, req *http.Request, routes []route) {
	h, p, err := match(req, routes)
	if s, ok := p["subject"]; err == nil && ok && !utf8.ValidString(s) {
		// A subject is stored as JSON text in the topic's keys, which
		// cannot carry it: the record read back would name another
		// subject than the one written.
		err = apiErr(errInvalidSubject, "Invalid subject: %q is not valid UTF-8", s)
	}
	if err == nil && (req.Method == http.MethodPost || req.Method == http.MethodPut) {
		err = checkContentType(req)
	}
	if err == nil && req.URL.Path != "/" {
		err = r.awaitReady(req.Context())
	}
	var body any
	if err == nil {
		req.Body = http.MaxBytesReader(w, req.Body, maxBodyBytes)
		body, err = h(req, p)
	}
	w.Header().Set("Content-Type", ContentType)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = storeErr("serving "+req.Method+" "+req.URL.Path, err)
		}
		if ae.status >= 500 {
			r.log.Error("schema registry request failed", zap.String("method", req.Method),
				zap.String("path", req.URL.Path), zap.Int("error_code", ae.Code), zap.Error(err))
		}
		w.WriteHeader(ae.status)
		_ = json.NewEncoder(w).Encode(ae)
		return
	}
	if raw, ok := body.(rawBody); ok {
		_, _ = w.Write([]byte(raw))
		return
	}
	_ = json.NewEncoder(w).Encode(body)
}

// match finds the route for req and the values of its {name} segments.
// Subjects may hold escaped slashes, so the escaped path is split first.
func match(req *http.Request, routes []route) (handlerFunc, params, error) {
	segs := splitPattern(req.URL.EscapedPath())
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, nil, apiErr(errNotFound, "HTTP 404 Not Found")
		}
		segs[i] = u
	}
	pathMatched := false
	for _, rt := range routes {
		p, ok := matchPattern(rt.pattern, segs)
		if !ok {
			continue
		}
		pathMatched = true
		if rt.method == req.Method {
			return rt.handle, p, nil
		}
	}
	if pathMatched {
		return nil, nil, apiErr(errMethodNotAllowed, "HTTP 405 Method Not Allowed")
	}
	return nil, nil, apiErr(errNotFound, "HTTP 404 Not Found")
}

func matchPattern(pattern, segs []string) (params, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	p := params{}
	for i, s := range pattern {
		if strings.HasPrefix(s, "{") {
			if segs[i] == "" {
				return nil, false
			}
			p[strings.Trim(s, "{}")] = segs[i]
		} else if s != segs[i] {
			return nil, false
		}
	}
	return p, true
}

// checkContentType accepts what Confluent's registry accepts: its own
// media types, plain JSON, octet-stream, or none at all.
func checkContentType(req *http.Request) error {
	ct := req.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		switch mt {
		case "application/vnd.schemaregistry.v1+json", "application/vnd.schemaregistry+json",
			"application/json", "application/octet-stream":
			return nil
		}
	}
	return apiErr(errUnsupportedMedia, "HTTP 415 Unsupported Media Type: %q; send application/vnd.schemaregistry.v1+json or application/json", ct)
}

func (r *Registry) awaitReady(ctx context.Context) error {
	if r.Ready() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		return apiErr(errTimeout, "The schema registry is still loading topic %s; retry later", r.cfg.Topic)
	}
	return nil
}

func decodeBody(req *http.Request, v any) error {
	if err := json.NewDecoder(req.Body).Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return apiErr(errTooLarge, "Request body is larger than %d bytes", tooLarge.Limit)
		}
		return apiErr(errBadRequest, "Malformed JSON request body: %v", err)
	}
	return nil
}

func flag(req *http.Request, name string) bool {
	b, _ := strconv.ParseBool(req.URL.Query().Get(name))
	return b
}
