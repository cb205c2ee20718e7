// Command surge-ingest runs the ingest service on its own: the HTTP front
// door that makes commerce events durable in commerce.events.raw.
package main

import (
	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/services/ingest"
)

func main() {
	cli.Main(cli.Service("surge-ingest", "Accept commerce events over HTTP and make them durable in Kafka", ingest.Run))
}
