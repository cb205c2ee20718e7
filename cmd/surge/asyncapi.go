package main

import (
	"github.com/surgehq/surge/pkg/asyncapi"
	"github.com/surgehq/surge/pkg/config"
)

// asyncAPICluster is the server the admin API's AsyncAPI document of the
// topics (GET /v1/asyncapi.json) names: the cluster the admin API runs on,
// by its first bootstrap broker, with its schema registry and topic
// prefix. docs/asyncapi.json is the document of surge dev's defaults
// (TestAsyncAPIDocumentIsCurrent).
func asyncAPICluster(name, description string, kafka config.Kafka, registryURL string) asyncapi.Server {
	s := asyncapi.Server{Name: name, Description: description, RegistryURL: registryURL, TopicPrefix: kafka.TopicPrefix}
	if len(kafka.Brokers) > 0 {
		s.Host = kafka.Brokers[0]
	}
	return s
}

// devAsyncAPICluster is surge dev's cluster, as its document names it.
func devAsyncAPICluster(kafka config.Kafka, registryURL string) asyncapi.Server {
	return asyncAPICluster("surge-dev", "surge dev: the embedded cluster on --kafka-addr (or the cluster of --brokers) and the schema registry on --registry-addr", kafka, registryURL)
}
