package admin_test

import (
	"encoding/json"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/surgehq/surge/pkg/admin"
	"github.com/surgehq/surge/pkg/dlq"
)

// TestOpenAPIDescribesDLQPartitionOffsets checks that the document takes a
// partition's first and last dead-letter offsets, as pkg/dlq writes them,
// and still refuses a field it does not know.
func TestOpenAPIDescribesDLQPartitionOffsets(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(admin.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	ref := doc.Components.Schemas["DLQPartitionStats"]
	if ref == nil || ref.Value == nil {
		t.Fatal("openapi.json has no DLQPartitionStats schema")
	}
	first, last := int64(0), int64(0)
	for _, p := range []dlq.PartitionStats{
		{Partition: 0, Count: 1, StartOffset: 0, EndOffset: 2, FirstOffset: &first, LastOffset: &last},
		{Partition: 1},
	} {
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		if err := ref.Value.VisitJSON(v); err != nil {
			t.Errorf("DLQPartitionStats refuses %s: %v", raw, err)
		}
	}
	if err := ref.Value.VisitJSON(map[string]any{"partition": 0.0, "count": 0.0, "start_offset": 0.0, "end_offset": 0.0, "first": 0.0}); err == nil {
		t.Error("DLQPartitionStats takes an unknown field; the check above would prove nothing")
	}
}
