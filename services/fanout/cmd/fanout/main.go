// Command surge-fanout runs the fanout stage on its own: it turns
// commerce.events.enriched into one commerce.deliveries record per matching
// subscription, exactly once.
package main

import (
	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/services/fanout"
)

func main() {
	cli.Main(cli.Service("surge-fanout", "Match enriched commerce events to subscriptions and write one delivery per match", fanout.Run))
}
