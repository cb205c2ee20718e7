package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
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

// subjectSchema is a subject version as the API shows it.
type subjectSchema struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"` // omitted for AVRO, as Confluent does
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
}

func showVersion(v *versionInfo) subjectSchema {
	return subjectSchema{Subject: v.subject, Version: v.version, ID: v.schema.id,
		SchemaType: foreignType(v.schema.schemaType), References: v.schema.refs, Schema: v.schema.text}
}

func errSubject(subject string) error {
	return apiErr(errSubjectNotFound, "Subject '%s' not found.", subject)
}

// parseVersion reads a version path segment: a number from 1 to 2^31-1,
// "latest" or -1 (returned as -1).
func parseVersion(raw string) (int, error) {
	if raw == "latest" || raw == "-1" {
		return -1, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > math.MaxInt32 {
		return 0, apiErr(errInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", raw)
	}
	return n, nil
}

// findVersion resolves a version segment among subject's versions.
func findVersion(st *state, subject, raw string, deleted bool) (*versionInfo, error) {
	n, err := parseVersion(raw)
	if err != nil {
		return nil, err
	}
	vs := st.versionsOf(subject, deleted)
	if len(vs) == 0 {
		return nil, errSubject(subject)
	}
	if n == -1 {
		return vs[len(vs)-1], nil
	}
	for _, v := range vs {
		if v.version == n {
			return v, nil
		}
	}
	return nil, apiErr(errVersionNotFound, "Version %d not found.", n)
}

func parseID(raw string) (int, error) {
	id, err := strconv.Atoi(raw)
	if err != nil || id < 1 {
		return 0, apiErr(errSchemaNotFound, "Schema %s not found", raw)
	}
	return id, nil
}

func (r *Registry) getSchemas(req *http.Request, _ params) (any, error) {
	deleted, latestOnly := flag(req, "deleted"), flag(req, "latestOnly")
	prefix := req.URL.Query().Get("subjectPrefix")
	out := []subjectSchema{}
	r.read(func(st *state) {
		for _, name := range st.subjectNames(deleted, prefix) {
			vs := st.versionsOf(name, deleted)
			if latestOnly {
				vs = vs[len(vs)-1:]
			}
			for _, v := range vs {
				out = append(out, showVersion(v))
			}
		}
	})
	return out, nil
}

func (r *Registry) schemaByID(raw string) (*schemaInfo, int, error) {
	id, err := parseID(raw)
	if err != nil {
		return nil, 0, err
	}
	var info *schemaInfo
	var maxID int
	r.read(func(st *state) { info, maxID = st.byID[id], st.maxID })
	if info == nil {
		return nil, 0, apiErr(errSchemaNotFound, "Schema %d not found", id)
	}
	return info, maxID, nil
}

func (r *Registry) getSchemaByID(req *http.Request, p params) (any, error) {
	info, maxID, err := r.schemaByID(p["id"])
	if err != nil {
		return nil, err
	}
	out := struct {
		SchemaType string      `json:"schemaType,omitempty"`
		References []Reference `json:"references,omitempty"`
		Schema     string      `json:"schema"`
		MaxID      int         `json:"maxId,omitempty"`
	}{SchemaType: foreignType(info.schemaType), References: info.refs, Schema: info.text}
	if flag(req, "fetchMaxId") {
		out.MaxID = maxID
	}
	return out, nil
}

func (r *Registry) getSchemaTextByID(_ *http.Request, p params) (any, error) {
	info, _, err := r.schemaByID(p["id"])
	if err != nil {
		return nil, err
	}
	return rawBody(info.text), nil
}

// usagesByID lists the subject versions using an id; soft-deleted ones
// only when asked, but the id itself resolves either way.
func (r *Registry) usagesByID(req *http.Request, p params) ([]*versionInfo, error) {
	if _, _, err := r.schemaByID(p["id"]); err != nil {
		return nil, err
	}
	id, _ := parseID(p["id"])
	var vs []*versionInfo
	r.read(func(st *state) {
		vs = st.usages(id, flag(req, "deleted"))
		if s := req.URL.Query().Get("subject"); s != "" {
			vs = slices.DeleteFunc(vs, func(v *versionInfo) bool { return v.subject != s })
		}
	})
	return vs, nil
}

func (r *Registry) getSubjectsByID(req *http.Request, p params) (any, error) {
	vs, err := r.usagesByID(req, p)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, v := range vs {
		if !slices.Contains(out, v.subject) {
			out = append(out, v.subject)
		}
	}
	return out, nil
}

func (r *Registry) getVersionsByID(req *http.Request, p params) (any, error) {
	vs, err := r.usagesByID(req, p)
	if err != nil {
		return nil, err
	}
	type subjectVersion struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	out := []subjectVersion{}
	for _, v := range vs {
		out = append(out, subjectVersion{Subject: v.subject, Version: v.version})
	}
	return out, nil
}

func (r *Registry) getSubjects(req *http.Request, _ params) (any, error) {
	var out []string
	prefix := req.URL.Query().Get("subjectPrefix")
	r.read(func(st *state) {
		if flag(req, "deletedOnly") {
			live := st.subjectNames(false, prefix)
			out = slices.DeleteFunc(st.subjectNames(true, prefix), func(s string) bool {
				_, found := slices.BinarySearch(live, s)
				return found
			})
			return
		}
		out = st.subjectNames(flag(req, "deleted"), prefix)
	})
	return out, nil
}

func (r *Registry) getVersions(req *http.Request, p params) (any, error) {
	subject := p["subject"]
	var vs []*versionInfo
	r.read(func(st *state) {
		vs = st.versionsOf(subject, flag(req, "deleted") || flag(req, "deletedOnly"))
		if flag(req, "deletedOnly") {
			vs = slices.DeleteFunc(vs, func(v *versionInfo) bool { return !v.deleted })
		}
	})
	if len(vs) == 0 {
		return nil, errSubject(subject)
	}
	out := make([]int, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.version)
	}
	return out, nil
}

func (r *Registry) getVersion(req *http.Request, p params) (any, error) {
	var v *versionInfo
	var err error
	r.read(func(st *state) { v, err = findVersion(st, p["subject"], p["version"], flag(req, "deleted")) })
	if err != nil {
		return nil, err
	}
	return showVersion(v), nil
}

func (r *Registry) getVersionText(req *http.Request, p params) (any, error) {
	var v *versionInfo
	var err error
	r.read(func(st *state) { v, err = findVersion(st, p["subject"], p["version"], flag(req, "deleted")) })
	if err != nil {
		return nil, err
	}
	return rawBody(v.schema.text), nil
}

// getLatestWithMetadata is Confluent's "latest version with the given
// metadata": the newest version whose metadata properties hold every
// ?key=K&value=V pair given (pairs beyond the shorter list are ignored, as
// Confluent does). Surge's schemas carry no metadata, so with no pair the
// answer is the latest version and with any pair it is 40403; a subject
// without versions is 40401. ?deleted=true also looks at soft-deleted
// versions.
func (r *Registry) getLatestWithMetadata(req *http.Request, p params) (any, error) {
	subject, q := p["subject"], req.URL.Query()
	var v *versionInfo
	r.read(func(st *state) {
		if vs := st.versionsOf(subject, flag(req, "deleted")); len(vs) > 0 {
			v = vs[len(vs)-1]
		}
	})
	if v == nil {
		return nil, errSubject(subject)
	}
	if min(len(q["key"]), len(q["value"])) > 0 {
		return nil, apiErr(errSchemaNotFound, "Schema not found")
	}
	return showVersion(v), nil
}

func (r *Registry) getReferencedBy(req *http.Request, p params) (any, error) {
	var ids []int
	var err error
	r.read(func(st *state) {
		var v *versionInfo
		if v, err = findVersion(st, p["subject"], p["version"], true); err == nil {
			ids = st.referencedBy(v.subject, v.version)
		}
	})
	if err != nil {
		return nil, err
	}
	if ids == nil {
		ids = []int{}
	}
	return ids, nil
}

func (r *Registry) registerSchema(req *http.Request, p params) (any, error) {
	var body registerRequest
	if err := decodeBody(req, &body); err != nil {
		return nil, err
	}
	id, err := r.register(req.Context(), p["subject"], body)
	if err != nil {
		return nil, err
	}
	return struct {
		ID int `json:"id"`
	}{id}, nil
}

func (r *Registry) lookupSchema(req *http.Request, p params) (any, error) {
	subject := p["subject"]
	var body registerRequest
	if err := decodeBody(req, &body); err != nil {
		return nil, err
	}
	deleted := flag(req, "deleted")
	var found *versionInfo
	var err error
	r.read(func(st *state) {
		if len(st.versionsOf(subject, deleted)) == 0 {
			err = errSubject(subject)
			return
		}
		var c *candidate
		if c, err = parseCandidate(st, body); err != nil {
			return
		}
		found = st.findInSubject(subject, c.canonical, deleted)
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, apiErr(errSchemaNotFound, "Schema not found")
	}
	return showVersion(found), nil
}

func (r *Registry) deleteSubject(req *http.Request, p params) (any, error) {
	subject, permanent := p["subject"], flag(req, "permanent")
	nums, err := r.deleteVersions(req.Context(), subject, permanent, func(st *state) ([]*versionInfo, error) {
		all, live := st.versionsOf(subject, true), st.versionsOf(subject, false)
		switch {
		case len(all) == 0:
			return nil, errSubject(subject)
		case !permanent && len(live) == 0:
			return nil, apiErr(errSubjectSoftDeleted, "Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject)
		case !permanent:
			return live, nil
		case len(live) > 0:
			return nil, apiErr(errSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
		default:
			return all, nil
		}
	})
	if err != nil {
		return nil, err
	}
	return nums, nil
}

func (r *Registry) deleteVersion(req *http.Request, p params) (any, error) {
	subject, permanent := p["subject"], flag(req, "permanent")
	n, err := parseVersion(p["version"])
	if err != nil {
		return nil, err
	}
	nums, err := r.deleteVersions(req.Context(), subject, permanent, func(st *state) ([]*versionInfo, error) {
		// A soft delete picks among live versions; a permanent one also
		// sees the soft-deleted ones it is meant to remove.
		v, err := findVersion(st, subject, p["version"], permanent)
		if err != nil {
			if n > 0 && !permanent && st.subjects[subject][n] != nil {
				return nil, apiErr(errVersionSoftDeleted, "Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, n)
			}
			return nil, err
		}
		if permanent && !v.deleted {
			return nil, apiErr(errVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, v.version)
		}
		return []*versionInfo{v}, nil
	})
	if err != nil {
		return nil, err
	}
	return nums[0], nil
}

// compatibilityAnswer is the body of a compatibility check; with
// ?verbose=true it is a verboseCompatibilityAnswer, as with Confluent's
// registry (messages only when asked for, and then always a list).
type compatibilityAnswer struct {
	IsCompatible bool `json:"is_compatible"`
}

type verboseCompatibilityAnswer struct {
	IsCompatible bool     `json:"is_compatible"`
	Messages     []string `json:"messages"`
}

// checkCompatibility answers whether a schema could be registered under
// subject: against the versions its compatibility level checks, or against
// one version. As with Confluent's registry, "latest" of a subject without
// versions has nothing to be incompatible with, and with ?verbose=true an
// invalid schema is answered as incompatible (200, the reason in messages)
// instead of a 422.
func (r *Registry) checkCompatibility(req *http.Request, p params) (any, error) {
	subject, rawVersion := p["subject"], p["version"]
	verbose := flag(req, "verbose")
	var body registerRequest
	if err := decodeBody(req, &body); err != nil {
		return nil, err
	}
	version := 0 // all the level checks
	if rawVersion != "" {
		n, err := parseVersion(rawVersion)
		if err != nil {
			return nil, err
		}
		version = n
	}
	var failed []versionProblems
	var level string
	var err error
	r.read(func(st *state) {
		var c *candidate
		if c, err = parseCandidate(st, body); err != nil {
			return
		}
		level = st.compatibility(subject, r.cfg.DefaultCompatibility)
		checked := checkedVersions(st, subject, level)
		if version != 0 {
			checked = nil
			var v *versionInfo
			if v, err = findCheckedVersion(st, subject, version); err != nil || v == nil {
				return
			}
			if level != CompatNone {
				checked = []*versionInfo{v}
			}
		}
		// Newest first, up to the first that fails, as Confluent's
		// checker reports them.
		slices.Reverse(checked)
		failed = checkAgainst(c, level, checked, true)
	})
	var ae *apiError
	if err != nil && verbose && errors.As(err, &ae) && ae.Code == errInvalidSchema {
		return verboseCompatibilityAnswer{IsCompatible: false, Messages: []string{ae.Message}}, nil
	}
	if err != nil {
		return nil, err
	}
	if verbose {
		return verboseCompatibilityAnswer{IsCompatible: len(failed) == 0, Messages: verboseMessages(failed, level)}, nil
	}
	return compatibilityAnswer{IsCompatible: len(failed) == 0}, nil
}

// findCheckedVersion finds the live version n of subject to check against
// (-1: the latest; nil when the subject has none). A version that does not
// exist is 40402, whether or not the subject does, as Confluent answers.
func findCheckedVersion(st *state, subject string, n int) (*versionInfo, error) {
	vs := st.versionsOf(subject, false)
	if n == -1 {
		if len(vs) == 0 {
			return nil, nil
		}
		return vs[len(vs)-1], nil
	}
	for _, v := range vs {
		if v.version == n {
			return v, nil
		}
	}
	return nil, apiErr(errVersionNotFound, "Version %d not found.", n)
}

// verboseMessages are the messages of a verbose compatibility answer, in
// the shape of Confluent's: for the version that failed, each reason
// ({errorType:..., description:..., additionalInfo:...}), then
// {oldSchemaVersion: N} and {oldSchema: '...'}; last, the rules applied.
// Empty when nothing failed.
func verboseMessages(failed []versionProblems, level string) []string {
	msgs := []string{}
	for _, vp := range failed {
		for _, p := range vp.problems {
			msgs = append(msgs, p.verbose())
		}
		msgs = append(msgs, fmt.Sprintf("{oldSchemaVersion: %d}", vp.version.version),
			fmt.Sprintf("{oldSchema: '%s'}", vp.version.schema.text))
	}
	if len(msgs) > 0 {
		// Surge has no field validation (Confluent's
		// schema.validate.fields), so it is always false.
		msgs = append(msgs, fmt.Sprintf("{validateFields: 'false', compatibility: '%s'}", level))
	}
	return msgs
}

type compatibilityLevel struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

func (r *Registry) getConfig(req *http.Request, p params) (any, error) {
	subject := p["subject"]
	var level string
	var set bool
	r.read(func(st *state) {
		level = st.compatibility(subject, r.cfg.DefaultCompatibility)
		_, set = st.subjectCompat[subject]
	})
	if subject != "" && !set && !flag(req, "defaultToGlobal") {
		return nil, apiErr(errSubjectCompatNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subject)
	}
	return compatibilityLevel{level}, nil
}

func (r *Registry) putConfig(req *http.Request, p params) (any, error) {
	var body struct {
		Compatibility string `json:"compatibility"`
	}
	if err := decodeBody(req, &body); err != nil {
		return nil, err
	}
	level, ok := parseCompat(body.Compatibility)
	if !ok {
		return nil, apiErr(errInvalidCompatibility, "Invalid compatibility level %q. Valid values are %s", body.Compatibility, strings.Join(compatLevels, ", "))
	}
	if err := r.setCompatibility(req.Context(), p["subject"], level); err != nil {
		return nil, err
	}
	return struct {
		Compatibility string `json:"compatibility"`
	}{level}, nil
}

func (r *Registry) deleteConfig(req *http.Request, p params) (any, error) {
	subject := p["subject"]
	var old string
	var set, exists bool
	r.read(func(st *state) {
		old = st.compatibility(subject, r.cfg.DefaultCompatibility)
		_, set = st.subjectCompat[subject]
		exists = len(st.subjects[subject]) > 0
		if subject == "" {
			set = st.globalCompat != ""
		}
	})
	switch {
	case subject != "" && !set && !exists:
		return nil, errSubject(subject)
	case subject != "" && !set:
		return nil, apiErr(errSubjectCompatNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subject)
	case set:
		if err := r.setCompatibility(req.Context(), subject, ""); err != nil {
			return nil, err
		}
	}
	return compatibilityLevel{old}, nil
}

// getMode answers for clients that ask: this registry is always READWRITE.
func getMode(*http.Request, params) (any, error) {
	return struct {
		Mode string `json:"mode"`
	}{"READWRITE"}, nil
}
