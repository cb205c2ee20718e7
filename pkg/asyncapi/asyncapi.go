// Package asyncapi writes the AsyncAPI 3 document of Surge's Kafka topics:
// one channel per topic of the topic table (pkg/topics Layouts) with its
// key rule, headers and Kafka bindings, one message per value schema (the
// .avsc text of the schemas module, in the Confluent wire format), and the
// send and receive operations of every stage of the pipeline table
// (pkg/topics Pipeline). Nothing in it is written by hand: a topic, header
// or schema changed in those two places changes the document, and a test
// fails until docs/asyncapi.json is written again (cmd/surge,
// TestAsyncAPIDocumentIsCurrent).
package asyncapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/schemas"
)

// Version is the AsyncAPI version the document is written in.
const Version = "3.1.0"

// kafkaBinding is the version of the AsyncAPI Kafka bindings used.
const kafkaBinding = "0.5.0"

// avroFormat is the schemaFormat of an Avro payload.
const avroFormat = "application/vnd.apache.avro+json;version=1.9.0"

// Server is the cluster the document describes.
type Server struct {
	// Name is the server's id in the document, e.g. "surge-dev".
	Name string
	// Host is a bootstrap broker, host:port.
	Host string
	// RegistryURL is the schema registry's base URL.
	RegistryURL string
	// Description says what the server is.
	Description string
	// TopicPrefix is put before every topic name (the services'
	// --topic-prefix).
	TopicPrefix string
}

// Document is the AsyncAPI document of Surge's topics on server, as
// indented JSON: the same input gives the same bytes.
func Document(server Server) ([]byte, error) {
	doc, err := build(server)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<topic>-value" reads as written
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encoding the AsyncAPI document: %w", err)
	}
	return b.Bytes(), nil
}

// document is the top level of an AsyncAPI 3 document, in the order the
// specification lists its fields.
type document struct {
	AsyncAPI           string         `json:"asyncapi"`
	ID                 string         `json:"id"`
	Info               info           `json:"info"`
	Servers            map[string]any `json:"servers"`
	DefaultContentType string         `json:"defaultContentType"`
	Channels           map[string]any `json:"channels"`
	Operations         map[string]any `json:"operations"`
	Components         components     `json:"components"`
}

type info struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description"`
}

type components struct {
	Schemas  map[string]any `json:"schemas"`
	Messages map[string]any `json:"messages"`
}

const description = `Surge's Kafka topics: what each holds, how it is keyed and partitioned, which headers its records carry, and which stage writes and reads it. Every value is Avro in the Confluent wire format (magic byte 0, the schema id as 4 big-endian bytes, the Avro binary body); the schema registry holds each topic's value schema under the subject <topic>-value. Records of one key are on one partition, in the order they were written: read a partition in offset order to see an entity's events in order. Generated from pkg/topics and the schemas module; do not edit.`

func build(server Server) (*document, error) {
	doc := &document{
		AsyncAPI:           Version,
		ID:                 "urn:dev.surge:topics",
		Info:               info{Title: "Surge topics", Version: "1", Description: description},
		Servers:            map[string]any{},
		DefaultContentType: "avro/binary",
		Channels:           map[string]any{},
		Operations:         map[string]any{},
		Components:         components{Schemas: map[string]any{}, Messages: map[string]any{}},
	}
	if server.Host != "" {
		s := map[string]any{"host": server.Host, "protocol": "kafka", "description": server.Description}
		if server.RegistryURL != "" {
			s["bindings"] = map[string]any{"kafka": map[string]any{
				"schemaRegistryUrl": server.RegistryURL, "schemaRegistryVendor": "confluent", "bindingVersion": kafkaBinding,
			}}
		}
		doc.Servers[server.Name] = s
	}
	for _, name := range schemas.Names() {
		text, err := schemas.Text(name)
		if err != nil {
			return nil, err
		}
		var avsc any
		if err := json.Unmarshal([]byte(text), &avsc); err != nil {
			return nil, fmt.Errorf("reading schema %s: %w", name, err)
		}
		doc.Components.Schemas[name] = map[string]any{"schemaFormat": avroFormat, "schema": avsc}
	}
	for _, l := range topics.Layouts(topics.DefaultDedupWindow) {
		ch, err := channel(l, server.TopicPrefix)
		if err != nil {
			return nil, err
		}
		doc.Channels[channelID(l.Name)] = ch
	}
	for _, st := range topics.Pipeline() {
		for _, t := range st.Reads {
			doc.Operations[st.Name+"_receives_"+channelID(t)] = operation(st, "receive", t)
		}
		for _, t := range st.Writes {
			doc.Operations[st.Name+"_sends_"+channelID(t)] = operation(st, "send", t)
		}
	}
	return doc, nil
}

// channelID is a topic's id in the document: its name with the dots
// that ids may not hold turned into underscores.
func channelID(topic string) string { return strings.NewReplacer(".", "_", "-", "_").Replace(topic) }

