// Command surge-enrich runs the enrich stage on its own: it turns
// commerce.events.raw into commerce.events.enriched, exactly once, with
// entity snapshots, loaders and the inventory ledger.
package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/services/enrich"
)

func main() {
	var cfg enrich.Config
	cli.Main(cli.Command("surge-enrich", "Enrich commerce events with entity snapshots, loaders and the inventory ledger", &cfg,
		func(ctx context.Context, log *zap.Logger) error { return enrich.Run(ctx, cfg, log) }))
}
