package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
)

// Issue 19's "faithful to real senders and receivers", through `surge dev`
// the way an integration hits it: Akeneo's Event Platform posts
// CloudEvents shaped as its documentation shows them, Adobe Commerce the
// starter kit's ingestion format, a custom shop the canonical envelope;
// the receiver checks every identifying field of what it is delivered.

// akeneoEvent is a structured-mode CloudEvent as Akeneo's Event Platform
// sends it: source "pim", the subscription in subject, the entity under
// data.<entity> and the author beside it.
func akeneoEvent(id, typ, data string) string {
	return `{"specversion":"1.0","id":"` + id + `","type":"com.akeneo.pim.v1.` + typ + `","source":"pim",` +
		`"subject":"019256aa-7f77-7f58-bc8c-770f7e369c5b","time":"2024-06-10T17:31:00Z","datacontenttype":"application/json",` +
		`"dataschema":"https://event.prd.sdk.akeneo.cloud/spec/com.akeneo.pim.v1.` + typ + `.schema.json",` +
		`"data":{` + data + `,"author":{"identifier":"b238e9f7-fcec-45bd-9431-d43cd624b244","type":"user"}}}`
}

// postTo POSTs body to ingest's path and returns the status and the JSON
// answer.
func postTo(t *testing.T, ingestURL, path, contentType, body string) (int, map[string]any) {
	t.Helper()
	return sendJSON(t, jsonRequest(t, http.MethodPost, ingestURL+path, contentType, body))
}

func mustPost(t *testing.T, ingestURL, path, contentType, body string) string {
	t.Helper()
	status, out := postTo(t, ingestURL, path, contentType, body)
	if status != http.StatusAccepted {
		t.Fatalf("POST %s %.120s: %d %v", path, body, status, out)
	}
	id, _ := out["id"].(string)
	return id
}

// webhookBody is the delivered body, as a receiver reads it.
type webhookBody struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Source string `json:"source"`
	Entity struct {
		Type    string `json:"type"`
		ID      string `json:"id"`
		Version int64  `json:"version"`
	} `json:"entity"`
	Data    map[string]any `json:"data"`
	Changes []string       `json:"changes"`
	Deleted bool           `json:"deleted"`
	Origin  *struct {
		Format   string `json:"format"`
		ID       string `json:"id"`
		Type     string `json:"type"`
		Source   string `json:"source"`
		EntityID string `json:"entity_id"`
	} `json:"origin"`
}

// bodiesOf returns the delivered bodies for entity key, in arrival order,
// once per webhook-id.
func (rc *hookReceiver) bodiesOf(t *testing.T, key string) []webhookBody {
	t.Helper()
	seen := map[string]bool{}
	var out []webhookBody
	for _, h := range rc.Arrivals() {
		if h.Entity != key || seen[h.ID] {
			continue
		}
		seen[h.ID] = true
		var b webhookBody
		if err := json.Unmarshal(h.Body, &b); err != nil {
			t.Fatalf("body of %s: %v\n%s", h.ID, err, h.Body)
		}
		out = append(out, b)
	}
	return out
}

// at reads a path such as "product.uuid" in a decoded JSON object.
func at(m map[string]any, path string) any {
	var cur any = m
	for _, seg := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[seg]
	}
	return cur
}

// snapshots decodes commerce.entities by key, in log order.
func snapshots(t *testing.T, stack *devStack) map[string][]map[string]any {
	t.Helper()
	reg, err := avroserde.Connect(stack.RegistryURL)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]map[string]any{}
	for _, r := range records(t, stack, topics.Entities) {
		if r.Attrs.IsControl() {
			continue
		}
		js, err := reg.DecodeJSON(context.Background(), r.Value)
		if err != nil {
			t.Fatalf("snapshot %s: %v", r.Key, err)
		}
		var v map[string]any
		if err := json.Unmarshal(js, &v); err != nil {
			t.Fatal(err)
		}
		out[string(r.Key)] = append(out[string(r.Key)], v)
	}
	return out
}

