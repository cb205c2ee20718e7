package filter_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/surgehq/surge/pkg/filter"
)

func Example() {
	types, err := filter.CompileTypes([]string{"order.*"})
	if err != nil {
		panic(err)
	}
	f, err := filter.Compile(`"status" in changes && has(data.total) && data.total > 100`)
	if err != nil {
		panic(err)
	}

	var data any
	_ = json.Unmarshal([]byte(`{"status":"processing","total":149.5}`), &data)
	b := &filter.Body{
		Type:    "order.updated",
		Entity:  filter.Entity{Type: "order", ID: "100012", Version: 3},
		Data:    data,
		Changes: []string{"status"},
	}
	ok, err := f.Match(b)
	fmt.Println(types.Match(b.Type), ok, err)
	// Output: true true <nil>
}

func ExampleCompile_error() {
	_, err := filter.Compile(`type == "order.placed" && dta.total > 100`)
	var ce *filter.CompileError
	if errors.As(err, &ce) {
		fmt.Println(ce.Line, ce.Column)
	}
	fmt.Println(err)
	// Output:
	// 1 27
	// filter: line 1, column 27: undeclared reference to 'dta' (did you mean 'data'?)
}

func ExampleValidatePattern() {
	for _, p := range []string{"order.*", "*.placed", "order."} {
		fmt.Println(filter.ValidatePattern(p))
	}
	// Output:
	// <nil>
	// event type pattern "*.placed": '*' may only be the whole pattern or its last word, as in "order.*"
	// event type pattern "order." ends with '.'; for every type under it write "order.*"
}
