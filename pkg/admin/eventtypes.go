package admin

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/observe"
)

func (a *API) putEventType(w http.ResponseWriter, r *http.Request) error {
	var et catalog.EventType
	if err := a.decodeNamed(w, r, &et, &et.Name, "name", "type"); err != nil {
		return err
	}
	if err := et.Validate(); err != nil {
		return validationError(err, eventTypeDocRule)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// The merged catalog must still hold together: no name or alias of
	// this type may belong to another type.
	known := a.isOwnName(et.Name)
	if err := a.checkMerged(et); err != nil {
		return err
	}
	c := a.change(r, zap.String(observe.KeyEventType, et.Name))
	if err := put(c, a.deps.EventTypes, et.Name, et, "event type not stored", "the event type"); err != nil {
		return err
	}
	// Read-your-writes in this process; the owner of the catalog applies
	// the same change when it reads the store.
	if err := a.deps.Catalog.Put(et); err != nil {
		a.log.Warn("event type stored but not applied to the live catalog", zap.String(observe.KeyEventType, et.Name), zap.Error(err))
	}
	return c.answerPut(w, known, "event type", "/v1/event-types/"+et.Name, et)
}

// eventTypeList is the body of GET /v1/event-types.
type eventTypeList struct {
	EventTypes []catalog.EventType `json:"event_types"`
}

func (a *API) listEventTypes(*http.Request) (any, error) {
	return eventTypeList{EventTypes: orEmpty(a.deps.Catalog.List())}, nil
}

// isOwnName reports whether name is a type's canonical name in the
// catalog, not an alias of another type.
func (a *API) isOwnName(name string) bool {
	et, ok := a.deps.Catalog.Lookup(name)
	return ok && et.Name == name
}

// checkMerged refuses et when the catalog with et in place of the type of
// the same name would not hold together.
func (a *API) checkMerged(et catalog.EventType) error {
	types := a.deps.Catalog.List()
	merged := make([]catalog.EventType, 0, len(types)+1)
	for _, t := range types {
		if t.Name != et.Name {
			merged = append(merged, t)
		}
	}
	merged = append(merged, et)
	if err := (&catalog.Catalog{}).Replace(merged); err != nil {
		e := validationError(err, nil).(*httpx.Error)
		e.Status, e.Code = http.StatusConflict, httpx.CodeConflict
		return e
	}
	return nil
}
