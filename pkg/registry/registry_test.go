package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/registry"
)

const subject = "commerce.events.raw-value"

const eventV1 = `{"type":"record","name":"Event","namespace":"dev.surge.v1","fields":[
  {"name":"id","type":"string"},
  {"name":"total","type":"string"}]}`

// eventV1Reformatted is eventV1 with other whitespace and key order.
const eventV1Reformatted = `{
    "namespace": "dev.surge.v1",
    "fields": [
        {"type": "string", "name": "id"},
        {"type": "string", "name": "total"}
    ],
    "name": "Event",
    "type": "record"
}`

// eventV2 adds an optional field: BACKWARD compatible.
const eventV2 = `{"type":"record","name":"Event","namespace":"dev.surge.v1","fields":[
  {"name":"id","type":"string"},
  {"name":"total","type":"string"},
  {"name":"currency","type":"string","default":"EUR"}]}`

// eventV3Required adds a field without a default: not BACKWARD compatible.
const eventV3Required = `{"type":"record","name":"Event","namespace":"dev.surge.v1","fields":[
  {"name":"id","type":"string"},
  {"name":"total","type":"string"},
  {"name":"currency","type":"string","default":"EUR"},
  {"name":"channel","type":"string"}]}`

// eventV3IntTotal changes total from string to int.
const eventV3IntTotal = `{"type":"record","name":"Event","namespace":"dev.surge.v1","fields":[
  {"name":"id","type":"string"},
  {"name":"total","type":"int"},
  {"name":"currency","type":"string","default":"EUR"}]}`

// newCluster is kfake, or the real brokers of KAFKA_BROKERS with a
// _schemas topic of this test's own.
func newCluster(t *testing.T) *kafkatest.Cluster {
	t.Helper()
	return kafkatest.New(t)
}

type instance struct {
	reg *registry.Registry
	srv *httptest.Server
	cl  *sr.Client
}

