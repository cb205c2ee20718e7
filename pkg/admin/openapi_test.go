package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"

	"github.com/surgehq/surge/pkg/admin"
)

// reqWant says what the document must think of a scripted request.
type reqWant int

const (
	reqValid   reqWant = iota // the document accepts the request
	reqInvalid                // the document refuses it too (bad body, no token, wrong media type)
	reqEither                 // the document does not decide (a body over the server's size limit)
)

// step is one scripted request. path may hold {sub}, replaced by the id of
// the subscription the script created.
type step struct {
	name    string
	method  string
	path    string
	body    string
	ctype   string // Content-Type; "" = application/json when there is a body
	noAuth  bool
	before  func(e *env)
	status  int
	request reqWant
}

// TestOpenAPIDocumentMatchesHandlers drives the real handlers through every
// operation of openapi.json and its documented responses, validating each
// request and response against the document, then checks that every
// documented (operation, status) was seen and that the document and the
// mounted routes list the same operations.
func TestOpenAPIDocumentMatchesHandlers(t *testing.T) {
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(admin.OpenAPI)
	if err != nil {
		t.Fatalf("loading openapi.json: %v", err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}

	const maxBody = 4096
	e := newEnv(t, admin.Config{MaxBodyBytes: maxBody})
	doc.Servers = openapi3.Servers{{URL: e.srv.URL}}
	router, err := legacyrouter.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}

	fail := func(e *env) {
		err := errors.New("kafka unavailable")
		e.subs.Fail(err)
		e.sources.Fail(err)
		e.types.Fail(err)
		e.aliases.Fail(err)
	}
	heal := func(e *env) {
		e.subs.Fail(nil)
		e.sources.Fail(nil)
		e.types.Fail(nil)
		e.aliases.Fail(nil)
	}
	dlqFail := func(e *env) { e.dlq.Fail(errors.New("kafka unavailable")) }
	dlqHeal := func(e *env) { e.dlq.Fail(nil) }
	pipeFail := func(e *env) { e.inspect.Fail(errors.New("kafka unavailable")) }
	pipeHeal := func(e *env) { e.inspect.Fail(nil) }
	big := strings.Repeat("x", maxBody)
	bigSub := `{"url":"https://hooks.example.com/","event_types":["*"],"description":"` + big + `"}`
	bigSource := `{"allow_unsigned":true,"loaders":{"order":{"url":"https://shop.example/{id}","headers":{"X-Big":"` + big + `"}}}}`
	bigType := `{"description":"` + big + `"}`
	const shop = `{"signature":{"scheme":"standard-webhooks","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		"loaders":{"order":{"url":"https://shop.example/rest/V1/orders/{id}","headers":{"Authorization":"Bearer t"},"timeout_ms":2000,"cache_ttl_s":60}}}`

	script := []step{
		{name: "document", method: "GET", path: "/v1/openapi.json", noAuth: true, status: 200},
		{name: "topics document", method: "GET", path: "/v1/asyncapi.json", noAuth: true, status: 200},

		// Subscriptions.
		{name: "create", method: "POST", path: "/v1/subscriptions", body: validCreate, status: 201},
		{name: "create minimal", method: "POST", path: "/v1/subscriptions", body: `{"url":"https://erp.example.com/h","event_types":["*"]}`, status: 201},
		{name: "create without token", method: "POST", path: "/v1/subscriptions", body: validCreate, noAuth: true, status: 401, request: reqInvalid},
		{name: "create metadata target", method: "POST", path: "/v1/subscriptions", body: `{"url":"http://169.254.169.254/","event_types":["*"]}`, status: 422},
		{name: "create with basic auth", method: "POST", path: "/v1/subscriptions", body: `{"url":"https://hooks.example.com/","event_types":["*"],"auth":{"basic":{"username":"erp","password":"pw"}}}`, status: 201},
		{name: "create with oauth2", method: "POST", path: "/v1/subscriptions", body: `{"url":"https://hooks.example.com/","event_types":["*"],"auth":{"kind":"oauth2","oauth2":{"token_url":"https://erp.example.com/token","client_id":"c","client_secret":"s","scopes":["a"],"audience":"x"}}}`, status: 201},
		{name: "create two auth kinds", method: "POST", path: "/v1/subscriptions", body: `{"url":"https://hooks.example.com/","event_types":["*"],"auth":{"basic":{"username":"erp","password":"pw"},"oauth2":{"token_url":"https://erp.example.com/token","client_id":"c","client_secret":"s"}}}`, status: 422},
		{name: "create private token url", method: "POST", path: "/v1/subscriptions", body: `{"url":"https://hooks.example.com/","event_types":["*"],"auth":{"oauth2":{"token_url":"https://internal.example.com/token","client_id":"c","client_secret":"s"}}}`, status: 422},
		{name: "create auth null part", method: "POST", path: "/v1/subscriptions", body: `{"url":"https://hooks.example.com/","event_types":["*"],"auth":{"basic":null}}`, status: 400, request: reqInvalid},
		{name: "create v1a", method: "POST", path: "/v1/subscriptions", body: `{"url":"https://hooks.example.com/","event_types":["*"],"signature_scheme":"v1a"}`, status: 201},
		{name: "create unknown scheme", method: "POST", path: "/v1/subscriptions", body: `{"url":"https://hooks.example.com/","event_types":["*"],"signature_scheme":"v2"}`, status: 400, request: reqInvalid},
		{name: "create empty scheme", method: "POST", path: "/v1/subscriptions", body: `{"url":"https://hooks.example.com/","event_types":["*"],"signature_scheme":""}`, status: 400, request: reqInvalid},
		{name: "create bad filter", method: "POST", path: "/v1/subscriptions", body: `{"url":"https://hooks.example.com/","event_types":["*"],"filter":"type =="}`, status: 422},
		{name: "create null body", method: "POST", path: "/v1/subscriptions", body: `null`, status: 400, request: reqInvalid},
		{name: "create null field", method: "POST", path: "/v1/subscriptions", body: `{"url":"https://hooks.example.com/","event_types":["*"],"filter":null}`, status: 400, request: reqInvalid},
		{name: "create unknown field", method: "POST", path: "/v1/subscriptions", body: `{"url":"https://hooks.example.com/","event_types":["*"],"x":1}`, status: 400, request: reqInvalid},
		{name: "create with id", method: "POST", path: "/v1/subscriptions", body: `{"id":"sub_x","url":"https://hooks.example.com/","event_types":["*"]}`, status: 400, request: reqInvalid},
		{name: "create sqs destination", method: "POST", path: "/v1/subscriptions", body: `{"event_types":["*"],"destination":{"kind":"sqs","sqs":{"queue_url":"https://sqs.us-east-1.amazonaws.com/123456789012/o.fifo","region":"us-east-1","role_arn":"arn:aws:iam::123456789012:role/r"}}}`, status: 201},
		{name: "create eventbridge destination", method: "POST", path: "/v1/subscriptions", body: `{"event_types":["*"],"destination":{"eventbridge":{"event_bus":"shop","source":"shop.surge"}}}`, status: 201},
		{name: "create destination with url", method: "POST", path: "/v1/subscriptions", body: `{"url":"https://hooks.example.com/","event_types":["*"],"destination":{"eventbridge":{"event_bus":"shop"}}}`, status: 422},
		{name: "create destination kind mismatch", method: "POST", path: "/v1/subscriptions", body: `{"event_types":["*"],"destination":{"kind":"sqs","eventbridge":{"event_bus":"shop"}}}`, status: 422},
		{name: "create private endpoint url", method: "POST", path: "/v1/subscriptions", body: `{"event_types":["*"],"destination":{"eventbridge":{"event_bus":"shop","endpoint_url":"https://internal.example.com"}}}`, status: 422},
		{name: "create http destination no url", method: "POST", path: "/v1/subscriptions", body: `{"event_types":["*"],"destination":{}}`, status: 400, request: reqInvalid},
		{name: "patch destination back to http", method: "PATCH", path: "/v1/subscriptions/{sub}", body: `{"destination":{"kind":"http"}}`, status: 200},
		{name: "create no url", method: "POST", path: "/v1/subscriptions", body: `{"event_types":["*"]}`, status: 400, request: reqInvalid},
		{name: "create not JSON", method: "POST", path: "/v1/subscriptions", body: `{`, status: 400, request: reqInvalid},
		{name: "create too large", method: "POST", path: "/v1/subscriptions", body: bigSub, status: 413, request: reqInvalid},
		{name: "create as text", method: "POST", path: "/v1/subscriptions", body: validCreate, ctype: "text/plain", status: 415, request: reqInvalid},
		{name: "create store down", method: "POST", path: "/v1/subscriptions", body: validCreate, before: fail, status: 503},
		{name: "list", method: "GET", path: "/v1/subscriptions", before: heal, status: 200},
		{name: "list without token", method: "GET", path: "/v1/subscriptions", noAuth: true, status: 401, request: reqInvalid},
		{name: "get", method: "GET", path: "/v1/subscriptions/{sub}", status: 200},
		{name: "get without token", method: "GET", path: "/v1/subscriptions/{sub}", noAuth: true, status: 401, request: reqInvalid},
		{name: "get unknown", method: "GET", path: "/v1/subscriptions/sub_nope", status: 404},

		// The pipeline as Kafka shows it (pipeline_test.go's fake).
		{name: "stage lag", method: "GET", path: "/v1/stages/lag", status: 200},
		{name: "stage lag without token", method: "GET", path: "/v1/stages/lag", noAuth: true, status: 401, request: reqInvalid},
		{name: "stage lag kafka down", method: "GET", path: "/v1/stages/lag", before: pipeFail, status: 503},
		{name: "attempts", method: "GET", path: "/v1/subscriptions/{sub}/attempts", before: pipeHeal, status: 200},
		{name: "attempts limited", method: "GET", path: "/v1/subscriptions/{sub}/attempts?limit=1", status: 200},
		{name: "attempts bad limit", method: "GET", path: "/v1/subscriptions/{sub}/attempts?limit=0", status: 400, request: reqInvalid},
		{name: "attempts empty limits", method: "GET", path: "/v1/subscriptions/{sub}/attempts?limit=&limit=", status: 400, request: reqEither}, // kin-openapi reads the first, empty, value as absent; Schemathesis sends it as a wrong array
		{name: "attempts unknown", method: "GET", path: "/v1/subscriptions/sub_nope/attempts", status: 404},
		{name: "attempts without token", method: "GET", path: "/v1/subscriptions/{sub}/attempts", noAuth: true, status: 401, request: reqInvalid},
		{name: "attempts kafka down", method: "GET", path: "/v1/subscriptions/{sub}/attempts", before: pipeFail, status: 503},
		{name: "lanes", method: "GET", path: "/v1/subscriptions/{sub}/lanes", before: pipeHeal, status: 200},
		{name: "lanes unknown", method: "GET", path: "/v1/subscriptions/sub_nope/lanes", status: 404},
		{name: "lanes without token", method: "GET", path: "/v1/subscriptions/{sub}/lanes", noAuth: true, status: 401, request: reqInvalid},
		{name: "lanes kafka down", method: "GET", path: "/v1/subscriptions/{sub}/lanes", before: pipeFail, status: 503},
		{name: "parked", method: "GET", path: "/v1/lanes", before: pipeHeal, status: 200},
		{name: "parked without token", method: "GET", path: "/v1/lanes", noAuth: true, status: 401, request: reqInvalid},
		{name: "parked kafka down", method: "GET", path: "/v1/lanes", before: pipeFail, status: 503},
		{name: "topics", method: "GET", path: "/v1/topics", before: pipeHeal, status: 200},
		{name: "topics without token", method: "GET", path: "/v1/topics", noAuth: true, status: 401, request: reqInvalid},
		{name: "topics kafka down", method: "GET", path: "/v1/topics", before: pipeFail, status: 503},
		{name: "topic records", method: "GET", path: "/v1/topics/commerce.events.raw/records?window=1m", before: pipeHeal, status: 200},
		{name: "topic records default window", method: "GET", path: "/v1/topics/commerce.events.raw/records", status: 200},
		{name: "topic records bad window", method: "GET", path: "/v1/topics/commerce.events.raw/records?window=soon", status: 400, request: reqInvalid},
		{name: "topic records unknown", method: "GET", path: "/v1/topics/nope/records", status: 404},
		{name: "topic records without token", method: "GET", path: "/v1/topics/commerce.events.raw/records", noAuth: true, status: 401, request: reqInvalid},
		{name: "topic records kafka down", method: "GET", path: "/v1/topics/commerce.events.raw/records", before: pipeFail, status: 503},
		{name: "attempt stats", method: "GET", path: "/v1/attempt-stats?window=5m", before: pipeHeal, status: 200},
		{name: "attempt stats default window", method: "GET", path: "/v1/attempt-stats", status: 200},
		{name: "attempt stats bad window", method: "GET", path: "/v1/attempt-stats?window=2h", status: 400, request: reqInvalid},
		{name: "attempt stats without token", method: "GET", path: "/v1/attempt-stats", noAuth: true, status: 401, request: reqInvalid},
		{name: "attempt stats kafka down", method: "GET", path: "/v1/attempt-stats", before: pipeFail, status: 503},
		{name: "stage lag after", method: "GET", path: "/v1/stages/lag", before: pipeHeal, status: 200},
		{name: "trace", method: "GET", path: "/v1/trace?id=evt_1", status: 200},
		{name: "trace by webhook-id", method: "GET", path: "/v1/trace?webhook_id=msg_1", status: 200},
		{name: "trace entity", method: "GET", path: "/v1/trace?entity=order:1&limit=10", status: 200},
		{name: "trace nothing asked", method: "GET", path: "/v1/trace", status: 422},
		{name: "trace bad limit", method: "GET", path: "/v1/trace?entity=order:1&limit=0", status: 400, request: reqInvalid},
		{name: "trace bad entity", method: "GET", path: "/v1/trace?entity=order", status: 400, request: reqInvalid},
		{name: "trace without token", method: "GET", path: "/v1/trace?id=evt_1", noAuth: true, status: 401, request: reqInvalid},
		{name: "trace unknown", method: "GET", path: "/v1/trace?id=evt_nope", status: 404},
		{name: "trace shared sender's id", method: "GET", path: "/v1/trace?id=dup", status: 409},
		{name: "trace kafka down", method: "GET", path: "/v1/trace?id=evt_1", before: func(e *env) { e.tracer.Fail(errors.New("kafka unavailable")) }, status: 503},
		{name: "trace after", method: "GET", path: "/v1/trace?id=evt_1", before: func(e *env) { e.tracer.Fail(nil) }, status: 200},

		{name: "pause", method: "PATCH", path: "/v1/subscriptions/{sub}", body: `{"paused":true}`, status: 200},
		{name: "patch several", method: "PATCH", path: "/v1/subscriptions/{sub}", body: `{"paused":false,"enabled":false,"disabled_reason":"maintenance","retry_schedule":["1m"],"headers":{}}`, status: 200},
		{name: "patch redacted auth without stored", method: "PATCH", path: "/v1/subscriptions/{sub}", body: `{"auth":{"basic":{"username":"u","password":"[redacted]"}}}`, status: 422},
		{name: "patch remove auth", method: "PATCH", path: "/v1/subscriptions/{sub}", body: `{"auth":{}}`, status: 200},
		{name: "patch same scheme", method: "PATCH", path: "/v1/subscriptions/{sub}", body: `{"signature_scheme":"v1"}`, status: 200},
		{name: "patch other scheme", method: "PATCH", path: "/v1/subscriptions/{sub}", body: `{"signature_scheme":"v1a"}`, status: 422},
		{name: "patch bad", method: "PATCH", path: "/v1/subscriptions/{sub}", body: `{"timeout_ms":5}`, status: 422},
		{name: "patch null url", method: "PATCH", path: "/v1/subscriptions/{sub}", body: `{"url":null}`, status: 400, request: reqInvalid},
		{name: "patch created_at", method: "PATCH", path: "/v1/subscriptions/{sub}", body: `{"created_at":"2020-01-01T00:00:00Z"}`, status: 400, request: reqInvalid},
		{name: "patch without token", method: "PATCH", path: "/v1/subscriptions/{sub}", body: `{"paused":true}`, noAuth: true, status: 401, request: reqInvalid},
		{name: "patch unknown", method: "PATCH", path: "/v1/subscriptions/sub_nope", body: `{"paused":true}`, status: 404},
		{name: "patch too large", method: "PATCH", path: "/v1/subscriptions/{sub}", body: `{"description":"` + big + `"}`, status: 413, request: reqInvalid},
		{name: "patch as text", method: "PATCH", path: "/v1/subscriptions/{sub}", body: `paused=true`, ctype: "text/plain", status: 415, request: reqInvalid},
		{name: "patch store down", method: "PATCH", path: "/v1/subscriptions/{sub}", body: `{"paused":true}`, before: fail, status: 503},
		{name: "rotate", method: "POST", path: "/v1/subscriptions/{sub}/rotate-secret", before: heal, status: 200},
		{name: "rotate without token", method: "POST", path: "/v1/subscriptions/{sub}/rotate-secret", noAuth: true, status: 401, request: reqInvalid},
		{name: "rotate unknown", method: "POST", path: "/v1/subscriptions/sub_nope/rotate-secret", status: 404},
		{name: "rotate store down", method: "POST", path: "/v1/subscriptions/{sub}/rotate-secret", before: fail, status: 503},
		{name: "get after rotation", method: "GET", path: "/v1/subscriptions/{sub}", before: heal, status: 200},
		{name: "rotate with a grace", method: "POST", path: "/v1/subscriptions/{sub}/rotate-secret", body: `{"grace":"1h"}`, status: 200},
		{name: "rotate keeping two previous", method: "POST", path: "/v1/subscriptions/{sub}/rotate-secret", body: `{"grace":"2h"}`, status: 200},
		{name: "rotate bad grace", method: "POST", path: "/v1/subscriptions/{sub}/rotate-secret", body: `{"grace":"soon"}`, status: 422, request: reqInvalid},
		{name: "rotate grace too long", method: "POST", path: "/v1/subscriptions/{sub}/rotate-secret", body: `{"grace":"200h"}`, status: 422},
		{name: "rotate null body", method: "POST", path: "/v1/subscriptions/{sub}/rotate-secret", body: `null`, status: 400, request: reqInvalid},
		{name: "rotate unknown field", method: "POST", path: "/v1/subscriptions/{sub}/rotate-secret", body: `{"grace_s":0}`, status: 400, request: reqInvalid},
		{name: "rotate too large", method: "POST", path: "/v1/subscriptions/{sub}/rotate-secret", body: `{"grace":"` + big + `"}`, status: 413, request: reqEither},
		{name: "rotate as text", method: "POST", path: "/v1/subscriptions/{sub}/rotate-secret", body: `{"grace":"0s"}`, ctype: "text/plain", status: 415, request: reqInvalid},
		{name: "revoke store down", method: "POST", path: "/v1/subscriptions/{sub}/revoke-secret", body: `{"fingerprint":"{older}"}`, before: fail, status: 503},
		{name: "revoke", method: "POST", path: "/v1/subscriptions/{sub}/revoke-secret", body: `{"fingerprint":"{older}"}`, before: heal, status: 200},
		{name: "revoke again", method: "POST", path: "/v1/subscriptions/{sub}/revoke-secret", body: `{"fingerprint":"{older}"}`, status: 422},
		{name: "revoke current", method: "POST", path: "/v1/subscriptions/{sub}/revoke-secret", body: `{"fingerprint":"{current}"}`, status: 409},
		{name: "revoke not a fingerprint", method: "POST", path: "/v1/subscriptions/{sub}/revoke-secret", body: `{"fingerprint":"whsec_x"}`, status: 400, request: reqInvalid},
		{name: "revoke without fingerprint", method: "POST", path: "/v1/subscriptions/{sub}/revoke-secret", body: `{}`, status: 400, request: reqInvalid},
		{name: "revoke unknown subscription", method: "POST", path: "/v1/subscriptions/sub_nope/revoke-secret", body: `{"fingerprint":"sha256:000000000000"}`, status: 404},
		{name: "revoke without token", method: "POST", path: "/v1/subscriptions/{sub}/revoke-secret", body: `{"fingerprint":"{previous}"}`, noAuth: true, status: 401, request: reqInvalid},
		{name: "revoke too large", method: "POST", path: "/v1/subscriptions/{sub}/revoke-secret", body: `{"fingerprint":"` + big + `"}`, status: 413, request: reqEither},
		{name: "revoke as text", method: "POST", path: "/v1/subscriptions/{sub}/revoke-secret", body: `{"fingerprint":"{previous}"}`, ctype: "text/plain", status: 415, request: reqInvalid},
		{name: "rotate revoking at once", method: "POST", path: "/v1/subscriptions/{sub}/rotate-secret", body: `{"grace":"0s"}`, status: 200},
		{name: "delete store down", method: "DELETE", path: "/v1/subscriptions/{sub}", before: fail, status: 503},
		{name: "delete without token", method: "DELETE", path: "/v1/subscriptions/{sub}", before: heal, noAuth: true, status: 401, request: reqInvalid},
		{name: "delete", method: "DELETE", path: "/v1/subscriptions/{sub}", status: 204},
		{name: "delete again", method: "DELETE", path: "/v1/subscriptions/{sub}", status: 404},

		// Sources.
		{name: "put source new", method: "PUT", path: "/v1/sources/shop", body: shop, status: 201},
		{name: "put source again", method: "PUT", path: "/v1/sources/shop", body: `{"id":"shop","allow_unsigned":true}`, status: 200},
		{name: "put source signed", method: "PUT", path: "/v1/sources/shop", body: shop, status: 200},
		{name: "put source invalid", method: "PUT", path: "/v1/sources/shop", body: `{}`, status: 422},
		{name: "put source null body", method: "PUT", path: "/v1/sources/shop", body: `null`, status: 400, request: reqInvalid},
		{name: "put source bad scheme", method: "PUT", path: "/v1/sources/shop", body: `{"signature":{"scheme":"md5","secret":"x"}}`, status: 400, request: reqInvalid},
		{name: "put source without token", method: "PUT", path: "/v1/sources/shop", body: shop, noAuth: true, status: 401, request: reqInvalid},
		{name: "put source too large", method: "PUT", path: "/v1/sources/shop", body: bigSource, status: 413, request: reqEither},
		{name: "put source as text", method: "PUT", path: "/v1/sources/shop", body: shop, ctype: "text/plain", status: 415, request: reqInvalid},
		{name: "put source store down", method: "PUT", path: "/v1/sources/shop", body: shop, before: fail, status: 503},
		{name: "get source", method: "GET", path: "/v1/sources/shop", before: heal, status: 200},
		{name: "get source without token", method: "GET", path: "/v1/sources/shop", noAuth: true, status: 401, request: reqInvalid},
		{name: "get source unknown", method: "GET", path: "/v1/sources/nope", status: 404},
		{name: "list sources", method: "GET", path: "/v1/sources", status: 200},
		{name: "list sources without token", method: "GET", path: "/v1/sources", noAuth: true, status: 401, request: reqInvalid},
		{name: "put source with identity rules", method: "PUT", path: "/v1/sources/shop",
			body: `{"allow_unsigned":true,"identity":{"product":{"field":"data.product.identifier","aliases":true},"category":{"aliases":true}}}`, status: 200},
		{name: "put source bad identity rule", method: "PUT", path: "/v1/sources/shop", body: `{"allow_unsigned":true,"identity":{"product":{}}}`, status: 422},

		// Entity aliases of a source.
		{name: "put alias new", method: "PUT", path: "/v1/sources/shop/aliases/product/6a9f8486-2c36", body: `{"entity_id":"SKU-1"}`, status: 201},
		{name: "put alias again", method: "PUT", path: "/v1/sources/shop/aliases/product/6a9f8486-2c36", body: `{"entity_id":"SKU-1b"}`, status: 200},
		{name: "put alias escaped sender id", method: "PUT", path: "/v1/sources/shop/aliases/category/a%2Fb", body: `{"entity_id":"ab"}`, status: 201},
		{name: "put alias empty entity id", method: "PUT", path: "/v1/sources/shop/aliases/product/u2", body: `{"entity_id":""}`, status: 422, request: reqInvalid},
		{name: "put alias bad entity type", method: "PUT", path: "/v1/sources/shop/aliases/Product/u2", body: `{"entity_id":"x"}`, status: 400, request: reqInvalid},
		{name: "put alias unknown source", method: "PUT", path: "/v1/sources/nope/aliases/product/u2", body: `{"entity_id":"x"}`, status: 404},
		{name: "put alias without token", method: "PUT", path: "/v1/sources/shop/aliases/product/u2", body: `{"entity_id":"x"}`, noAuth: true, status: 401, request: reqInvalid},
		{name: "put alias too large", method: "PUT", path: "/v1/sources/shop/aliases/product/u2", body: `{"entity_id":"` + big + `"}`, status: 413, request: reqEither},
		{name: "put alias as text", method: "PUT", path: "/v1/sources/shop/aliases/product/u2", body: `{"entity_id":"x"}`, ctype: "text/plain", status: 415, request: reqInvalid},
		{name: "put alias store down", method: "PUT", path: "/v1/sources/shop/aliases/product/u2", body: `{"entity_id":"x"}`, before: fail, status: 503},
		{name: "post aliases", method: "POST", path: "/v1/sources/shop/aliases", before: heal,
			body: `{"aliases":[{"entity_type":"product","sender_id":"u3","entity_id":"SKU-3"},{"entity_type":"product","sender_id":"u4","entity_id":"SKU-4"}]}`, status: 200},
		{name: "post aliases one bad", method: "POST", path: "/v1/sources/shop/aliases",
			body: `{"aliases":[{"entity_type":"product","sender_id":"u5","entity_id":"SKU-5"},{"entity_type":"product","sender_id":"u6","entity_id":" "}]}`, status: 422},
		{name: "post aliases empty", method: "POST", path: "/v1/sources/shop/aliases", body: `{"aliases":[]}`, status: 400, request: reqInvalid},
		{name: "post aliases unknown source", method: "POST", path: "/v1/sources/nope/aliases", body: `{"aliases":[{"entity_type":"product","sender_id":"u","entity_id":"S"}]}`, status: 404},
		{name: "post aliases without token", method: "POST", path: "/v1/sources/shop/aliases", body: `{"aliases":[]}`, noAuth: true, status: 401, request: reqInvalid},
		{name: "post aliases too large", method: "POST", path: "/v1/sources/shop/aliases", body: `{"aliases":[{"entity_type":"product","sender_id":"u","entity_id":"` + big + `"}]}`, status: 413, request: reqEither},
		{name: "post aliases as text", method: "POST", path: "/v1/sources/shop/aliases", body: `{}`, ctype: "text/plain", status: 415, request: reqInvalid},
		{name: "post aliases store down", method: "POST", path: "/v1/sources/shop/aliases",
			body: `{"aliases":[{"entity_type":"product","sender_id":"u7","entity_id":"SKU-7"}]}`, before: fail, status: 503},
		{name: "list aliases", method: "GET", path: "/v1/sources/shop/aliases", before: heal, status: 200},
		{name: "list aliases of a type", method: "GET", path: "/v1/sources/shop/aliases?entity_type=category", status: 200},
		{name: "list aliases unknown source", method: "GET", path: "/v1/sources/nope/aliases", status: 404},
		{name: "list aliases without token", method: "GET", path: "/v1/sources/shop/aliases", noAuth: true, status: 401, request: reqInvalid},
		{name: "get alias", method: "GET", path: "/v1/sources/shop/aliases/product/u3", status: 200},
		{name: "get alias unknown", method: "GET", path: "/v1/sources/shop/aliases/product/nope", status: 404},
		{name: "get alias without token", method: "GET", path: "/v1/sources/shop/aliases/product/u3", noAuth: true, status: 401, request: reqInvalid},
		{name: "delete alias store down", method: "DELETE", path: "/v1/sources/shop/aliases/product/u3", before: fail, status: 503},
		{name: "delete alias without token", method: "DELETE", path: "/v1/sources/shop/aliases/product/u3", before: heal, noAuth: true, status: 401, request: reqInvalid},
		{name: "delete alias", method: "DELETE", path: "/v1/sources/shop/aliases/product/u3", status: 204},
		{name: "delete alias again", method: "DELETE", path: "/v1/sources/shop/aliases/product/u3", status: 404},
		{name: "delete source store down", method: "DELETE", path: "/v1/sources/shop", before: fail, status: 503},
		{name: "delete source without token", method: "DELETE", path: "/v1/sources/shop", before: heal, noAuth: true, status: 401, request: reqInvalid},
		{name: "delete source", method: "DELETE", path: "/v1/sources/shop", status: 204},
		{name: "delete source unknown", method: "DELETE", path: "/v1/sources/shop", status: 404},

		// Event types.
		{name: "list types", method: "GET", path: "/v1/event-types", status: 200},
		{name: "list types without token", method: "GET", path: "/v1/event-types", noAuth: true, status: 401, request: reqInvalid},
		{name: "put type new", method: "PUT", path: "/v1/event-types/return.requested", body: `{"entity_type":"order","aliases":["shop.rma"],"description":"An RMA.","data_schema":{"type":"object"}}`, status: 201},
		{name: "put type override", method: "PUT", path: "/v1/event-types/order.placed", body: `{"name":"order.placed","entity_type":"order","delete":false}`, status: 200},
		{name: "put type bad name", method: "PUT", path: "/v1/event-types/order.placed", body: `{"name":"order.other"}`, status: 422},
		{name: "put type alias taken", method: "PUT", path: "/v1/event-types/x.y", body: `{"aliases":["shop.rma"]}`, status: 409},
		{name: "put type bad path name", method: "PUT", path: "/v1/event-types/Order.Placed", body: `{}`, status: 400, request: reqInvalid},
		{name: "put type null body", method: "PUT", path: "/v1/event-types/x.y", body: `null`, status: 400, request: reqInvalid},
		{name: "put type without token", method: "PUT", path: "/v1/event-types/x.y", body: `{}`, noAuth: true, status: 401, request: reqInvalid},
		{name: "put type too large", method: "PUT", path: "/v1/event-types/x.y", body: bigType, status: 413, request: reqEither},
		{name: "put type as text", method: "PUT", path: "/v1/event-types/x.y", body: `{}`, ctype: "text/plain", status: 415, request: reqInvalid},
		{name: "put type store down", method: "PUT", path: "/v1/event-types/x.y", body: `{}`, before: fail, status: 503},
		{name: "list types after", method: "GET", path: "/v1/event-types", before: heal, status: 200},

		// Dead letters (dlq_test.go's fake behaves as pkg/dlq).
		{name: "dlq stats", method: "GET", path: "/v1/dlq/stats", status: 200},
		{name: "dlq stats events", method: "GET", path: "/v1/dlq/stats?topic=commerce.events.dlq", status: 200},
		{name: "dlq stats bad topic", method: "GET", path: "/v1/dlq/stats?topic=commerce.nope", status: 400, request: reqInvalid},
		{name: "dlq stats without token", method: "GET", path: "/v1/dlq/stats", noAuth: true, status: 401, request: reqInvalid},
		{name: "dlq stats kafka down", method: "GET", path: "/v1/dlq/stats", before: dlqFail, status: 503},
		{name: "dlq record", method: "GET", path: "/v1/dlq/records/0/7", before: dlqHeal, status: 200},
		{name: "dlq record bad offset", method: "GET", path: "/v1/dlq/records/0/x", status: 400, request: reqInvalid},
		{name: "dlq record bad topic", method: "GET", path: "/v1/dlq/records/0/7?topic=x", status: 400, request: reqInvalid},
		{name: "dlq record missing", method: "GET", path: "/v1/dlq/records/0/8", status: 404},
		{name: "dlq record without token", method: "GET", path: "/v1/dlq/records/0/7", noAuth: true, status: 401, request: reqInvalid},
		{name: "dlq record kafka down", method: "GET", path: "/v1/dlq/records/0/7", before: dlqFail, status: 503},
		{name: "dlq records", method: "GET", path: "/v1/dlq/records", before: dlqHeal, status: 200},
		{name: "dlq records page", method: "GET", path: "/v1/dlq/records?topic=commerce.deliveries.dlq&partition=0&from_offset=7&limit=10", status: 200},
		{name: "dlq records bad limit", method: "GET", path: "/v1/dlq/records?limit=501", status: 400, request: reqInvalid},
		{name: "dlq records bad from_offset", method: "GET", path: "/v1/dlq/records?from_offset=-1", status: 400, request: reqInvalid},
		{name: "dlq records missing partition", method: "GET", path: "/v1/dlq/records?partition=5", status: 422},
		{name: "dlq records without token", method: "GET", path: "/v1/dlq/records", noAuth: true, status: 401, request: reqInvalid},
		{name: "dlq records kafka down", method: "GET", path: "/v1/dlq/records", before: dlqFail, status: 503},
		{name: "replay dry run", method: "POST", path: "/v1/dlq/replays", body: `{"subscription":"sub_a","since":"2026-03-01T00:00:00Z","rate":100,"dry_run":true}`, before: dlqHeal, status: 200},
		{name: "replay", method: "POST", path: "/v1/dlq/replays", body: `{"topic":"commerce.deliveries.dlq","partitions":[0],"from_offset":0,"to_offset":1,"rate":50}`, status: 202},
		{name: "replay bad filter", method: "POST", path: "/v1/dlq/replays", body: `{"filter":"a(","dry_run":true}`, status: 422},
		{name: "replay null until", method: "POST", path: "/v1/dlq/replays", body: `{"until":null,"dry_run":true}`, status: 400, request: reqInvalid},
		{name: "replay unknown field", method: "POST", path: "/v1/dlq/replays", body: `{"partition":1}`, status: 400, request: reqInvalid},
		{name: "replay deleted subscription", method: "POST", path: "/v1/dlq/replays", body: `{"subscription":"sub_gone"}`, status: 409},
		{name: "replay too large", method: "POST", path: "/v1/dlq/replays", body: `{"filter":"` + big + `"}`, status: 413, request: reqEither},
		{name: "replay as text", method: "POST", path: "/v1/dlq/replays", body: `{}`, ctype: "text/plain", status: 415, request: reqInvalid},
		{name: "replay without token", method: "POST", path: "/v1/dlq/replays", body: `{}`, noAuth: true, status: 401, request: reqInvalid},
		{name: "replay kafka down", method: "POST", path: "/v1/dlq/replays", body: `{}`, before: dlqFail, status: 503},
		{name: "list replays", method: "GET", path: "/v1/dlq/replays", before: dlqHeal, status: 200},
		{name: "list replays without token", method: "GET", path: "/v1/dlq/replays", noAuth: true, status: 401, request: reqInvalid},
		{name: "list replays kafka down", method: "GET", path: "/v1/dlq/replays", before: dlqFail, status: 503},
		{name: "get replay", method: "GET", path: "/v1/dlq/replays/rpl_test1", before: dlqHeal, status: 200},
		{name: "get replay unknown", method: "GET", path: "/v1/dlq/replays/rpl_nope", status: 404},
		{name: "get replay without token", method: "GET", path: "/v1/dlq/replays/rpl_test1", noAuth: true, status: 401, request: reqInvalid},
		{name: "get replay kafka down", method: "GET", path: "/v1/dlq/replays/rpl_test1", before: dlqFail, status: 503},
		{name: "stop replay", method: "POST", path: "/v1/dlq/replays/rpl_test1/stop", before: dlqHeal, status: 200},
		{name: "stop replay again", method: "POST", path: "/v1/dlq/replays/rpl_test1/stop", status: 409},
		{name: "stop replay unknown", method: "POST", path: "/v1/dlq/replays/rpl_nope/stop", status: 404},
		{name: "stop replay without token", method: "POST", path: "/v1/dlq/replays/rpl_test1/stop", noAuth: true, status: 401, request: reqInvalid},
		{name: "resume replay", method: "POST", path: "/v1/dlq/replays/rpl_test1/resume", status: 202},
		{name: "resume replay done", method: "POST", path: "/v1/dlq/replays/rpl_done/resume", status: 409},
		{name: "resume replay unknown", method: "POST", path: "/v1/dlq/replays/rpl_nope/resume", status: 404},
		{name: "resume replay without token", method: "POST", path: "/v1/dlq/replays/rpl_test1/resume", noAuth: true, status: 401, request: reqInvalid},
		{name: "resume replay kafka down", method: "POST", path: "/v1/dlq/replays/rpl_test1/resume", before: dlqFail, status: 503},
	}

	auth := func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
		if in.SecuritySchemeName != "bearerAuth" {
			return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
		}
		if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
			return errors.New("no bearer token")
		}
		return nil
	}
	seen := map[string]bool{} // "METHOD /template STATUS"
	var subID string
	fingerprints := map[string]string{} // {current}, {previous}, {older}: the secrets after "rotate keeping two previous"
	for _, s := range script {
		t.Run(s.name, func(t *testing.T) {
			if s.before != nil {
				s.before(e)
			}
			path := strings.ReplaceAll(s.path, "{sub}", subID)
			reqBody := s.body
			for k, v := range fingerprints {
				reqBody = strings.ReplaceAll(reqBody, k, v)
			}
			newReq := func() *http.Request {
				var body io.Reader
				if s.body != "" {
					body = strings.NewReader(reqBody)
				}
				req, err := http.NewRequest(s.method, e.srv.URL+path, body)
				if err != nil {
					t.Fatal(err)
				}
				if s.body != "" {
					ct := s.ctype
					if ct == "" {
						ct = "application/json"
					}
					req.Header.Set("Content-Type", ct)
				}
				if !s.noAuth {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				return req
			}

			// The request, as the document sees it.
			req := newReq()
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Fatalf("%s %s is not in the document: %v", s.method, path, err)
			}
			in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: auth}}
			reqErr := openapi3filter.ValidateRequest(ctx, in)
			switch {
			case s.request == reqValid && reqErr != nil:
				t.Fatalf("the document refuses a request the script means as valid: %v", reqErr)
			case s.request == reqInvalid && reqErr == nil:
				t.Fatalf("the document accepts a request the server must refuse with %d", s.status)
			}

			// The real handler.
			resp, err := http.DefaultClient.Do(newReq())
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != s.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, s.status, body)
			}
			if s.name == "create" {
				subID = jsonField(t, body, "id")
			}
			if s.name == "rotate keeping two previous" {
				var v struct {
					Secrets []struct{ Fingerprint string } `json:"secrets"`
				}
				if err := json.Unmarshal(body, &v); err != nil || len(v.Secrets) < 3 {
					t.Fatalf("secrets after two rotations with a grace: %s (%v)", body, err)
				}
				fingerprints["{current}"], fingerprints["{previous}"], fingerprints["{older}"] = v.Secrets[0].Fingerprint, v.Secrets[1].Fingerprint, v.Secrets[2].Fingerprint
			}

			// The response, against the document.
			out := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: in,
				Status:                 resp.StatusCode,
				Header:                 resp.Header,
				Body:                   io.NopCloser(bytes.NewReader(body)),
				Options:                &openapi3filter.Options{IncludeResponseStatus: true},
			}
			if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
				t.Fatalf("the response does not match the document: %v\n%s", err, body)
			}
			seen[fmt.Sprintf("%s %s %d", route.Method, route.Path, resp.StatusCode)] = true
		})
	}

	// Every documented operation and response was exercised.
	var docOps []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			docOps = append(docOps, method+" "+path)
			for code := range op.Responses.Map() {
				if key := fmt.Sprintf("%s %s %s", method, path, code); !seen[key] {
					t.Errorf("documented but never exercised: %s", key)
				}
			}
		}
	}
	slices.Sort(docOps)
	if routes := e.api.Routes(); !slices.Equal(docOps, routes) {
		t.Errorf("the document and the handlers disagree on the operations:\ndocument %v\nhandlers %v", docOps, routes)
	}
}

// jsonField returns a top-level string field of a JSON object.
func jsonField(t *testing.T, body []byte, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[field].(string)
	return s
}
