package avrotest

import (
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/surgehq/surge/schemas"
)

// Codec returns goavro's codec of schemas/<schema>.avsc; a schema goavro
// cannot parse fails the test.
func Codec(t testing.TB, schema string) *goavro.Codec {
	t.Helper()
	c, err := goavro.NewCodec(schemas.MustText(schema))
	if err != nil {
		t.Fatalf("parsing schema %s: %v", schema, err)
	}
	return c
}
