package enrich

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestParseObject(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{name: "empty", in: `{}`, want: map[string]string{}},
		{name: "spaced", in: " {\n \"a\" : 1 ,\t\"b\":\"x y\" } ", want: map[string]string{"a": `1`, "b": `"x y"`}},
		{name: "nested values are kept whole and compacted", in: `{"o":{ "k" : [1, 2, {"z": "a b"}] },"s":"}]{[","n":null}`,
			want: map[string]string{"o": `{"k":[1,2,{"z":"a b"}]}`, "s": `"}]{["`, "n": `null`}},
		{name: "escaped key and value", in: `{"a\"b":"c\"d","\u00e9":true}`, want: map[string]string{`a"b`: `"c\"d"`, "é": `true`}},
		{name: "last duplicate wins", in: `{"a":1,"a":2}`, want: map[string]string{"a": `2`}},
		{name: "numbers", in: `{"a":-1.5e3,"b":0}`, want: map[string]string{"a": `-1.5e3`, "b": `0`}},
		{name: "array", in: `[1]`, wantErr: true},
		{name: "string", in: `"x"`, wantErr: true},
		{name: "truncated", in: `{"a":1`, wantErr: true},
		{name: "trailing garbage", in: `{"a":1} x`, wantErr: true},
		{name: "empty input", in: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseObject([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseObject error = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			gotS := map[string]string{}
			for k, v := range got {
				gotS[k] = string(v)
			}
			if !reflect.DeepEqual(gotS, tt.want) {
				t.Errorf("parseObject = %v, want %v", gotS, tt.want)
			}
			// The same fields as encoding/json finds.
			var std map[string]any
			if err := json.Unmarshal([]byte(tt.in), &std); err != nil {
				t.Fatal(err)
			}
			var back map[string]any
			if err := json.Unmarshal(marshalObject(got), &back); err != nil || !reflect.DeepEqual(back, std) {
				t.Errorf("marshalObject(parseObject) = %s (%v), want %v", marshalObject(got), err, std)
			}
		})
	}
}

func TestJSONEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{name: "same bytes", a: `"x"`, b: `"x"`, want: true},
		{name: "different strings", a: `"x"`, b: `"y"`, want: false},
		{name: "escaped same string", a: `"\u0078"`, b: `"x"`, want: true},
		{name: "int and float spelling", a: `1`, b: `1.0`, want: true},
		{name: "exponent", a: `100`, b: `1e2`, want: true},
		{name: "different numbers", a: `1`, b: `2`, want: false},
		{name: "big ints", a: `9007199254740993`, b: `9007199254740992`, want: false},
		{name: "number and string", a: `1`, b: `"1"`, want: false},
		{name: "null and false", a: `null`, b: `false`, want: false},
		{name: "object key order", a: `{"a":1,"b":2}`, b: `{"b":2,"a":1}`, want: true},
		{name: "object and array", a: `{}`, b: `[]`, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jsonEqual(json.RawMessage(tt.a), json.RawMessage(tt.b)); got != tt.want {
				t.Errorf("jsonEqual(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
