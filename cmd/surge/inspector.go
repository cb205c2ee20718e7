package main

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/inspect"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/topics"
	"github.com/surgehq/surge/pkg/trace"
)

// newInspector is the admin API's reader of stage lag, attempts and lanes.
func newInspector(kafka config.Kafka, registryURL string, log *zap.Logger) (*inspect.Inspector, error) {
	reg, err := avroserde.Connect(registryURL)
	if err != nil {
		return nil, err
	}
	in, err := inspect.New(inspect.Config{
		Names:      topics.Namer{Prefix: kafka.TopicPrefix},
		ClientOpts: kafkax.ClientOpts(kafka, log),
		Registry:   reg,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the pipeline inspector: %w", err)
	}
	return in, nil
}

// newTracer is the admin API's reader of traces (GET /v1/trace).
func newTracer(kafka config.Kafka, registryURL string, log *zap.Logger) (*trace.Tracer, error) {
	reg, err := avroserde.Connect(registryURL)
	if err != nil {
		return nil, err
	}
	tr, err := trace.New(trace.Config{
		Names:      topics.Namer{Prefix: kafka.TopicPrefix},
		ClientOpts: kafkax.ClientOpts(kafka, log),
		Registry:   reg,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the tracer: %w", err)
	}
	return tr, nil
}
