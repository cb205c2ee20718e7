package registry

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// The compatibility check and the config and mode routes.

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

// compatibilitySetting is the body of PUT /config[/{subject}] and of its
// answer.
type compatibilitySetting struct {
	Compatibility string `json:"compatibility"`
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
	var body compatibilitySetting
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
	return compatibilitySetting{level}, nil
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
