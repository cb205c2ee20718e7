// Command surge-fanout runs the fanout stage on its own: it turns
// commerce.events.enriched into one commerce.deliveries record per matching
// subscription, exactly once.
package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/services/fanout"
)

func main() {
	var cfg fanout.Config
	cli.Main(cli.Command("surge-fanout", "Match enriched commerce events to subscriptions and write one delivery per match", &cfg,
		func(ctx context.Context, log *zap.Logger) error { return fanout.Run(ctx, cfg, log) }))
}
