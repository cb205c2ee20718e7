// Command surge-enrich runs the enrich stage on its own: it turns
// commerce.events.raw into commerce.events.enriched, exactly once, with
// entity snapshots, loaders and the inventory ledger.
package main

import (
	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/services/enrich"
)

func main() {
	cli.Main(cli.Service("surge-enrich", "Enrich commerce events with entity snapshots, loaders and the inventory ledger", enrich.Run))
}
