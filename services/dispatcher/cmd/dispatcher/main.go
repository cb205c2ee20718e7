// Command surge-dispatcher runs the dispatcher on its own: it delivers
// commerce.deliveries to HTTP endpoints as signed webhooks, in order per
// (subscription, entity key), with retries, parking and a dead-letter topic.
package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/services/dispatcher"
)

func main() {
	var cfg dispatcher.Config
	cli.Main(cli.Command("surge-dispatcher", "Deliver commerce.deliveries to endpoints as signed, ordered webhooks", &cfg,
		func(ctx context.Context, log *zap.Logger) error { return dispatcher.Run(ctx, cfg, log) }))
}
