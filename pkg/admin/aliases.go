package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/observe"
)

// Entity aliases of a source (catalog.EntityAlias): the ids the source's
// events give an entity, mapped to the id Surge keys it by, for the
// source's identity rules that use aliases. Ingest reads them from the
// same compacted topic; an alias stored here is used by the next event.

// MaxAliasBatch is the most aliases one POST /v1/sources/{id}/aliases
// may carry.
const MaxAliasBatch = 1000

// aliasList is the body of GET /v1/sources/{id}/aliases and of the answer
// to a POST.
type aliasList struct {
	Aliases []catalog.EntityAlias `json:"aliases"`
}

// aliasPut is the body of PUT /v1/sources/{id}/aliases/{entity_type}/{sender_id}.
type aliasPut struct {
	EntityID string `json:"entity_id"`
}

// aliasBatch is the body of POST /v1/sources/{id}/aliases.
type aliasBatch struct {
	Aliases []aliasItem `json:"aliases"`
}

type aliasItem struct {
	EntityType string `json:"entity_type"`
	SenderID   string `json:"sender_id"`
	EntityID   string `json:"entity_id"`
}

// aliasesReadOnly names the alias fields a request cannot set.
func aliasesReadOnly(name string) bool {
	switch name {
	case "source", "updated_at":
		return true
	}
	return false
}

// aliasStore is the store of aliases, or a 503 when the API has none.
func (a *API) aliasStore() (Store[catalog.EntityAlias], error) {
	if a.deps.Aliases == nil {
		return nil, httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "this admin API has no entity alias store")
	}
	return a.deps.Aliases, nil
}

// aliasSource checks that the path's source exists.
func (a *API) aliasSource(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if _, ok := a.deps.Sources.Get(id); !ok {
		return "", httpx.Errorf(http.StatusNotFound, httpx.CodeNotFound, "source %q does not exist; PUT /v1/sources/%s first", id, id)
	}
	return id, nil
}

// aliasScope is the alias store and the path's source, which must exist.
func (a *API) aliasScope(r *http.Request) (Store[catalog.EntityAlias], string, error) {
	st, err := a.aliasStore()
	if err != nil {
		return nil, "", err
	}
	src, err := a.aliasSource(r)
	return st, src, err
}

// pathAliasKey is the key of the alias the path names under source src.
func pathAliasKey(r *http.Request, src string) string {
	return catalog.AliasKey(src, r.PathValue("entity_type"), r.PathValue("sender_id"))
}

func (a *API) listAliases(r *http.Request) (any, error) {
	st, src, err := a.aliasScope(r)
	if err != nil {
		return nil, err
	}
	entityType := r.URL.Query().Get("entity_type")
	prefix := src + "/"
	if entityType != "" {
		prefix = catalog.AliasKey(src, entityType, "")
	}
	out := aliasList{Aliases: []catalog.EntityAlias{}}
	for _, al := range st.List() {
		if strings.HasPrefix(al.Key(), prefix) {
			out.Aliases = append(out.Aliases, al)
		}
	}
	return out, nil
}

func (a *API) getAlias(r *http.Request) (any, error) {
	st, src, err := a.aliasScope(r)
	if err != nil {
		return nil, err
	}
	return lookup(st, "alias", pathAliasKey(r, src))
}

func (a *API) putAlias(w http.ResponseWriter, r *http.Request) error {
	st, err := a.aliasStore()
	if err != nil {
		return err
	}
	var body aliasPut
	if err := a.decodeBody(w, r, &body, func(name string) bool {
		return aliasesReadOnly(name) || name == "entity_type" || name == "sender_id"
	}); err != nil {
		return err
	}
	src, err := a.aliasSource(r)
	if err != nil {
		return err
	}
	al := catalog.EntityAlias{Source: src, EntityType: r.PathValue("entity_type"), SenderID: r.PathValue("sender_id"),
		EntityID: body.EntityID, UpdatedAt: a.now().UTC()}
	if err := al.Validate(); err != nil {
		return validationError(err, aliasDocRule)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, exists := st.Get(al.Key())
	c := a.change(r, zap.String(observe.KeySourceID, src))
	if err := put(c, st, al.Key(), al, "alias not stored", "the alias"); err != nil {
		return err
	}
	return c.answerPut(w, exists, "alias", aliasPath(al), al, zap.String("entity_type", al.EntityType))
}

// postAliases stores a batch of aliases: all of them are checked first,
// and none is stored when one is invalid. A store failure part way leaves
// the aliases before it stored (each write is one record); sending the
// same batch again is safe.
func (a *API) postAliases(w http.ResponseWriter, r *http.Request) error {
	st, err := a.aliasStore()
	if err != nil {
		return err
	}
	var body aliasBatch
	if err := a.decodeBody(w, r, &body, nil); err != nil {
		return err
	}
	src, err := a.aliasSource(r)
	if err != nil {
		return err
	}
	switch n := len(body.Aliases); {
	case n == 0:
		return &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: "aliases", Message: "is empty; send at least one alias"}
	case n > MaxAliasBatch:
		return &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: "aliases",
			Message: fmt.Sprintf("has %d aliases, more than the %d allowed; split it", n, MaxAliasBatch)}
	}
	now := a.now().UTC()
	out := aliasList{Aliases: make([]catalog.EntityAlias, 0, len(body.Aliases))}
	var errs []error
	for i, it := range body.Aliases {
		al := catalog.EntityAlias{Source: src, EntityType: it.EntityType, SenderID: it.SenderID, EntityID: it.EntityID, UpdatedAt: now}
		if err := al.Validate(); err != nil {
			errs = append(errs, prefixFields(fmt.Sprintf("aliases[%d].", i), err))
		}
		out.Aliases = append(out.Aliases, al)
	}
	if err := errors.Join(errs...); err != nil {
		return validationError(err, aliasDocRule)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	log := a.change(r, zap.String(observe.KeySourceID, src)).log
	ctx, cancel := a.writeCtx(r)
	defer cancel()
	for i, al := range out.Aliases {
		if err := st.Put(ctx, al.Key(), al); err != nil {
			log.Warn("aliases not stored", zap.Int("stored", i), zap.Error(err))
			return unavailable(fmt.Sprintf("alias %d of %d (the %d before it were stored)", i, len(out.Aliases), i), err)
		}
	}
	log.Info("aliases stored", zap.Int("aliases", len(out.Aliases)))
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) deleteAlias(w http.ResponseWriter, r *http.Request) error {
	st, src, err := a.aliasScope(r)
	if err != nil {
		return err
	}
	return deleteKey(a.change(r, zap.String(observe.KeySourceID, src)), w, st, "alias", pathAliasKey(r, src))
}

// aliasPath is the route of one alias, its parts path-escaped.
func aliasPath(al catalog.EntityAlias) string {
	return "/v1/sources/" + al.Source + "/aliases/" + al.EntityType + "/" + url.PathEscape(al.SenderID)
}

// prefixFields prefixes the Field of every field error in err.
func prefixFields(prefix string, err error) error {
	fes := fieldErrors(err)
	out := make([]error, len(fes))
	for i, fe := range fes {
		field := prefix + fe.Field
		if fe.Field == "" {
			field = strings.TrimSuffix(prefix, ".")
		}
		out[i] = &catalog.FieldError{Field: field, Message: fe.Message}
	}
	return errors.Join(out...)
}