func start(t *testing.T, c *kafkatest.Cluster) *instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	reg, err := registry.New(ctx, registry.Config{Topic: c.Topic("_schemas")}, log, kgo.SeedBrokers(c.Brokers...))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(reg.Close)
	if err := reg.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	if !reg.Ready() {
		t.Fatal("Ready() is false after WaitReady")
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(srv.Close)
	cl, err := sr.NewClient(sr.URLs(srv.URL))
	if err != nil {
		t.Fatalf("sr.NewClient: %v", err)
	}
	return &instance{reg: reg, srv: srv, cl: cl}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func avroSchema(s string) sr.Schema { return sr.Schema{Schema: s, Type: sr.TypeAvro} }

func mustRegister(t *testing.T, cl *sr.Client, subject, schema string) int {
	t.Helper()
	id, err := cl.RegisterSchema(ctxT(t), subject, avroSchema(schema), -1, -1)
	if err != nil {
		t.Fatalf("registering under %s: %v", subject, err)
	}
	return id
}

// errorCode returns the Confluent error code of an sr error, or 0.
func errorCode(err error) int {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return 0
}

func TestRegisterAndRead(t *testing.T) {
	t.Parallel()
	in := start(t, newCluster(t))
	ctx := ctxT(t)

	id := mustRegister(t, in.cl, subject, eventV1)
	if id != 1 {
		t.Fatalf("first id = %d, want 1", id)
	}
	if again := mustRegister(t, in.cl, subject, eventV1Reformatted); again != id {
		t.Fatalf("reformatted schema got id %d, want %d", again, id)
	}
	versions, err := in.cl.SubjectVersions(ctx, subject)
	if err != nil || !slices.Equal(versions, []int{1}) {
		t.Fatalf("versions = %v, %v; want [1] (no new version for the same schema)", versions, err)
	}
	if other := mustRegister(t, in.cl, "commerce.events.enriched-value", eventV1); other != id {
		t.Fatalf("same schema under another subject got id %d, want %d", other, id)
	}

	// CreateSchema registers then reads back through /schemas/ids/{id}/versions.
	created, err := in.cl.CreateSchema(ctx, subject, avroSchema(eventV1))
	if err != nil || created.ID != id || created.Version != 1 || created.Subject != subject {
		t.Fatalf("CreateSchema = %+v, %v", created, err)
	}

	looked, err := in.cl.LookupSchema(ctx, subject, avroSchema(eventV1Reformatted))
	if err != nil || looked.ID != id || looked.Version != 1 || looked.Subject != subject {
		t.Fatalf("LookupSchema = %+v, %v", looked, err)
	}

	latest, err := in.cl.SchemaByVersion(ctx, subject, -1)
	if err != nil || latest.ID != id || latest.Version != 1 {
		t.Fatalf("latest = %+v, %v", latest, err)
	}
	byVersion, err := in.cl.SchemaByVersion(ctx, subject, 1)
	if err != nil || byVersion.Schema.Schema != latest.Schema.Schema {
		t.Fatalf("version 1 = %+v, %v", byVersion, err)
	}
	byID, err := in.cl.SchemaByID(ctx, id)
	if err != nil || byID.Schema != latest.Schema.Schema {
		t.Fatalf("by id = %+v, %v", byID, err)
	}
	var parsed map[string]any
	if err := json.Unmarshal([]byte(byID.Schema), &parsed); err != nil || parsed["name"] != "Event" {
		t.Fatalf("stored schema %q is not the registered JSON: %v", byID.Schema, err)
	}
	text, err := in.cl.SchemaTextByVersion(ctx, subject, 1)
	if err != nil || text != byID.Schema {
		t.Fatalf("raw schema = %q, %v", text, err)
	}

	subjects, err := in.cl.Subjects(ctx)
	if err != nil || !slices.Equal(subjects, []string{"commerce.events.enriched-value", subject}) {
		t.Fatalf("subjects = %v, %v", subjects, err)
	}
	byIDSubjects, err := in.cl.SubjectsByID(ctx, id)
	if err != nil || len(byIDSubjects) != 2 {
		t.Fatalf("subjects of id = %v, %v", byIDSubjects, err)
	}
	svs, err := in.cl.SchemaVersionsByID(ctx, id)
	if err != nil || len(svs) != 2 || svs[1] != (sr.SubjectVersion{Subject: subject, Version: 1}) {
		t.Fatalf("versions of id = %v, %v", svs, err)
	}
	types, err := in.cl.SupportedTypes(ctx)
	if err != nil || !slices.Equal(types, []sr.SchemaType{sr.TypeAvro}) {
		t.Fatalf("types = %v, %v", types, err)
	}

	// A new schema gets the next id.
	if id2 := mustRegister(t, in.cl, subject, eventV2); id2 != 2 {
		t.Fatalf("second schema id = %d, want 2", id2)
	}
}

func TestBackwardCompatibility(t *testing.T) {
	t.Parallel()
	in := start(t, newCluster(t))
	ctx := ctxT(t)

	mustRegister(t, in.cl, subject, eventV1)
	if id := mustRegister(t, in.cl, subject, eventV2); id != 2 {
		t.Fatalf("optional field: id %d, want 2", id)
	}
	if versions, _ := in.cl.SubjectVersions(ctx, subject); !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("versions = %v, want [1 2]", versions)
	}

	_, err := in.cl.RegisterSchema(ctx, subject, avroSchema(eventV3Required), -1, -1)
	want := `Schema being registered is incompatible with an earlier schema for subject "commerce.events.raw-value": ` +
		`field "channel" (dev.surge.v1.Event.channel) has no default and is missing from version 2`
	var re *sr.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusConflict || re.ErrorCode != 409 || re.Message != want {
		t.Fatalf("required field: err = %v (%#v)\nwant 409 %q", err, re, want)
	}

	_, err = in.cl.RegisterSchema(ctx, subject, avroSchema(eventV3IntTotal), -1, -1)
	if errorCode(err) != 409 || !strings.Contains(err.Error(), `field "total" (dev.surge.v1.Event.total)`) ||
		!strings.Contains(err.Error(), "type int") || !strings.Contains(err.Error(), "type string") {
		t.Fatalf("type change: err = %v, want 409 naming field total", err)
	}

	// The compatibility endpoint says the same and registers nothing;
	// it gives its reasons only when asked (?verbose=true), as
	// Confluent's does (confluent_test.go has the exact answers).
	res, err := in.cl.CheckCompatibility(ctx, subject, -1, avroSchema(eventV3Required))
	if err != nil || res.Is || len(res.Messages) != 0 {
		t.Fatalf("check required field = %+v, %v", res, err)
	}
	res, err = in.cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), subject, 2, avroSchema(eventV3IntTotal))
	if err != nil || res.Is || !strings.Contains(strings.Join(res.Messages, " "), `field "total"`) {
		t.Fatalf("check type change = %+v, %v", res, err)
	}
	res, err = in.cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), subject, -1, avroSchema(eventV3Required))
	if err != nil || res.Is || len(res.Messages) < 2 {
		t.Fatalf("verbose check = %+v, %v", res, err)
	}
	res, err = in.cl.CheckCompatibility(ctx, subject, -2, avroSchema(eventV2))
	if err != nil || !res.Is {
		t.Fatalf("check compatible against all = %+v, %v", res, err)
	}
	if versions, _ := in.cl.SubjectVersions(ctx, subject); !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("versions after checks = %v, want [1 2]", versions)
	}

	// NONE on the subject lets the incompatible schema in; the global
	// level stays BACKWARD.
	set := in.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, subject)
	if set[0].Err != nil || set[0].Level != sr.CompatNone {
		t.Fatalf("set NONE = %+v", set[0])
	}
	if id := mustRegister(t, in.cl, subject, eventV3Required); id != 3 {
		t.Fatalf("incompatible under NONE: id %d, want 3", id)
	}
	got := in.cl.Compatibility(ctx, subject)
	if got[0].Err != nil || got[0].Level != sr.CompatNone {
		t.Fatalf("subject level = %+v", got[0])
	}
	global := in.cl.Compatibility(ctx)
	if global[0].Err != nil || global[0].Level != sr.CompatBackward {
		t.Fatalf("global level = %+v", global[0])
	}
	unset := in.cl.Compatibility(ctx, "other-value")
	if errorCode(unset[0].Err) != 40408 {
		t.Fatalf("unset subject level err = %v, want 40408", unset[0].Err)
	}
	fallback := in.cl.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), "other-value")
	if fallback[0].Err != nil || fallback[0].Level != sr.CompatBackward {
		t.Fatalf("defaultToGlobal = %+v", fallback[0])
	}
}

