package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/httpx"
)

// fakeAliases answers from a map keyed by catalog.AliasKey, or fails.
type fakeAliases struct {
	m   map[string]string
	err error
}

func (f fakeAliases) Alias(_ context.Context, source, entityType, senderID string) (string, bool, error) {
	if f.err != nil {
		return "", false, f.err
	}
	id, ok := f.m[catalog.AliasKey(source, entityType, senderID)]
	return id, ok, nil
}

func TestIdentify(t *testing.T) {
	akeneo := catalog.Source{ID: "akeneo", AllowUnsigned: true, Identity: map[string]catalog.IdentityRule{
		"product":  {Field: "data.product.identifier", Aliases: true},
		"family":   {Field: "data.family.label"},
		"category": {Aliases: true},
	}}
	aliases := fakeAliases{m: map[string]string{
		"akeneo/product/u1":  "SKU-1",
		"akeneo/category/c1": "summer",
		"other/product/u2":   "SKU-2",
	}}
	ev := func(entityType, id, data string) event.Event {
		e := event.Event{Entity: event.EntityRef{Type: entityType, ID: id}, Origin: event.Origin{Format: event.FormatCloudEvents, ID: "a1"}}
		if data != "" {
			e.Data = json.RawMessage(data)
		}
		return e
	}
	tests := []struct {
		name         string
		in           event.Event
		wantID       string
		wantSenderID string // Origin.EntityID
		wantField    string // an unresolved_entity 422 naming it
	}{
		{name: "the field wins", in: ev("product", "u1", `{"product":{"uuid":"u1","identifier":"SKU-9"}}`), wantID: "SKU-9", wantSenderID: "u1"},
		{name: "else the alias", in: ev("product", "u1", `{"product":{"uuid":"u1"}}`), wantID: "SKU-1", wantSenderID: "u1"},
		{name: "a thin event by alias", in: ev("product", "u1", ""), wantID: "SKU-1", wantSenderID: "u1"},
		{name: "the field equal to the sender's id", in: ev("product", "SKU-1", `{"product":{"identifier":"SKU-1"}}`), wantID: "SKU-1"},
		{name: "neither", in: ev("product", "u2", `{"product":{"uuid":"u2"}}`), wantField: "data.product.identifier"},
		{name: "aliases only", in: ev("category", "c1", `{"category":{"code":"c1"}}`), wantID: "summer", wantSenderID: "c1"},
		{name: "aliases only, no alias", in: ev("category", "c2", `{"category":{"code":"c2"}}`), wantField: "data"},
		{name: "field only, absent", in: ev("family", "f1", `{"family":{"code":"f1"}}`), wantField: "data.family.label"},
		{name: "no rule for the entity type", in: ev("attribute", "a1", `{"attribute":{"code":"a1"}}`), wantID: "a1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs := []event.Event{tc.in}
			err := identify(context.Background(), akeneo, aliases, evs, cloudEventsFields, false, "")
			if tc.wantField != "" {
				var he *httpx.Error
				if !errors.As(err, &he) || he.Status != http.StatusUnprocessableEntity || he.Code != CodeUnresolvedEntity || he.Field != tc.wantField {
					t.Fatalf("error %v, want a 422 %s naming %s", err, CodeUnresolvedEntity, tc.wantField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := evs[0]; got.Entity.ID != tc.wantID || got.Origin.EntityID != tc.wantSenderID || got.Origin.ID != "a1" {
				t.Errorf("entity id %q, origin %+v; want %q and sender's entity id %q", got.Entity.ID, got.Origin, tc.wantID, tc.wantSenderID)
			}
		})
	}

	t.Run("batch lists every unresolved item and changes nothing", func(t *testing.T) {
		evs := []event.Event{ev("product", "u1", ""), ev("product", "u7", ""), ev("attribute", "a", ""), ev("category", "c9", "")}
		err := identify(context.Background(), akeneo, aliases, evs, canonicalFields, true, "events")
		var he *httpx.Error
		if !errors.As(err, &he) || he.Status != 422 || he.Code != CodeUnresolvedEntity || len(he.Items) != 2 ||
			he.Items[0].Index != 1 || he.Items[0].Field != "events[1].data.product.identifier" ||
			he.Items[1].Index != 3 || he.Items[1].Field != "events[3].entity.id" {
			t.Fatalf("error %+v", err)
		}
	})
	t.Run("Adobe fields are under data.value", func(t *testing.T) {
		err := identify(context.Background(), akeneo, aliases, []event.Event{ev("family", "f", `{}`)}, adobeFields, false, "")
		var he *httpx.Error
		if !errors.As(err, &he) || he.Field != "data.value.family.label" {
			t.Fatalf("error %+v", err)
		}
	})
	t.Run("an unreadable alias table is a 503", func(t *testing.T) {
		err := identify(context.Background(), akeneo, fakeAliases{err: errors.New("kafka down")}, []event.Event{ev("product", "u1", "")}, canonicalFields, true, "events")
		var he *httpx.Error
		if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable || he.RetryAfter == 0 {
			t.Fatalf("error %+v", err)
		}
	})
	t.Run("the message says how to add the alias", func(t *testing.T) {
		err := identify(context.Background(), akeneo, aliases, []event.Event{ev("category", "c/9", "")}, canonicalFields, false, "")
		if err == nil || !containsAll(err.Error(), `PUT /v1/sources/akeneo/aliases/category/c%2F9`, `"c/9" has no alias`) {
			t.Fatalf("error %v", err)
		}
	})
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