// TestDeletionsCarryTheirIdentifiers: each of the six deletion types
// Akeneo's Event Platform sends, an Adobe Commerce product delete and a
// canonical customer delete are delivered with the entity's last known
// state merged with every identifier the deletion carried, marked deleted,
// with the sender's event id, type and source; the snapshots are
// tombstones; and `surge trace` finds a deletion by the sender's id.
func TestDeletionsCarryTheirIdentifiers(t *testing.T) {
	stack, dir := startTestDev(t, zap.WarnLevel)
	rc := newHookReceiver(t)
	subscribeReceiver(t, rc, stack.AdminURL, dir, 1)
	const ce = "application/cloudevents+json"
	const akeneoPath = "/v1/sources/default/cloudevents"
	const adobePath = "/v1/sources/default/adobe"

	// What the receivers knew before the deletions.
	mustPost(t, stack.IngestURL, akeneoPath, ce, akeneoEvent("5e1c0a3e-0001", "product.updated", `"product":{"uuid":"6a9f8486-2c36-4680-b87f-6f5f8f01b6cf"}`))
	mustPost(t, stack.IngestURL, "/v1/events", "application/json",
		`{"type":"product.updated","entity":{"type":"product","id":"6a9f8486-2c36-4680-b87f-6f5f8f01b6cf"},"data":{"name":"Joust Duffle Bag"}}`)
	mustPost(t, stack.IngestURL, adobePath, "application/json",
		`{"data":{"uid":"upd-24-MB01","event":"be-observer.catalog_product_update","value":{"entity_id":2041,"sku":"24-MB01","name":"Joust Duffle Bag","price":34}}}`)
	mustPost(t, stack.IngestURL, "/v1/events", "application/json",
		`{"type":"customer.updated","entity":{"type":"customer","id":"318"},"data":{"email":"jane@example.com","group_id":1}}`)

	// The deletions, each as its sender documents it.
	type deletion struct {
		path, ctype, body string
		key               string         // the entity delivered
		version           int64          // its version
		fields            map[string]any // data paths that must be delivered, with their values
		origin            [4]string      // format, id, type, source
	}
	author := map[string]any{"author.identifier": "b238e9f7-fcec-45bd-9431-d43cd624b244", "author.type": "user"}
	with := func(m map[string]any) map[string]any {
		for k, v := range author {
			m[k] = v
		}
		return m
	}
	deletions := []deletion{
		{akeneoPath, ce, akeneoEvent("d-product", "product.deleted", `"product":{"uuid":"6a9f8486-2c36-4680-b87f-6f5f8f01b6cf"}`),
			"product:6a9f8486-2c36-4680-b87f-6f5f8f01b6cf", 3,
			with(map[string]any{"product.uuid": "6a9f8486-2c36-4680-b87f-6f5f8f01b6cf", "name": "Joust Duffle Bag"}),
			[4]string{"cloudevents", "d-product", "com.akeneo.pim.v1.product.deleted", "pim"}},
		{akeneoPath, ce, akeneoEvent("d-model", "product-model.deleted", `"product_model":{"code":"a-product-model-code"}`),
			"product_model:a-product-model-code", 1, with(map[string]any{"product_model.code": "a-product-model-code"}),
			[4]string{"cloudevents", "d-model", "com.akeneo.pim.v1.product-model.deleted", "pim"}},
		{akeneoPath, ce, akeneoEvent("d-category", "category.deleted", `"category":{"code":"category-1"}`),
			"category:category-1", 1, with(map[string]any{"category.code": "category-1"}),
			[4]string{"cloudevents", "d-category", "com.akeneo.pim.v1.category.deleted", "pim"}},
		{akeneoPath, ce, akeneoEvent("d-attribute", "attribute.deleted", `"attribute":{"code":"an-attribute-code"}`),
			"attribute:an-attribute-code", 1, with(map[string]any{"attribute.code": "an-attribute-code"}),
			[4]string{"cloudevents", "d-attribute", "com.akeneo.pim.v1.attribute.deleted", "pim"}},
		{akeneoPath, ce, akeneoEvent("d-option", "attribute-option.deleted", `"attribute_option":{"code":"an_attribute_option_code","attribute":{"code":"an_attribute_code"}}`),
			"attribute_option:an_attribute_code.an_attribute_option_code", 1,
			with(map[string]any{"attribute_option.code": "an_attribute_option_code", "attribute_option.attribute.code": "an_attribute_code"}),
			[4]string{"cloudevents", "d-option", "com.akeneo.pim.v1.attribute-option.deleted", "pim"}},
		{akeneoPath, ce, akeneoEvent("d-family", "family.deleted", `"family":{"code":"a_family_code"}`),
			"family:a_family_code", 1, with(map[string]any{"family.code": "a_family_code"}),
			[4]string{"cloudevents", "d-family", "com.akeneo.pim.v1.family.deleted", "pim"}},
		{adobePath, "application/json", `{"data":{"uid":"del-24-MB01","event":"be-observer.catalog_product_delete","value":{"entity_id":2041,"sku":"24-MB01"}}}`,
			"product:24-MB01", 2, map[string]any{"sku": "24-MB01", "entity_id": float64(2041), "name": "Joust Duffle Bag", "price": float64(34)},
			[4]string{"adobe", "del-24-MB01", "be-observer.catalog_product_delete", ""}},
		{"/v1/events", "application/json", `{"id":"crm-del-318","source":"crm","type":"customer.deleted","entity":{"type":"customer","id":"318"},"data":{"reason":"gdpr"}}`,
			"customer:318", 2, map[string]any{"email": "jane@example.com", "group_id": float64(1), "reason": "gdpr"},
			[4]string{"canonical", "crm-del-318", "customer.deleted", "crm"}},
	}
	eventIDs := map[string]string{}
	for _, d := range deletions {
		eventIDs[d.key] = mustPost(t, stack.IngestURL, d.path, d.ctype, d.body)
	}
	for _, d := range deletions {
		kafkatest.WaitFor(t, 60*time.Second, "the deletion of "+d.key, func() bool {
			bs := rc.bodiesOf(t, d.key)
			return len(bs) > 0 && bs[len(bs)-1].Deleted
		})
		bs := rc.bodiesOf(t, d.key)
		b := bs[len(bs)-1]
		typ, id, _ := strings.Cut(d.key, ":")
		if b.ID != eventIDs[d.key] || b.Entity.Type != typ || b.Entity.ID != id || b.Entity.Version != d.version || !strings.HasSuffix(b.Type, ".deleted") {
			t.Errorf("%s: delivered %s %s %s:%s version %d; want event %s, %s:%s version %d",
				d.key, b.ID, b.Type, b.Entity.Type, b.Entity.ID, b.Entity.Version, eventIDs[d.key], typ, id, d.version)
		}
		for path, want := range d.fields {
			if got := at(b.Data, path); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: data.%s = %v, want %v (data %v)", d.key, path, got, want, b.Data)
			}
		}
		if o := b.Origin; o == nil || [4]string{o.Format, o.ID, o.Type, o.Source} != d.origin || o.EntityID != "" {
			t.Errorf("%s: origin %+v, want %v", d.key, o, d.origin)
		}
	}
	rc.check(t, nil) // every signature verified

	// The snapshots are tombstones: deleted, no data, the version kept.
	snaps := snapshots(t, stack)
	for _, d := range deletions {
		s := snaps[d.key]
		if len(s) == 0 {
			t.Errorf("no snapshot of %s", d.key)
			continue
		}
		last := s[len(s)-1]
		if last["deleted"] != true || last["data"] != nil || last["version"] != float64(d.version) {
			t.Errorf("%s: last snapshot %v, want a tombstone of version %d", d.key, last, d.version)
		}
	}

	// surge trace by the sender's id of the product deletion.
	out, err := runCLI(t, "trace", "d-product", "--origin-source", "pim", "--brokers", stack.KafkaAddr, "--registry", stack.RegistryURL)
	productKey := "product:6a9f8486-2c36-4680-b87f-6f5f8f01b6cf"
	for _, want := range []string{"is the sender's id (cloudevents, type com.akeneo.pim.v1.product.deleted, from pim) of event " + eventIDs[productKey],
		"key=" + productKey, `origin.id="d-product"`, `origin.type="com.akeneo.pim.v1.product.deleted"`, "version=3", "deleted=true", "delivered"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("surge trace d-product --origin-source pim: %v; want %q in\n%s", err, want, out)
			break
		}
	}
}

