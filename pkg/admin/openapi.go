package admin

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3 document of the admin API, served without
// authentication at GET /v1/openapi.json. A test drives the real handlers
// through every operation it documents and validates each request and
// response against it.
//
//go:embed openapi.json
var OpenAPI []byte

func (a *API) openAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(OpenAPI)
	return nil
}

// asyncAPIDocument serves the AsyncAPI document of the topics (pkg/asyncapi)
// without authentication at GET /v1/asyncapi.json.
func (a *API) asyncAPIDocument(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(a.asyncAPI)
	return nil
}
