package catalog

import (
	"bytes"
	"fmt"
	"net/url"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// CompileDataSchema compiles et's data schema the one way Surge uses it:
// JSON Schema draft 2020-12 unless the schema names another draft, with
// no loaders, so a schema may $ref only itself and the embedded
// meta-schemas, never a file or URL. Validate calls it, so a type that
// validates has a schema ingest can check events with.
func CompileDataSchema(et EventType) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(et.DataSchema))
	if err != nil {
		return nil, fmt.Errorf("decoding data schema of event type %q: %w", et.Name, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(jsonschema.SchemeURLLoader{})
	loc := "https://schemas.surge.invalid/event-types/" + url.PathEscape(et.Name) + ".json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("adding data schema of event type %q: %w", et.Name, err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("compiling data schema of event type %q: %w", et.Name, err)
	}
	return sch, nil
}
