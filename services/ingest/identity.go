package ingest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/httpx"
)

// CodeUnresolvedEntity is the error code of an event whose entity id the
// source's identity rules cannot give (422): nothing was accepted, and the
// same request succeeds once the event carries the rule's field or the
// alias exists.
const CodeUnresolvedEntity = "unresolved_entity"

// Aliases resolves a sender's own id of an entity to the entity id Surge
// keys it by (store.AliasLookup over commerce.entity-aliases). Alias must
// be safe for concurrent use; it may wait for the alias table to catch up
// (bounded by ctx), and an error means it could not tell.
type Aliases interface {
	Alias(ctx context.Context, source, entityType, senderID string) (entityID string, ok bool, err error)
}

// fieldNames say where an event's parts are in a request of one format,
// for error fields: its data ("data", Adobe's "data.value") and the
// sender's own entity id.
type fieldNames struct {
	data, entityID string
}

var (
	canonicalFields   = fieldNames{data: "data", entityID: "entity.id"}
	adobeFields       = fieldNames{data: "data.value", entityID: "data.value"}
	cloudEventsFields = fieldNames{data: "data", entityID: "data"}
)

// identify applies src's identity rules (catalog.IdentityRule) to evs in
// place, after decoding. For an event whose entity type has a rule:
//
//  1. the rule's field, when the event's data carries it, is the entity
//     id;
//  2. else, when the rule uses aliases, the alias of the sender's own
//     entity id (what the format gave) in src is;
//  3. else the event is refused: 422 unresolved_entity, never keyed by
//     the sender's id, which would fork the entity in two.
//
// When the id changes, the sender's is kept in Origin.EntityID. Events of
// entity types without a rule are left as they are. Like decoding, a
// batch (batch true, items named name+"[i]") is all or nothing and its
// error lists every unresolved item. An alias table that cannot be read
// is a 503.
func identify(ctx context.Context, src catalog.Source, aliases Aliases, evs []event.Event, names fieldNames, batch bool, name string) error {
	if len(src.Identity) == 0 {
		return nil
	}
	var bad []httpx.ItemError
	for i := range evs {
		err := identifyOne(ctx, src, aliases, &evs[i], names)
		if err == nil {
			continue
		}
		he, ok := err.(*httpx.Error)
		if !ok || !batch || he.Status != http.StatusUnprocessableEntity {
			return err
		}
		bad = append(bad, httpx.ItemError{Index: i, Code: he.Code, Message: he.Message, Field: joinField(name+"["+strconv.Itoa(i)+"]", he.Field)})
	}
	if len(bad) == 0 {
		return nil
	}
	return &httpx.Error{Status: http.StatusUnprocessableEntity, Code: CodeUnresolvedEntity, Items: bad,
		Message: fmt.Sprintf("%d of %d events name an entity the identity rules of source %q cannot resolve; nothing was accepted", len(bad), len(evs), src.ID)}
}

// aliasWait bounds the wait for the alias table on a miss.
const aliasWait = 5 * time.Second

func identifyOne(ctx context.Context, src catalog.Source, aliases Aliases, ev *event.Event, names fieldNames) error {
	rule, ok := src.Identity[ev.Entity.Type]
	if !ok {
		return nil
	}
	sender := ev.Entity.ID
	id, found := rule.Lookup(ev.Data)
	if !found && rule.Aliases && aliases != nil {
		actx, cancel := context.WithTimeout(ctx, aliasWait)
		var err error
		id, found, err = aliases.Alias(actx, src.ID, ev.Entity.Type, sender)
		cancel()
		if err != nil {
			return &httpx.Error{Status: http.StatusServiceUnavailable, Code: httpx.CodeUnavailable, RetryAfter: 5 * time.Second,
				Message: fmt.Sprintf("the entity aliases could not be read to resolve %s %q: %v; nothing was accepted, retry later", ev.Entity.Type, sender, err)}
		}
	}
	if found {
		if id != sender {
			ev.Origin.EntityID = sender
			ev.Entity.ID = id
		}
		return nil
	}
	return unresolved(src.ID, rule, ev.Entity.Type, sender, names)
}

// unresolved is the 422 of an event the rule gives no id, naming what
// would have given it one.
func unresolved(source string, rule catalog.IdentityRule, entityType, sender string, names fieldNames) *httpx.Error {
	field := names.entityID
	var why string
	addAlias := fmt.Sprintf("PUT /v1/sources/%s/aliases/%s/%s on the admin API adds one", source, entityType, url.PathEscape(sender))
	switch {
	case rule.Field != "" && rule.Aliases:
		field = names.data + strings.TrimPrefix(rule.Field, "data")
		why = fmt.Sprintf("%s is not in the event and %s %q has no alias (%s)", field, entityType, sender, addAlias)
	case rule.Field != "":
		field = names.data + strings.TrimPrefix(rule.Field, "data")
		why = fmt.Sprintf("%s is not in the event, and source %q keys its %s entities by it", field, source, entityType)
	default:
		why = fmt.Sprintf("%s %q has no alias (%s)", entityType, sender, addAlias)
	}
	return &httpx.Error{Status: http.StatusUnprocessableEntity, Code: CodeUnresolvedEntity, Field: field,
		Message: fmt.Sprintf("cannot resolve the %s id for source %q: %s; the event was not accepted, so no second %s was made of it", entityType, source, why, entityType)}
}
