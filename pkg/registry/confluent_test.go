package registry_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

// call sends one request as Confluent's clients do and returns the status
// and the body.
func call(t *testing.T, in *instance, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, in.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(raw))
}

// schemaBody is a register/check request for schema.
func schemaBody(t *testing.T, schema string) string {
	t.Helper()
	b, err := json.Marshal(map[string]string{"schema": schema})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func compact(t *testing.T, schema string) string {
	t.Helper()
	var v json.RawMessage
	if err := json.Unmarshal([]byte(schema), &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCompatibilityAnswersAsConfluent checks the compatibility endpoints
// answer in the shape Confluent's registry does: the verdict alone unless
// ?verbose=true; verbose reasons as {errorType, description,
// additionalInfo} entries followed by the version and schema they are
// about and the level; an invalid schema is a 422, or with verbose a 200
// saying incompatible; and "latest" of a subject without versions is
// compatible.
func TestCompatibilityAnswersAsConfluent(t *testing.T) {
	t.Parallel()
	in := start(t, newCluster(t))
	mustRegister(t, in.cl, subject, eventV1)
	mustRegister(t, in.cl, subject, eventV2)
	latest := "/compatibility/subjects/" + subject + "/versions/latest"
	all := "/compatibility/subjects/" + subject + "/versions"

	tests := []struct {
		name, path, schema string
		wantStatus         int
		want               string // the whole body
	}{
		{name: "compatible", path: latest, schema: eventV2, wantStatus: 200, want: `{"is_compatible":true}`},
		{name: "compatible, verbose", path: latest + "?verbose=true", schema: eventV2, wantStatus: 200, want: `{"is_compatible":true,"messages":[]}`},
		{name: "incompatible", path: latest, schema: eventV3Required, wantStatus: 200, want: `{"is_compatible":false}`},
		{name: "incompatible, all versions", path: all, schema: eventV3Required, wantStatus: 200, want: `{"is_compatible":false}`},
		{name: "incompatible, verbose", path: latest + "?verbose=true", schema: eventV3Required, wantStatus: 200, want: mustJSON(t, map[string]any{
			"is_compatible": false,
			"messages": []string{
				`{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'at path '/fields/3': field "channel" (dev.surge.v1.Event.channel) has no default and is missing from version 2', additionalInfo:'channel'}`,
				`{oldSchemaVersion: 2}`,
				`{oldSchema: '` + compact(t, eventV2) + `'}`,
				`{validateFields: 'false', compatibility: 'BACKWARD'}`,
			}})},
		{name: "type change against version 1, verbose", path: "/compatibility/subjects/" + subject + "/versions/1?verbose=true", schema: eventV3IntTotal,
			wantStatus: 200, want: mustJSON(t, map[string]any{
				"is_compatible": false,
				"messages": []string{
					`{errorType:'TYPE_MISMATCH', description:'at path '/fields/1/type': field "total" (dev.surge.v1.Event.total) has type int in the new schema, which cannot read type string from version 1', additionalInfo:'reader type int, writer type string'}`,
					`{oldSchemaVersion: 1}`,
					`{oldSchema: '` + compact(t, eventV1) + `'}`,
					`{validateFields: 'false', compatibility: 'BACKWARD'}`,
				}})},
		{name: "invalid schema", path: latest, schema: `{"type":"record","name":"R","fields":[{"name":"a","type":"strng"}]}`,
			wantStatus: 422, want: "42201"},
		{name: "invalid schema, verbose", path: latest + "?verbose=true", schema: `{"type":"record","name":"R","fields":[{"name":"a","type":"strng"}]}`,
			wantStatus: 200, want: `{"is_compatible":false,"messages":["Invalid Avro schema: `},
		{name: "latest of a new subject", path: "/compatibility/subjects/new-value/versions/latest?verbose=true", schema: eventV3Required,
			wantStatus: 200, want: `{"is_compatible":true,"messages":[]}`},
		{name: "version of a new subject", path: "/compatibility/subjects/new-value/versions/1", schema: eventV1, wantStatus: 404, want: "40402"},
		{name: "missing version", path: "/compatibility/subjects/" + subject + "/versions/9", schema: eventV1, wantStatus: 404, want: "40402"},
		{name: "bad version", path: "/compatibility/subjects/" + subject + "/versions/zero", schema: eventV1, wantStatus: 422, want: "42202"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, in, "POST", tt.path, schemaBody(t, tt.schema))
			ok := body == tt.want
			if tt.wantStatus != 200 || strings.HasSuffix(tt.want, ": ") {
				ok = strings.Contains(body, tt.want)
			}
			if status != tt.wantStatus || !ok {
				t.Fatalf("got %d %s\nwant %d %s", status, body, tt.wantStatus, tt.want)
			}
		})
	}
	if vs, _ := in.cl.SubjectVersions(ctxT(t), subject); len(vs) != 2 {
		t.Fatalf("checks registered something: versions %v", vs)
	}
}

// TestTransitiveVerboseNamesTheNewestFailingVersion: under a transitive
// level a schema that fails against several versions is reported against
// the newest of them only, as Confluent's checker stops there; the 409 of
// a registration still lists every failing version.
func TestTransitiveVerboseNamesTheNewestFailingVersion(t *testing.T) {
	t.Parallel()
	in := start(t, newCluster(t))
	ctx := ctxT(t)
	mustRegister(t, in.cl, subject, eventV1)
	mustRegister(t, in.cl, subject, eventV2)
	if r := in.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatBackwardTransitive}, subject); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	res, err := in.cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), subject, -2, avroSchema(eventV3Required))
	if err != nil || res.Is {
		t.Fatalf("check = %+v, %v", res, err)
	}
	joined := strings.Join(res.Messages, "\n")
	if !strings.Contains(joined, "{oldSchemaVersion: 2}") || strings.Contains(joined, "{oldSchemaVersion: 1}") ||
		res.Messages[len(res.Messages)-1] != "{validateFields: 'false', compatibility: 'BACKWARD_TRANSITIVE'}" {
		t.Fatalf("verbose messages:\n%s\nwant version 2 only, then the level", joined)
	}
	_, err = in.cl.RegisterSchema(ctx, subject, avroSchema(eventV3Required), -1, -1)
	if errorCode(err) != 409 || !strings.Contains(err.Error(), "missing from version 1") || !strings.Contains(err.Error(), "missing from version 2") {
		t.Fatalf("register: %v, want 409 naming versions 1 and 2", err)
	}
}

