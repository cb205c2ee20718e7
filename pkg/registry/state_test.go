package registry

import (
	"fmt"
	"strings"
	"testing"
)

type rec struct{ key, value string } // value "" = tombstone

func schemaRec(subject string, version, id int, schema string, deleted bool) rec {
	return rec{
		key:   string(schemaKeyBytes(subject, version)),
		value: fmt.Sprintf(`{"subject":%q,"version":%d,"id":%d,"schema":%q,"deleted":%t}`, subject, version, id, schema, deleted),
	}
}

func applyAll(s *state, recs []rec) []string {
	var why []string
	for _, r := range recs {
		var v []byte
		if r.value != "" {
			v = []byte(r.value)
		}
		why = append(why, s.apply([]byte(r.key), v))
	}
	return why
}

func TestApplyRules(t *testing.T) {
	t.Parallel()
	const a, b = `"string"`, `"long"`
	tests := []struct {
		name     string
		in       []rec
		wantWhy  []string // substring per record, "" = applied
		wantIDs  map[int]string
		wantVers map[string][]int // live versions
		wantMax  int
	}{
		{name: "first id wins", in: []rec{schemaRec("s", 1, 1, a, false), schemaRec("t", 1, 1, b, false)},
			wantWhy: []string{"", "id 1 is already bound"}, wantIDs: map[int]string{1: a}, wantVers: map[string][]int{"s": {1}}, wantMax: 1},
		{name: "first version wins", in: []rec{schemaRec("s", 1, 1, a, false), schemaRec("s", 1, 2, b, false)},
			wantWhy: []string{"", "version 1 of \"s\" already has id 1"}, wantIDs: map[int]string{1: a}, wantVers: map[string][]int{"s": {1}}, wantMax: 1},
		{name: "same schema twice in a subject", in: []rec{schemaRec("s", 1, 1, a, false), schemaRec("s", 2, 1, a, false)},
			wantWhy: []string{"", "already is version 1"}, wantIDs: map[int]string{1: a}, wantVers: map[string][]int{"s": {1}}, wantMax: 1},
		{name: "same id reformatted under another subject", in: []rec{schemaRec("s", 1, 1, `"string"`, false), schemaRec("t", 1, 1, `{"type": "string"}`, false)},
			wantWhy: []string{"", ""}, wantIDs: map[int]string{1: `"string"`}, wantVers: map[string][]int{"s": {1}, "t": {1}}, wantMax: 1},
		{name: "soft delete keeps the id", in: []rec{schemaRec("s", 1, 1, a, false), schemaRec("s", 1, 1, a, true)},
			wantWhy: []string{"", ""}, wantIDs: map[int]string{1: a}, wantVers: map[string][]int{}, wantMax: 1},
		{name: "tombstone unbinds but keeps max", in: []rec{schemaRec("s", 1, 1, a, false), schemaRec("s", 2, 2, b, true), {key: string(schemaKeyBytes("s", 2))}},
			wantWhy: []string{"", "", ""}, wantIDs: map[int]string{1: a}, wantVers: map[string][]int{"s": {1}}, wantMax: 2},
		{name: "foreign type kept unparsed", in: []rec{{key: string(schemaKeyBytes("p", 1)),
			value: `{"subject":"p","version":1,"id":5,"schemaType":"PROTOBUF","schema":"syntax = \"proto3\";","deleted":false}`}},
			wantWhy: []string{""}, wantIDs: map[int]string{5: `syntax = "proto3";`}, wantVers: map[string][]int{"p": {1}}, wantMax: 5},
		{name: "junk ignored", in: []rec{{key: `{"keytype":"NOOP","magic":0}`}, {key: `not json`, value: `x`},
			{key: string(schemaKeyBytes("s", 1)), value: `{"subject":"other","version":1,"id":1,"schema":"\"int\""}`}},
			wantWhy: []string{"NOOP", "undecodable key", "does not match its key"}, wantIDs: map[int]string{}, wantVers: map[string][]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newState()
			why := applyAll(s, tt.in)
			for i, w := range tt.wantWhy {
				if (w == "") != (why[i] == "") || !strings.Contains(why[i], w) {
					t.Errorf("record %d: outcome %q, want %q", i, why[i], w)
				}
			}
			if len(s.byID) != len(tt.wantIDs) {
				t.Errorf("ids = %d, want %d", len(s.byID), len(tt.wantIDs))
			}
			for id, text := range tt.wantIDs {
				if got := s.byID[id]; got == nil || got.text != text {
					t.Errorf("id %d = %+v, want %s", id, got, text)
				}
			}
			for subject, want := range tt.wantVers {
				var got []int
				for _, v := range s.versionsOf(subject, false) {
					got = append(got, v.version)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("live versions of %s = %v, want %v", subject, got, want)
				}
			}
			if names := s.subjectNames(false, ""); len(names) != len(tt.wantVers) && len(tt.wantVers) > 0 {
				t.Errorf("subjects = %v, want %d", names, len(tt.wantVers))
			}
			if s.maxID != tt.wantMax {
				t.Errorf("maxID = %d, want %d", s.maxID, tt.wantMax)
			}
		})
	}
}

func TestApplyConfig(t *testing.T) {
	t.Parallel()
	s := newState()
	why := applyAll(s, []rec{
		{key: `{"keytype":"CONFIG","subject":null,"magic":0}`, value: `{"compatibilityLevel":"FULL"}`},
		{key: string(configKeyBytes("s")), value: `{"compatibilityLevel":"none"}`},
		{key: string(configKeyBytes("t")), value: `{"compatibilityLevel":"SOMETIMES"}`},
	})
	if why[0] != "" || why[1] != "" || !strings.Contains(why[2], "unknown compatibility level") {
		t.Fatalf("outcomes = %q", why)
	}
	if got := s.compatibility("s", CompatBackward); got != CompatNone {
		t.Fatalf("subject level = %s", got)
	}
	if got := s.compatibility("t", CompatBackward); got != CompatFull {
		t.Fatalf("global level = %s", got)
	}
	applyAll(s, []rec{{key: string(configKeyBytes(""))}, {key: string(configKeyBytes("s"))}})
	if got := s.compatibility("s", CompatBackward); got != CompatBackward {
		t.Fatalf("after tombstones = %s, want the default", got)
	}
}

// The keys must be byte-for-byte what Confluent writes: compaction compares
// bytes, and a topic may be shared with (or migrated from) Confluent.
func TestKeyBytes(t *testing.T) {
	t.Parallel()
	for got, want := range map[string]string{
		string(schemaKeyBytes("s", 3)): `{"keytype":"SCHEMA","subject":"s","version":3,"magic":1}`,
		string(configKeyBytes("s")):    `{"keytype":"CONFIG","subject":"s","magic":0}`,
		string(configKeyBytes("")):     `{"keytype":"CONFIG","subject":null,"magic":0}`,
	} {
		if got != want {
			t.Errorf("key %s, want %s", got, want)
		}
	}
}
