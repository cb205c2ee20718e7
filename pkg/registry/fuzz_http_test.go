package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/registry"
)

// registryMethods are the methods the fuzzer picks from.
var registryMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete}

// FuzzRegistryREST sends any method, path and body to the registry on
// Kafka. Properties: never a 5xx (Kafka is healthy); every answer has
// Confluent's media type and, for an error, Confluent's error body whose
// error_code starts with the HTTP status; a schema registered under a
// subject is served by the id it was given, and registering it again
// gives the same id.
func FuzzRegistryREST(f *testing.F) {
	reg := func(schema string) []byte {
		b, _ := json.Marshal(map[string]string{"schema": schema})
		return b
	}
	for _, tc := range []struct {
		method uint8
		path   string
		body   []byte
	}{
		{1, "/subjects/commerce.events.raw-value/versions", reg(eventV1)},
		{1, "/subjects/commerce.events.raw-value/versions", reg(eventV2)},
		{1, "/subjects/commerce.events.raw-value", reg(eventV1Reformatted)},
		{1, "/compatibility/subjects/commerce.events.raw-value/versions/latest", reg(eventV3Required)},
		{1, "/compatibility/subjects/commerce.events.raw-value/versions?verbose=true", reg(eventV3IntTotal)},
		{1, "/subjects/x/versions", []byte(`{"schema":"{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}"}`)},
		{1, "/subjects/x/versions", []byte(`{"schema":"\"string\"","schemaType":"PROTOBUF"}`)},
		{1, "/subjects/x/versions", []byte(`{"schema":"\"long\"","references":[{"name":"a","subject":"y","version":1}]}`)},
		{2, "/config", []byte(`{"compatibility":"FULL_TRANSITIVE"}`)},
		{2, "/config/commerce.events.raw-value", []byte(`{"compatibility":"NOPE"}`)},
		{0, "/subjects/commerce.events.raw-value/versions/latest", nil},
		{0, "/schemas/ids/1/versions", nil},
		{0, "/subjects/commerce.events.raw-value/versions/-1/schema", nil},
		{0, "/config/x?defaultToGlobal=true", nil},
		{3, "/subjects/commerce.events.raw-value/versions/1", nil},
		{3, "/subjects/commerce.events.raw-value?permanent=true", nil},
		{0, "/schemas/ids/99999999999999999999", nil},
		{1, "/subjects/a%2Fb/versions", []byte(`{"schema":`)},
		{0, "/subjects/commerce.events.raw-value/metadata?deleted=true&key=a&value=b", nil},
		{1, "/subjects/x/versions", []byte(`{"schema":"\"int\"","metadata":{"properties":{"a":"b"}},"ruleSet":null}`)},
		{1, "/compatibility/subjects/x/versions/1?verbose=true", []byte(`{"schema":"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[]}"}`)},
	} {
		f.Add(tc.method, tc.path, tc.body)
	}
	kc := kafkatest.New(f)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := registry.New(ctx, registry.Config{Topic: kc.Topic("_schemas")}, zap.NewNop(), kgo.SeedBrokers(kc.Brokers...))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(r.Close)
	if err := r.WaitReady(ctx); err != nil {
		f.Fatal(err)
	}
	h := r.Handler()
	do := func(t *testing.T, method, target string, body []byte) (int, map[string]any, bool) {
		req, err := http.NewRequest(method, "http://registry"+target, bytes.NewReader(body))
		if err != nil {
			return 0, nil, false // no client could send it
		}
		req.Header.Set("Content-Type", registry.ContentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if ct := rec.Header().Get("Content-Type"); ct != registry.ContentType {
			t.Fatalf("%s %s: Content-Type %q", method, target, ct)
		}
		var out map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, target, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			code, ok := out["error_code"].(float64)
			msg, _ := out["message"].(string)
			if !ok || msg == "" || fmt.Sprint(int(code))[:3] != fmt.Sprint(rec.Code) {
				t.Fatalf("%s %s: %d with error body %s", method, target, rec.Code, rec.Body)
			}
		}
		return rec.Code, out, true
	}
	f.Fuzz(func(t *testing.T, method uint8, target string, body []byte) {
		m := registryMethods[int(method)%len(registryMethods)]
		status, out, sent := do(t, m, target, body)
		if !sent || m != http.MethodPost || status != 200 {
			return
		}
		id, ok := out["id"].(float64)
		if !ok || out["version"] != nil {
			return // a lookup or a compatibility check, not a registration
		}
		// A registration: the id serves the schema, and again gives the id.
		if st, got, _ := do(t, http.MethodGet, fmt.Sprintf("/schemas/ids/%d", int(id)), nil); st != 200 || got["schema"] == nil {
			t.Fatalf("registered as id %d, which answers %d %v", int(id), st, got)
		}
		if st, again, _ := do(t, m, target, body); st != 200 || again["id"] != out["id"] {
			t.Fatalf("registering again answers %d %v, first %v", st, again, out)
		}
	})
}
