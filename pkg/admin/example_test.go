package admin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/surgehq/surge/pkg/admin"
	"github.com/surgehq/surge/pkg/admin/admintest"
	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
)

func ExampleAPI_Mount() {
	api, err := admin.New(admin.Config{Token: "s3cret"}, admin.Deps{
		Subscriptions: admintest.NewStore[event.Subscription](),
		Sources:       admintest.NewStore[catalog.Source](),
		EventTypes:    admintest.NewStore[catalog.EventType](),
		Catalog:       catalog.New(catalog.Builtin()...),
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	api.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	post := func(token, body string) {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/subscriptions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		var out struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
			Error  struct{ Code, Field string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		fmt.Println(resp.StatusCode, out.Error.Code, out.Error.Field,
			strings.HasPrefix(out.ID, "sub_"), strings.HasPrefix(out.Secret, "whsec_"))
	}
	post("wrong", `{"url":"https://203.0.113.10/hooks","event_types":["order.*"]}`)
	post("s3cret", `{"url":"http://169.254.169.254/latest","event_types":["order.*"]}`)
	post("s3cret", `{"url":"https://203.0.113.10/hooks","event_types":["order.*"]}`)
	// Output:
	// 401 unauthorized  false false
	// 422 invalid url false false
	// 201   true true
}