func TestPersistence(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	first := start(t, c)
	ctx := ctxT(t)
	id1 := mustRegister(t, first.cl, subject, eventV1)
	id2 := mustRegister(t, first.cl, subject, eventV2)
	idOther := mustRegister(t, first.cl, "other-value", `"string"`)
	if r := first.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, subject); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if r := first.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatForward}); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if err := first.cl.DeleteSchema(ctx, "other-value", 1, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	first.reg.Close()
	first.reg.Close() // idempotent

	second := start(t, c)
	for v, want := range map[int]int{1: id1, 2: id2} {
		got, err := second.cl.SchemaByVersion(ctx, subject, v)
		if err != nil || got.ID != want {
			t.Fatalf("after restart version %d = %+v, %v; want id %d", v, got, err, want)
		}
	}
	if s, err := second.cl.SchemaByID(ctx, idOther); err != nil || s.Schema != `"string"` {
		t.Fatalf("soft-deleted id after restart = %+v, %v", s, err)
	}
	if subjects, _ := second.cl.Subjects(ctx); !slices.Equal(subjects, []string{subject}) {
		t.Fatalf("subjects after restart = %v", subjects)
	}
	if got := second.cl.Compatibility(ctx, subject); got[0].Level != sr.CompatFull {
		t.Fatalf("subject level after restart = %+v", got[0])
	}
	if got := second.cl.Compatibility(ctx); got[0].Level != sr.CompatForward {
		t.Fatalf("global level after restart = %+v", got[0])
	}
	if id := mustRegister(t, second.cl, "more-value", `{"type":"enum","name":"Color","symbols":["RED"]}`); id != idOther+1 {
		t.Fatalf("id after restart = %d, want %d", id, idOther+1)
	}
	// Re-registering the soft-deleted schema brings back its id under a new version.
	if id := mustRegister(t, second.cl, "other-value", `"string"`); id != idOther {
		t.Fatalf("re-registered soft-deleted schema id = %d, want %d", id, idOther)
	}
	if versions, _ := second.cl.SubjectVersions(ctx, "other-value"); !slices.Equal(versions, []int{2}) {
		t.Fatalf("versions of re-registered subject = %v, want [2]", versions)
	}
}

