// Command surge-ingest runs the ingest service on its own: the HTTP front
// door that makes commerce events durable in commerce.events.raw.
package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/services/ingest"
)

func main() {
	var cfg ingest.Config
	cli.Main(cli.Command("surge-ingest", "Accept commerce events over HTTP and make them durable in Kafka", &cfg,
		func(ctx context.Context, log *zap.Logger) error { return ingest.Run(ctx, cfg, log) }))
}