// TestLatestWithMetadata is GET /subjects/{subject}/metadata, which
// confluent-kafka's get_latest_with_metadata and the serializers'
// use.latest.with.metadata call. Surge's schemas carry no metadata: no
// filter gives the latest version, any filter nothing (40403), and an
// unknown subject 40401, in Confluent's error shape.
func TestLatestWithMetadata(t *testing.T) {
	t.Parallel()
	in := start(t, newCluster(t))
	ctx := ctxT(t)
	id1 := mustRegister(t, in.cl, subject, eventV1)
	id2 := mustRegister(t, in.cl, subject, eventV2)
	path := "/subjects/" + url.PathEscape(subject) + "/metadata"

	type version struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
		ID      int    `json:"id"`
		Schema  string `json:"schema"`
	}
	get := func(query string) (int, string, version) {
		t.Helper()
		status, body := call(t, in, "GET", path+query, "")
		var v version
		if status == 200 {
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
		}
		return status, body, v
	}

	if status, body, v := get(""); status != 200 || v != (version{subject, 2, id2, compact(t, eventV2)}) {
		t.Fatalf("no filter: %d %s, want version 2 (id %d)", status, body, id2)
	}
	// As confluent-kafka sends it: deleted=False, keys and values as lists.
	if status, body, v := get("?deleted=False"); status != 200 || v.Version != 2 {
		t.Fatalf("deleted=False: %d %s", status, body)
	}
	for _, q := range []string{"?key=owner&value=team-a", "?deleted=true&key=a&value=1&key=b&value=2"} {
		if status, body, _ := get(q); status != 404 || body != `{"error_code":40403,"message":"Schema not found"}` {
			t.Fatalf("filter %s: %d %s, want 404 40403", q, status, body)
		}
	}
	// A key without a value is no pair: nothing to filter on, as Confluent reads it.
	if status, body, v := get("?key=owner"); status != 200 || v.Version != 2 {
		t.Fatalf("key without value: %d %s", status, body)
	}
	if status, body := call(t, in, "GET", "/subjects/nope/metadata", ""); status != 404 || body != `{"error_code":40401,"message":"Subject 'nope' not found."}` {
		t.Fatalf("unknown subject: %d %s", status, body)
	}

	// Soft-deleted versions count only with deleted=true.
	if err := in.cl.DeleteSchema(ctx, subject, 2, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if status, body, v := get(""); status != 200 || v.Version != 1 || v.ID != id1 {
		t.Fatalf("after soft-deleting version 2: %d %s, want version 1", status, body)
	}
	if status, body, v := get("?deleted=true"); status != 200 || v.Version != 2 {
		t.Fatalf("deleted=true: %d %s, want version 2", status, body)
	}
	if err := in.cl.DeleteSchema(ctx, subject, 1, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := get(""); status != 404 || !strings.Contains(body, "40401") {
		t.Fatalf("every version soft-deleted: %d %s, want 40401", status, body)
	}
}

// TestDataContractsAreRefusedNotDropped: a schema registered with
// Confluent metadata or a rule set would lose them here, so it is refused
// (42201) and nothing is written; empty ones are the same as none.
func TestDataContractsAreRefusedNotDropped(t *testing.T) {
	t.Parallel()
	in := start(t, newCluster(t))
	schema, _ := json.Marshal(eventV1)
	with := func(extra string) string { return `{"schema":` + string(schema) + `,` + extra + `}` }
	register := "/subjects/" + subject + "/versions"
	for _, extra := range []string{
		`"metadata":{"properties":{"owner":"team-a"}}`,
		`"metadata":{"tags":{"Event.id":["PII"]}}`,
		`"ruleSet":{"domainRules":[{"name":"checkId","kind":"CONDITION","type":"CEL","expr":"message.id != ''"}]}`,
	} {
		status, body := call(t, in, "POST", register, with(extra))
		if status != 422 || !strings.Contains(body, `"error_code":42201`) || !strings.Contains(body, "does not keep") {
			t.Fatalf("%s: %d %s, want 422 42201", extra, status, body)
		}
	}
	if subjects, _ := in.cl.Subjects(ctxT(t)); len(subjects) != 0 {
		t.Fatalf("a refused registration wrote %v", subjects)
	}
	for _, extra := range []string{`"metadata":null`, `"metadata":{"properties":{},"tags":{},"sensitive":[]}`, `"ruleSet":{"domainRules":[],"migrationRules":null}`} {
		if status, body := call(t, in, "POST", register, with(extra)); status != 200 || body != `{"id":1}` {
			t.Fatalf("%s: %d %s, want id 1", extra, status, body)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