// channel is the channel of one topic: its address, a description saying
// its key rule and who writes and reads it, its messages and its Kafka
// binding.
func channel(l topics.Layout, prefix string) (map[string]any, error) {
	msgs := map[string]any{}
	for _, name := range valueSchemas(l) {
		m, err := message(l, name)
		if err != nil {
			return nil, err
		}
		msgs[name] = m
	}
	if l.Name == topics.DeliveriesRetry {
		msgs["retry_finished"] = map[string]any{
			"name":        "RetryFinished",
			"title":       "Finished retry offsets",
			"summary":     docOf(topics.HeaderRetryFinished),
			"contentType": "text/plain",
			"headers":     headerSchema([]string{topics.HeaderRetryFinished}),
			"payload":     map[string]any{"type": "string", "description": "Offsets of this partition, as ranges and single offsets: \"a-b,c,...\"."},
		}
	}
	cfg := map[string]any{"cleanup.policy": []string{"delete"}}
	for k, v := range l.Configs {
		switch k {
		case "cleanup.policy":
			cfg[k] = strings.Split(v, ",")
		case "retention.ms":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("topic %s: retention.ms %q: %w", l.Name, v, err)
			}
			cfg[k] = n
		}
	}
	binding := map[string]any{"topic": prefix + l.Name, "topicConfiguration": cfg, "bindingVersion": kafkaBinding}
	if l.Partition == topics.PartitionsOne {
		binding["partitions"] = 1
	}
	return map[string]any{
		"address":     prefix + l.Name,
		"title":       l.Name,
		"description": channelDescription(l),
		"messages":    msgs,
		"bindings":    map[string]any{"kafka": binding},
	}, nil
}

// valueSchemas are the schemas of a topic's values: its own, or for a
// dead-letter topic whose records keep their own, those of the topics
// whose readers dead-letter into it.
func valueSchemas(l topics.Layout) []string {
	if l.Schema != "" {
		return []string{l.Schema}
	}
	var out []string
	for _, st := range topics.Pipeline() {
		if st.DLQ != l.Name {
			continue
		}
		for _, t := range st.Reads {
			if s := layoutOf(t).Schema; s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// channelDescription says a topic's key rule, partitioning, and the
// stages that write and read it, from the two tables.
func channelDescription(l topics.Layout) string {
	var b strings.Builder
	b.WriteString("Key: " + l.Key + ".")
	if l.Partition == topics.PartitionsOne {
		b.WriteString(" One partition: a single total order.")
	} else {
		b.WriteString(" Partitioned by the key's murmur2 hash (Kafka's default) over the configured partition count, like every keyed topic, so a key's records are in one partition in order.")
	}
	if policy := l.Configs["cleanup.policy"]; strings.Contains(policy, "compact") {
		b.WriteString(" Compacted: the latest record per key is the current value; a tombstone (null value) deletes it.")
	}
	var writers, readers []string
	for _, st := range topics.Pipeline() {
		if slices.Contains(st.Writes, l.Name) {
			writers = append(writers, st.Name)
		}
		if slices.Contains(st.Reads, l.Name) {
			readers = append(readers, st.Name+" (consumer group "+st.Group+")")
		}
	}
	if len(writers) > 0 {
		b.WriteString(" Written by " + strings.Join(writers, ", ") + ".")
	}
	if len(readers) > 0 {
		b.WriteString(" Read by " + strings.Join(readers, ", ") + ".")
	}
	return b.String()
}

// message is the message of one value schema on one topic: the payload
// (a reference to the schema), the key and the topic's headers.
func message(l topics.Layout, schema string) (map[string]any, error) {
	name, doc, err := recordName(schema)
	if err != nil {
		return nil, err
	}
	m := map[string]any{
		"name":        name,
		"title":       name + " on " + l.Name,
		"summary":     doc,
		"contentType": "avro/binary",
		"payload":     map[string]any{"$ref": "#/components/schemas/" + schema},
		"bindings": map[string]any{"kafka": map[string]any{
			"key":                     map[string]any{"type": "string", "description": l.Key},
			"schemaIdLocation":        "payload",
			"schemaIdPayloadEncoding": "confluent",
			"schemaLookupStrategy":    "TopicIdStrategy",
			"bindingVersion":          kafkaBinding,
		}},
	}
	if len(l.Headers) > 0 {
		m["headers"] = headerSchema(l.Headers)
	}
	return m, nil
}

// recordName is a schema's record name and doc, from its .avsc text.
func recordName(schema string) (name, doc string, err error) {
	text, err := schemas.Text(schema)
	if err != nil {
		return "", "", err
	}
	var rec struct{ Name, Doc string }
	if err := json.Unmarshal([]byte(text), &rec); err != nil {
		return "", "", fmt.Errorf("reading schema %s: %w", schema, err)
	}
	return rec.Name, rec.Doc, nil
}

// headerSchema is the JSON Schema of a record's headers: each a string
// (Kafka header values are bytes; Surge writes UTF-8 text), none required.
func headerSchema(names []string) map[string]any {
	props := map[string]any{}
	for _, n := range names {
		props[n] = map[string]any{"type": "string", "description": docOf(n)}
	}
	return map[string]any{"type": "object", "properties": props}
}

func docOf(header string) string {
	doc, _ := topics.HeaderDoc(header)
	return doc
}

// operation is one stage's send to or receive from one topic; a receive
// names the stage's consumer group.
func operation(st topics.Stage, action, topic string) map[string]any {
	id := channelID(topic)
	var refs []any
	l := layoutOf(topic)
	for _, s := range valueSchemas(l) {
		refs = append(refs, map[string]any{"$ref": "#/channels/" + id + "/messages/" + s})
	}
	if topic == topics.DeliveriesRetry {
		refs = append(refs, map[string]any{"$ref": "#/channels/" + id + "/messages/retry_finished"})
	}
	op := map[string]any{
		"action":   action,
		"channel":  map[string]any{"$ref": "#/channels/" + id},
		"title":    st.Name + " " + action + "s " + topic,
		"messages": refs,
	}
	if action == "receive" && st.Group != "" {
		op["bindings"] = map[string]any{"kafka": map[string]any{
			"groupId":        map[string]any{"type": "string", "enum": []string{st.Group}},
			"bindingVersion": kafkaBinding,
		}}
	}
	return op
}

// layoutOf is topic's row of the topic table.
func layoutOf(topic string) topics.Layout {
	for _, l := range topics.Layouts(topics.DefaultDedupWindow) {
		if l.Name == topic {
			return l
		}
	}
	return topics.Layout{Name: topic}
}
