package asyncapi_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/surgehq/surge/pkg/asyncapi"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/schemas"
)

var server = asyncapi.Server{Name: "test", Host: "127.0.0.1:9092", RegistryURL: "http://127.0.0.1:8085", Description: "a test cluster", TopicPrefix: "p."}

// parsed is the part of the document the tests read.
type parsed struct {
	AsyncAPI string `json:"asyncapi"`
	Channels map[string]struct {
		Address  string `json:"address"`
		Messages map[string]struct {
			Payload map[string]string `json:"payload"`
			Headers struct {
				Properties map[string]struct{ Description string }
			}
			Bindings struct {
				Kafka struct {
					Key                     struct{ Description string }
					SchemaIDPayloadEncoding string `json:"schemaIdPayloadEncoding"`
				}
			}
		} `json:"messages"`
		Bindings struct {
			Kafka struct {
				Topic              string         `json:"topic"`
				Partitions         int            `json:"partitions"`
				TopicConfiguration map[string]any `json:"topicConfiguration"`
			}
		}
	} `json:"channels"`
	Operations map[string]struct {
		Action   string            `json:"action"`
		Channel  map[string]string `json:"channel"`
		Messages []map[string]string
		Bindings struct {
			Kafka struct{ GroupID struct{ Enum []string } }
		}
	} `json:"operations"`
	Components struct {
		Schemas map[string]struct {
			SchemaFormat string         `json:"schemaFormat"`
			Schema       map[string]any `json:"schema"`
		}
	}
}

func document(t *testing.T) ([]byte, parsed) {
	t.Helper()
	b, err := asyncapi.Document(server)
	if err != nil {
		t.Fatal(err)
	}
	var p parsed
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	return b, p
}

// TestDocumentIsTheTables checks the document says what the topic and
// pipeline tables say: a channel per topic at its prefixed address with
// its key rule, headers (each with its doc) and compaction; a message per
// value schema pointing at that schema's .avsc; and an operation for
// every topic a stage reads (with its group) or writes.
func TestDocumentIsTheTables(t *testing.T) {
	_, doc := document(t)
	if doc.AsyncAPI != asyncapi.Version {
		t.Errorf("asyncapi %q, want %q", doc.AsyncAPI, asyncapi.Version)
	}
	for _, name := range schemas.Names() {
		s, ok := doc.Components.Schemas[name]
		if !ok || !strings.HasPrefix(s.SchemaFormat, "application/vnd.apache.avro") || s.Schema["type"] != "record" {
			t.Errorf("schema %s: %+v", name, s)
		}
	}
	layouts := topics.Layouts(topics.DefaultDedupWindow)
	if len(doc.Channels) != len(layouts) {
		t.Errorf("%d channels for %d topics", len(doc.Channels), len(layouts))
	}
	for _, l := range layouts {
		var ch *struct{ id string }
		for id, c := range doc.Channels {
			if c.Address != "p."+l.Name {
				continue
			}
			ch = &struct{ id string }{id}
			if c.Bindings.Kafka.Topic != c.Address {
				t.Errorf("%s: binding topic %q", l.Name, c.Bindings.Kafka.Topic)
			}
			if (l.Partition == topics.PartitionsOne) != (c.Bindings.Kafka.Partitions == 1) {
				t.Errorf("%s: partitions %d", l.Name, c.Bindings.Kafka.Partitions)
			}
			policy, _ := json.Marshal(c.Bindings.Kafka.TopicConfiguration["cleanup.policy"])
			if strings.Contains(l.Configs["cleanup.policy"], "compact") != strings.Contains(string(policy), "compact") {
				t.Errorf("%s: cleanup.policy %s, topic configs %v", l.Name, policy, l.Configs)
			}
			if l.Schema != "" {
				m, ok := c.Messages[l.Schema]
				if !ok || m.Payload["$ref"] != "#/components/schemas/"+l.Schema {
					t.Errorf("%s: no message of schema %s: %+v", l.Name, l.Schema, c.Messages)
				}
			}
			if len(c.Messages) == 0 {
				t.Errorf("%s: no messages", l.Name)
			}
			for name, m := range c.Messages {
				if name == "retry_finished" {
					continue
				}
				if m.Bindings.Kafka.Key.Description != l.Key || m.Bindings.Kafka.SchemaIDPayloadEncoding != "confluent" {
					t.Errorf("%s/%s: key %+v", l.Name, name, m.Bindings.Kafka)
				}
				if len(m.Headers.Properties) != len(l.Headers) {
					t.Errorf("%s/%s: %d headers, the layout names %d", l.Name, name, len(m.Headers.Properties), len(l.Headers))
				}
				for _, h := range l.Headers {
					if p, ok := m.Headers.Properties[h]; !ok || p.Description == "" {
						t.Errorf("%s/%s: header %s missing or without a doc", l.Name, name, h)
					}
				}
			}
		}
		if ch == nil {
			t.Errorf("no channel at p.%s", l.Name)
		}
	}
	// The events DLQ keeps the records of the stages that dead-letter
	// into it: a message for each of their inputs' schemas.
	for _, c := range doc.Channels {
		if c.Address == "p."+topics.EventsDLQ {
			for _, s := range []string{schemas.Event, schemas.EnrichedEvent} {
				if _, ok := c.Messages[s]; !ok {
					t.Errorf("%s has no %s message: %v", topics.EventsDLQ, s, c.Messages)
				}
			}
		}
	}

	want := 0
	for _, st := range topics.Pipeline() {
		want += len(st.Reads) + len(st.Writes)
		for _, tp := range st.Reads {
			op, ok := doc.Operations[st.Name+"_receives_"+channelIDOf(doc, tp)]
			if !ok || op.Action != "receive" || !slices.Equal(op.Bindings.Kafka.GroupID.Enum, []string{st.Group}) {
				t.Errorf("%s reading %s: %+v", st.Name, tp, op)
			}
		}
		for _, tp := range st.Writes {
			op, ok := doc.Operations[st.Name+"_sends_"+channelIDOf(doc, tp)]
			if !ok || op.Action != "send" || op.Channel["$ref"] != "#/channels/"+channelIDOf(doc, tp) || len(op.Messages) == 0 {
				t.Errorf("%s writing %s: %+v", st.Name, tp, op)
			}
		}
	}
	if len(doc.Operations) != want {
		t.Errorf("%d operations, the pipeline table has %d reads and writes", len(doc.Operations), want)
	}
}

func channelIDOf(doc parsed, topic string) string {
	for id, c := range doc.Channels {
		if c.Address == "p."+topic {
			return id
		}
	}
	return ""
}

// TestDocumentIsStable: the same tables give the same bytes, so a stale
// docs/asyncapi.json is a real change.
func TestDocumentIsStable(t *testing.T) {
	a, _ := document(t)
	b, _ := document(t)
	if !bytes.Equal(a, b) {
		t.Fatal("two documents of the same tables differ")
	}
}
