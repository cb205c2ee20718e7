package admin

import (
	"errors"
	"net/http"
	"sort"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/observe"
)

// redacted is what catalog.Source.Redacted puts in place of a secret. A PUT
// that sends it back keeps the stored value, so GET, edit, PUT works
// without re-typing secrets.
const redacted = "[redacted]"

// sourceList is the body of GET /v1/sources.
type sourceList struct {
	Sources []catalog.Source `json:"sources"`
}

func (a *API) listSources(*http.Request) (any, error) {
	return sourceList{Sources: listOf(a.deps.Sources.List(), catalog.Source.Redacted)}, nil
}

func (a *API) getSource(r *http.Request) (any, error) {
	s, err := lookup(a.deps.Sources, "source", r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return s.Redacted(), nil
}

func (a *API) putSource(w http.ResponseWriter, r *http.Request) error {
	var src catalog.Source
	if err := a.decodeNamed(w, r, &src, &src.ID, "id", "id"); err != nil {
		return err
	}
	id := src.ID
	a.mu.Lock()
	defer a.mu.Unlock()
	cur, exists := a.deps.Sources.Get(id)
	if err := keepRedacted(&src, cur, exists); err != nil {
		return validationError(err, sourceDocRule)
	}
	if err := src.Validate(); err != nil {
		return validationError(err, sourceDocRule)
	}
	c := a.change(r, zap.String(observe.KeySourceID, id))
	if err := put(c, a.deps.Sources, id, src, "source not stored", "the source"); err != nil {
		return err
	}
	return c.answerPut(w, exists, "source", "/v1/sources/"+id, src.Redacted())
}

// keepRedacted puts back the stored secret and loader header values where
// src carries the redaction placeholder, and refuses a placeholder that
// has no stored value behind it.
func keepRedacted(src *catalog.Source, cur catalog.Source, exists bool) error {
	var errs []error
	if sig := src.Signature; sig != nil && sig.Secret == redacted {
		if exists && cur.Signature != nil && cur.Signature.Scheme == sig.Scheme {
			s := *sig
			s.Secret = cur.Signature.Secret
			src.Signature = &s
		} else {
			errs = append(errs, &catalog.FieldError{Field: "signature.secret",
				Message: "is the redaction placeholder " + redacted + " but no stored secret of this scheme exists; send the real secret"})
		}
	}
	entities := make([]string, 0, len(src.Loaders))
	for e := range src.Loaders {
		entities = append(entities, e)
	}
	sort.Strings(entities)
	for _, e := range entities {
		l := src.Loaders[e]
		names := make([]string, 0, len(l.Headers))
		for h, v := range l.Headers {
			if v == redacted {
				names = append(names, h)
			}
		}
		if len(names) == 0 {
			continue
		}
		sort.Strings(names)
		headers := make(map[string]string, len(l.Headers))
		for h, v := range l.Headers {
			headers[h] = v
		}
		for _, h := range names {
			stored, ok := cur.Loaders[e].Headers[h]
			if !exists || !ok {
				errs = append(errs, &catalog.FieldError{Field: "loaders." + e + ".headers." + h,
					Message: "is the redaction placeholder " + redacted + " but no stored value exists; send the real value"})
				continue
			}
			headers[h] = stored
		}
		l.Headers = headers
		if src.Loaders != nil {
			loaders := make(map[string]catalog.Loader, len(src.Loaders))
			for k, v := range src.Loaders {
				loaders[k] = v
			}
			loaders[e] = l
			src.Loaders = loaders
		}
	}
	return errors.Join(errs...)
}

func (a *API) deleteSource(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	return deleteKey(a.change(r, zap.String(observe.KeySourceID, id)), w, a.deps.Sources, "source", id)
}
