package registry

import (
	"math"
	"net/http"
	"slices"
	"strconv"
)

// The read routes: schemas by id, subjects and their versions.

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

// pathVersion is the version the path names ({subject} and {version}),
// soft-deleted ones too with ?deleted=true.
func (r *Registry) pathVersion(req *http.Request, p params) (v *versionInfo, err error) {
	r.read(func(st *state) { v, err = findVersion(st, p["subject"], p["version"], flag(req, "deleted")) })
	return v, err
}

func (r *Registry) getVersion(req *http.Request, p params) (any, error) {
	v, err := r.pathVersion(req, p)
	if err != nil {
		return nil, err
	}
	return showVersion(v), nil
}

func (r *Registry) getVersionText(req *http.Request, p params) (any, error) {
	v, err := r.pathVersion(req, p)
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