func TestConcurrentInstances(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a, b := start(t, c), start(t, c)
	ctx := ctxT(t)
	if r := a.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "shared-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}

	const perInstance = 20
	type result struct {
		schema       string
		id, sharedID int
	}
	results := make(chan result, 2*perInstance)
	var wg sync.WaitGroup
	for k, in := range []*instance{a, b} {
		for g := range perInstance {
			wg.Go(func() {
				schema := fmt.Sprintf(`{"type":"record","name":"R%d_%d","fields":[{"name":"f","type":"long"}]}`, k, g)
				id, err := in.cl.RegisterSchema(ctx, fmt.Sprintf("s%d-%d-value", k, g), avroSchema(schema), -1, -1)
				if err != nil {
					t.Errorf("instance %d goroutine %d: %v", k, g, err)
					return
				}
				// The same schema on a subject every goroutine writes to:
				// versions and ids race across instances.
				sharedID, err := in.cl.RegisterSchema(ctx, "shared-value", avroSchema(schema), -1, -1)
				if err != nil {
					t.Errorf("instance %d goroutine %d shared: %v", k, g, err)
					return
				}
				results <- result{schema: schema, id: id, sharedID: sharedID}
			})
		}
	}
	wg.Wait()
	close(results)
	if t.Failed() {
		return
	}

	seen := map[int]string{}
	for r := range results {
		if r.sharedID != r.id {
			t.Errorf("schema %s: id %d under its subject but %d under shared-value", r.schema, r.id, r.sharedID)
		}
		if prev, dup := seen[r.id]; dup {
			t.Errorf("id %d given to %s and %s", r.id, prev, r.schema)
		}
		seen[r.id] = r.schema
	}
	if len(seen) != 2*perInstance {
		t.Fatalf("%d distinct ids, want %d", len(seen), 2*perInstance)
	}

	// Both instances end up agreeing on every id and on the shared
	// subject's history.
	deadline := time.Now().Add(10 * time.Second)
	for id, schema := range seen {
		for _, in := range []*instance{a, b} {
			for {
				got, err := in.cl.SchemaByID(ctx, id)
				if err == nil {
					if got.Schema != schema {
						t.Fatalf("id %d is %s on one instance, want %s", id, got.Schema, schema)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("id %d not visible: %v", id, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	// An id can be visible (under its own subject) before the instance
	// has read that schema's shared-value version: wait for both.
	var va, vb []sr.SubjectSchema
	for {
		va, _ = a.cl.Schemas(ctx, "shared-value")
		vb, _ = b.cl.Schemas(ctx, "shared-value")
		if len(va) == 2*perInstance && slices.EqualFunc(va, vb, func(x, y sr.SubjectSchema) bool {
			return x.Version == y.Version && x.ID == y.ID && x.Schema.Schema == y.Schema.Schema
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shared-value differs between instances or is incomplete:\n%v\n%v", va, vb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, v := range va {
		if v.Version != i+1 {
			t.Fatalf("shared-value versions not 1..%d: %v", len(va), va)
		}
	}
}

func TestDeletes(t *testing.T) {
	t.Parallel()
	in := start(t, newCluster(t))
	ctx := ctxT(t)
	id1 := mustRegister(t, in.cl, subject, eventV1)
	mustRegister(t, in.cl, subject, eventV2)

	if err := in.cl.DeleteSchema(ctx, subject, 1, sr.HardDelete); errorCode(err) != 40407 {
		t.Fatalf("hard delete before soft delete: %v, want 40407", err)
	}
	if err := in.cl.DeleteSchema(ctx, subject, 1, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if err := in.cl.DeleteSchema(ctx, subject, 1, sr.SoftDelete); errorCode(err) != 40406 {
		t.Fatalf("second soft delete: %v, want 40406", err)
	}
	if versions, _ := in.cl.SubjectVersions(ctx, subject); !slices.Equal(versions, []int{2}) {
		t.Fatalf("versions after soft delete = %v", versions)
	}
	if all, _ := in.cl.SubjectVersions(sr.WithParams(ctx, sr.ShowDeleted), subject); !slices.Equal(all, []int{1, 2}) {
		t.Fatalf("versions with deleted = %v", all)
	}
	if _, err := in.cl.SchemaByVersion(ctx, subject, 1); errorCode(err) != 40402 {
		t.Fatalf("soft-deleted version: %v, want 40402", err)
	}
	if _, err := in.cl.SchemaByID(ctx, id1); err != nil {
		t.Fatalf("soft-deleted version's id must resolve: %v", err)
	}

	deleted, err := in.cl.DeleteSubject(ctx, subject, sr.SoftDelete)
	if err != nil || !slices.Equal(deleted, []int{2}) {
		t.Fatalf("soft delete subject = %v, %v", deleted, err)
	}
	if subjects, _ := in.cl.Subjects(ctx); len(subjects) != 0 {
		t.Fatalf("subjects after soft delete = %v", subjects)
	}
	if _, err := in.cl.DeleteSubject(ctx, subject, sr.SoftDelete); errorCode(err) != 40404 {
		t.Fatalf("soft delete twice: %v, want 40404", err)
	}
	deleted, err = in.cl.DeleteSubject(ctx, subject, sr.HardDelete)
	if err != nil || !slices.Equal(deleted, []int{1, 2}) {
		t.Fatalf("hard delete subject = %v, %v", deleted, err)
	}
	if _, err := in.cl.SchemaByID(ctx, id1); errorCode(err) != 40403 {
		t.Fatalf("permanently deleted id: %v, want 40403", err)
	}
	// Ids are not reused after a permanent delete.
	if id := mustRegister(t, in.cl, subject, `"long"`); id != 3 {
		t.Fatalf("id after permanent delete = %d, want 3", id)
	}
}

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	in := start(t, newCluster(t))
	mustRegister(t, in.cl, subject, eventV1)

	tests := []struct {
		name, method, path, contentType, body string
		wantStatus, wantCode                  int
		wantMessage                           string
	}{
		{name: "unknown subject", method: "GET", path: "/subjects/nope/versions", wantStatus: 404, wantCode: 40401},
		{name: "unknown subject version", method: "GET", path: "/subjects/nope/versions/1", wantStatus: 404, wantCode: 40401},
		{name: "unknown version", method: "GET", path: "/subjects/" + subject + "/versions/7", wantStatus: 404, wantCode: 40402},
		{name: "unknown id", method: "GET", path: "/schemas/ids/99", wantStatus: 404, wantCode: 40403},
		{name: "lookup unregistered", method: "POST", path: "/subjects/" + subject, body: `{"schema":"\"int\""}`, wantStatus: 404, wantCode: 40403},
		{name: "lookup unknown subject", method: "POST", path: "/subjects/nope", body: `{"schema":"\"int\""}`, wantStatus: 404, wantCode: 40401},
		{name: "invalid avro", method: "POST", path: "/subjects/x/versions", body: `{"schema":"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"strng\"}]}"}`,
			wantStatus: 422, wantCode: 42201, wantMessage: "strng"},
		{name: "not json", method: "POST", path: "/subjects/x/versions", body: `{"schema":"{\"type\":"}`, wantStatus: 422, wantCode: 42201},
		{name: "empty schema", method: "POST", path: "/subjects/x/versions", body: `{"schema":""}`, wantStatus: 422, wantCode: 42201},
		{name: "subject not UTF-8", method: "POST", path: "/subjects/n%B1ts/versions", body: `{"schema":"\"int\""}`, wantStatus: 422, wantCode: 42208, wantMessage: "UTF-8"},
		{name: "protobuf", method: "POST", path: "/subjects/x/versions", body: `{"schema":"syntax = \"proto3\";","schemaType":"PROTOBUF"}`,
			wantStatus: 422, wantCode: 42201, wantMessage: "PROTOBUF is not supported"},
		{name: "bad version", method: "GET", path: "/subjects/" + subject + "/versions/abc", wantStatus: 422, wantCode: 42202},
		{name: "zero version", method: "GET", path: "/subjects/" + subject + "/versions/0", wantStatus: 422, wantCode: 42202},
		{name: "bad level", method: "PUT", path: "/config", body: `{"compatibility":"SIDEWAYS"}`, wantStatus: 422, wantCode: 42203},
		{name: "wrong media type", method: "POST", path: "/subjects/x/versions", contentType: "text/plain", body: `{"schema":"\"int\""}`, wantStatus: 415, wantCode: 415},
		{name: "malformed body", method: "POST", path: "/subjects/x/versions", body: `{`, wantStatus: 400, wantCode: 400},
		{name: "unknown path", method: "GET", path: "/nothing/here", wantStatus: 404, wantCode: 404},
		{name: "wrong method", method: "PATCH", path: "/subjects", wantStatus: 405, wantCode: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, in.srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			ct := tt.contentType
			if ct == "" {
				ct = "application/vnd.schemaregistry.v1+json"
			}
			req.Header.Set("Content-Type", ct)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				ErrorCode int    `json:"error_code"`
				Message   string `json:"message"`
			}
			raw, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("body %q: %v", raw, err)
			}
			if resp.StatusCode != tt.wantStatus || body.ErrorCode != tt.wantCode || !strings.Contains(body.Message, tt.wantMessage) {
				t.Fatalf("got %d %s, want %d error_code %d message containing %q", resp.StatusCode, raw, tt.wantStatus, tt.wantCode, tt.wantMessage)
			}
			if got := resp.Header.Get("Content-Type"); got != registry.ContentType {
				t.Fatalf("Content-Type = %q, want %q", got, registry.ContentType)
			}
		})
	}
}

func TestPlainJSONAndRoot(t *testing.T) {
	t.Parallel()
	in := start(t, newCluster(t))
	for _, ct := range []string{"application/json", "application/vnd.schemaregistry+json", ""} {
		req, _ := http.NewRequest("POST", in.srv.URL+"/subjects/plain-value/versions", strings.NewReader(`{"schema":"\"int\""}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.TrimSpace(string(raw)) != `{"id":1}` {
			t.Fatalf("Content-Type %q: %d %s", ct, resp.StatusCode, raw)
		}
	}
	// A subject with a slash travels escaped and comes back whole.
	id := mustRegister(t, in.cl, "team/a-value", `"bytes"`)
	if got, err := in.cl.SchemaByVersion(ctxT(t), "team/a-value", 1); err != nil || got.ID != id || got.Subject != "team/a-value" {
		t.Fatalf("subject with slash = %+v, %v", got, err)
	}
	resp, err := http.Get(in.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(raw)) != `{}` || resp.Header.Get("Content-Type") != registry.ContentType {
		t.Fatalf("GET / = %d %q %q", resp.StatusCode, raw, resp.Header.Get("Content-Type"))
	}
	resp, err = http.Get(in.srv.URL + "/subjects/plain-value/versions/latest")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(raw)) != `{"subject":"plain-value","version":1,"id":1,"schema":"\"int\""}` {
		t.Fatalf("GET latest = %s (schemaType must be absent for AVRO)", raw)
	}
	resp, err = http.Get(in.srv.URL + "/config")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(raw)) != `{"compatibilityLevel":"BACKWARD"}` {
		t.Fatalf("GET /config = %s", raw)
	}
}

func TestReferences(t *testing.T) {
	t.Parallel()
	in := start(t, newCluster(t))
	ctx := ctxT(t)
	money := `{"type":"record","name":"Money","namespace":"dev.surge.v1","fields":[{"name":"amount","type":"string"},{"name":"currency","type":"string"}]}`
	moneyID := mustRegister(t, in.cl, "dev.surge.v1.Money", money)
	order := sr.Schema{
		Schema:     `{"type":"record","name":"Order","namespace":"dev.surge.v1","fields":[{"name":"total","type":"dev.surge.v1.Money"}]}`,
		References: []sr.SchemaReference{{Name: "dev.surge.v1.Money", Subject: "dev.surge.v1.Money", Version: 1}},
	}
	orderID, err := in.cl.RegisterSchema(ctx, "orders-value", order, -1, -1)
	if err != nil || orderID == moneyID {
		t.Fatalf("registering with a reference: id %d, %v", orderID, err)
	}
	got, err := in.cl.SchemaByVersion(ctx, "orders-value", 1)
	if err != nil || len(got.References) != 1 || got.References[0].Subject != "dev.surge.v1.Money" {
		t.Fatalf("schema with reference = %+v, %v", got, err)
	}
	// Without the reference the type is unknown.
	if _, err := in.cl.RegisterSchema(ctx, "orders2-value", sr.Schema{Schema: order.Schema}, -1, -1); errorCode(err) != 42201 {
		t.Fatalf("missing reference: %v, want 42201", err)
	}
	if err := in.cl.DeleteSchema(ctx, "dev.surge.v1.Money", 1, sr.SoftDelete); errorCode(err) != 42206 {
		t.Fatalf("deleting a referenced version: %v, want 42206", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      registry.Config
		want    registry.Config
		wantErr string
	}{
		{name: "defaults", in: registry.Config{}, want: registry.Config{Topic: "_schemas", ReplicationFactor: 1, DefaultCompatibility: "BACKWARD"}},
		{name: "lower case level", in: registry.Config{Topic: "s", ReplicationFactor: 3, DefaultCompatibility: "full_transitive"},
			want: registry.Config{Topic: "s", ReplicationFactor: 3, DefaultCompatibility: "FULL_TRANSITIVE"}},
		{name: "bad level", in: registry.Config{DefaultCompatibility: "MOSTLY"}, wantErr: "DefaultCompatibility"},
		{name: "bad replication", in: registry.Config{ReplicationFactor: -1}, wantErr: "ReplicationFactor"},
		{name: "bad topic", in: registry.Config{Topic: "a b"}, wantErr: "Topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.in
			err := cfg.Validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || cfg != tt.want {
				t.Fatalf("got %+v, %v; want %+v", cfg, err, tt.want)
			}
		})
	}
}
