package admin

import (
	"errors"
	"net/http"
	"sort"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/httpx"
)

// redacted is what catalog.Source.Redacted puts in place of a secret. A PUT
// that sends it back keeps the stored value, so GET, edit, PUT works
// without re-typing secrets.
const redacted = "[redacted]"

// sourceList is the body of GET /v1/sources.
type sourceList struct {
	Sources []catalog.Source `json:"sources"`
}

func (a *API) listSources(w http.ResponseWriter, _ *http.Request) error {
	srcs := a.deps.Sources.List()
	out := sourceList{Sources: make([]catalog.Source, 0, len(srcs))}
	for _, s := range srcs {
		out.Sources = append(out.Sources, s.Redacted())
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getSource(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	s, ok := a.deps.Sources.Get(id)
	if !ok {
		return notFound("source", id)
	}
	httpx.WriteJSON(w, http.StatusOK, s.Redacted())
	return nil
}

func (a *API) putSource(w http.ResponseWriter, r *http.Request) error {
	const route = "PUT /v1/sources/{id}"
	id := r.PathValue("id")
	var src catalog.Source
	if err := a.decodeBody(w, r, &src, nil); err != nil {
		return err
	}
	switch {
	case src.ID == "":
		src.ID = id
	case src.ID != id:
		return unprocessable("id", "\""+src.ID+"\" does not match the id in the path, \""+id+"\"; leave it out or make them equal")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cur, exists := a.deps.Sources.Get(id)
	if err := keepRedacted(&src, cur, exists); err != nil {
		return validationError(err, sourceDocRule)
	}
	if err := src.Validate(); err != nil {
		return validationError(err, sourceDocRule)
	}
	ctx, cancel := a.writeCtx(r)
	defer cancel()
	if err := a.deps.Sources.Put(ctx, id, src); err != nil {
		a.log.Warn("source not stored", zap.String("route", route), zap.String("source_id", id), zap.Error(err))
		return unavailable("the source", err)
	}
	status, what := http.StatusOK, "source replaced"
	if !exists {
		status, what = http.StatusCreated, "source created"
		w.Header().Set("Location", "/v1/sources/"+id)
	}
	a.log.Info(what, zap.String("route", route), zap.String("source_id", id))
	httpx.WriteJSON(w, status, src.Redacted())
	return nil
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
	const route = "DELETE /v1/sources/{id}"
	id := r.PathValue("id")
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.deps.Sources.Get(id); !ok {
		return notFound("source", id)
	}
	ctx, cancel := a.writeCtx(r)
	defer cancel()
	if err := a.deps.Sources.Delete(ctx, id); err != nil {
		a.log.Warn("source not deleted", zap.String("route", route), zap.String("source_id", id), zap.Error(err))
		return unavailable("the deletion", err)
	}
	a.log.Info("source deleted", zap.String("route", route), zap.String("source_id", id))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
