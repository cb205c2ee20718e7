// Command surge-dispatcher runs the dispatcher on its own: it delivers
// commerce.deliveries to HTTP endpoints as signed webhooks, in order per
// (subscription, entity key), with retries, parking and a dead-letter topic.
package main

import (
	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/services/dispatcher"
)

func main() {
	cli.Main(cli.Service("surge-dispatcher", "Deliver commerce.deliveries to endpoints as signed, ordered webhooks", dispatcher.Run))
}