// TestOneProductAcrossAkeneoAndMagento: an Akeneo source whose products
// are keyed by their identifier (SKU), through an alias when its event
// carries only the uuid, as Akeneo's do. An Akeneo update by uuid and a
// Magento update by SKU of the same product are one entity (versions 1, 2,
// one snapshot key); an Akeneo event carrying the identifier joins it
// without an alias; one whose uuid has no alias is refused before any 202
// and forks nothing; Akeneo's deletion of the product deletes that entity.
func TestOneProductAcrossAkeneoAndMagento(t *testing.T) {
	stack, dir := startTestDev(t, zap.WarnLevel)
	rc := newHookReceiver(t)
	subscribeReceiver(t, rc, stack.AdminURL, dir, 1)
	tok := adminToken(t, dir)
	const (
		ce       = "application/cloudevents+json"
		akeneo   = "/v1/sources/akeneo/cloudevents"
		uuid     = "6a9f8486-2c36-4680-b87f-6f5f8f01b6cf"
		unmapped = "0c1f2e3d-0000-4000-8000-000000000000"
		key      = "product:24-MB01"
	)
	adminCall(t, stack.AdminURL, tok, "PUT", "/v1/sources/akeneo",
		`{"allow_unsigned":true,"identity":{"product":{"field":"data.product.identifier","aliases":true}}}`)
	adminCall(t, stack.AdminURL, tok, "PUT", "/v1/sources/akeneo/aliases/product/"+uuid, `{"entity_id":"24-MB01"}`)

	first := mustPost(t, stack.IngestURL, akeneo, ce, akeneoEvent("akeneo-upd-1", "product.updated", `"product":{"uuid":"`+uuid+`"}`))
	mustPost(t, stack.IngestURL, "/v1/sources/default/adobe", "application/json",
		`{"data":{"uid":"magento-upd-1","event":"be-observer.catalog_product_update","value":{"entity_id":2041,"sku":"24-MB01","price":34}}}`)
	kafkatest.WaitFor(t, 60*time.Second, "two deliveries of "+key, func() bool { return len(rc.bodiesOf(t, key)) >= 2 })

	// Unresolvable: refused with the field and the alias it lacks, and
	// nothing written.
	status, out := postTo(t, stack.IngestURL, akeneo, ce, akeneoEvent("akeneo-upd-2", "product.updated", `"product":{"uuid":"`+unmapped+`"}`))
	e, _ := out["error"].(map[string]any)
	if msg, _ := e["message"].(string); status != http.StatusUnprocessableEntity || e["code"] != "unresolved_entity" ||
		e["field"] != "data.product.identifier" || !strings.Contains(msg, "/v1/sources/akeneo/aliases/product/"+unmapped) {
		t.Fatalf("an unmapped uuid: %d %v; want 422 unresolved_entity naming data.product.identifier and the alias to add", status, out)
	}
	// The identifier in the event resolves without an alias.
	mustPost(t, stack.IngestURL, akeneo, ce, akeneoEvent("akeneo-upd-3", "product.updated", `"product":{"uuid":"`+unmapped+`","identifier":"24-MB01"}`))
	deleted := mustPost(t, stack.IngestURL, akeneo, ce, akeneoEvent("akeneo-del-1", "product.deleted", `"product":{"uuid":"`+uuid+`"}`))
	kafkatest.WaitFor(t, 60*time.Second, "four deliveries of "+key, func() bool { return len(rc.bodiesOf(t, key)) >= 4 })

	bs := rc.bodiesOf(t, key)
	type seen struct {
		version            int64
		format, id, entity string
		deleted            bool
	}
	var got []seen
	for _, b := range bs {
		s := seen{version: b.Entity.Version, deleted: b.Deleted}
		if b.Origin != nil {
			s.format, s.id, s.entity = b.Origin.Format, b.Origin.ID, b.Origin.EntityID
		}
		got = append(got, s)
	}
	want := []seen{
		{1, "cloudevents", "akeneo-upd-1", uuid, false},
		{2, "adobe", "magento-upd-1", "", false},
		{3, "cloudevents", "akeneo-upd-3", unmapped, false},
		{4, "cloudevents", "akeneo-del-1", uuid, true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("deliveries of %s:\n got %+v\nwant %+v", key, got, want)
	}
	if b := bs[1]; at(b.Data, "product.uuid") != uuid || b.Data["price"] != float64(34) || b.Data["sku"] != "24-MB01" {
		t.Errorf("Magento's update did not merge into Akeneo's product: %v", b.Data)
	}
	if b := bs[3]; b.ID != deleted || at(b.Data, "product.uuid") != uuid || b.Data["price"] != float64(34) {
		t.Errorf("the deletion carries %v, want the last known product with the uuid", b.Data)
	}
	rc.check(t, map[string]int64{"s0/" + key: 4})

	// One entity: one snapshot key, none for the uuids, no raw event of
	// the refused one.
	for k := range snapshots(t, stack) {
		if strings.HasPrefix(k, "product:") && k != key {
			t.Errorf("a second product entity: %s", k)
		}
	}
	for _, r := range records(t, stack, topics.EventsRaw) {
		if k := string(r.Key); strings.Contains(k, unmapped) || strings.Contains(k, uuid) {
			t.Errorf("raw event keyed %s: an Akeneo id leaked into an entity key", k)
		}
	}

	// The sender's identity: traced by the CloudEvent id alone.
	table, err := runCLI(t, "trace", "akeneo-upd-1", "--brokers", stack.KafkaAddr, "--registry", stack.RegistryURL)
	if err != nil || !strings.Contains(table, "of event "+first) || !strings.Contains(table, `origin.entity_id="`+uuid+`"`) ||
		!strings.Contains(table, "key="+key) {
		t.Errorf("surge trace akeneo-upd-1: %v\n%s", err, table)
	}
	js, err := runCLI(t, "trace", "akeneo-upd-1", "--json", "--brokers", stack.KafkaAddr, "--registry", stack.RegistryURL)
	if err != nil || !strings.Contains(js, fmt.Sprintf(`"origin":{"format":"cloudevents","id":"akeneo-upd-1","type":"com.akeneo.pim.v1.product.updated","source":"pim","entity_id":%q}`, uuid)) {
		t.Errorf("surge trace --json: %v\n%s", err, js)
	}
}
