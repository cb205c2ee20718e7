package registry

import (
	"net/http"
)

// The write routes: register, look up and delete schemas.

func (r *Registry) registerSchema(req *http.Request, p params) (any, error) {
	var body registerRequest
	if err := decodeBody(req, &body); err != nil {
		return nil, err
	}
	id, err := r.register(req.Context(), p["subject"], body)
	if err != nil {
		return nil, err
	}
	return registeredID{id}, nil
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

// registeredID is the answer to a registration: the schema's id.
type registeredID struct {
	ID int `json:"id"`
}
