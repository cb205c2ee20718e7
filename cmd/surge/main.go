// Command surge is Surge's command line: `surge dev` runs the whole
// pipeline on an embedded Kafka and schema registry, `surge tap` decodes any
// topic to JSON lines, and `surge registry` runs the schema registry alone.
package main

import (
	"github.com/spf13/cobra"

	"github.com/surgehq/surge/pkg/cli"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "surge",
		Short:         "Surge: commerce events made durable in Kafka, enriched, and delivered as signed webhooks",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newDevCommand(), newTapCommand(), newTraceCommand(), newRegistryCommand(), newLoadCommand(), newSubsCommand(), newAdminCommand())
	root.AddCommand(newTopicsCommand())
	root.AddCommand(newDLQCommand())
	return root
}

func main() { cli.Main(newRootCommand()) }
