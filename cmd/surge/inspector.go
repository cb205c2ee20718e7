package main

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/inspect"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/topics"
)

// newInspector is the admin API's reader of stage lag, attempts and lanes.
func newInspector(kafka config.Kafka, registryURL string, log *zap.Logger) (*inspect.Inspector, error) {
	srCl, err := sr.NewClient(sr.URLs(registryURL))
	if err != nil {
		return nil, fmt.Errorf("creating registry client: %w", err)
	}
	in, err := inspect.New(inspect.Config{
		Names:      topics.Namer{Prefix: kafka.TopicPrefix},
		ClientOpts: kafkax.ClientOpts(kafka, log),
		Registry:   avroserde.NewRegistry(srCl),
	})
	if err != nil {
		return nil, fmt.Errorf("starting the pipeline inspector: %w", err)
	}
	return in, nil
}
