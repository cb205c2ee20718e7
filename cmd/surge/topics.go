package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkax"
)

// topicsOptions are the flags every `surge topics` command shares.
type topicsOptions struct {
	Kafka    config.Kafka
	Registry config.Registry // decodes commerce.stalls
	JSON     bool
	Timeout  time.Duration
}

func newTopicsCommand() *cobra.Command {
	var o topicsOptions
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "Show Surge's Kafka topics: layout, size, offsets and each stage's lag",
		Long: `List Surge's topics (and any other topic of the cluster, marked) with their
partitions, replication, cleanup policy, size and end offsets, and the lag
of every consumer group that reads them; or describe one topic partition
by partition.

Lag is counted to the last stable offset (what a read_committed consumer
such as every Surge stage can read), for the stage that reads the topic
(surge-enrich on commerce.events.raw, surge-fanout on
commerce.events.enriched, surge-dispatcher on commerce.deliveries and
commerce.deliveries.retry, each with --topic-prefix in front) and for any
other group that committed offsets on it. A partition a group has no
committed offset on counts from the partition's start, where Surge's
stages begin. The dispatcher commits an offset once every delivery before
it is done, so deliveries held for a paused subscription or waiting for a
retry show as its lag on the topic they are on.

A lag is marked stalled when the stage instance that owns the partition
reported it stalled — records to process and nothing moved for longer than
its --stall-after — and the group has not moved past that offset since.
The stages write these reports to commerce.stalls (decoded through
--registry); describe shows each stalled partition's reason. Held or
parked deliveries are no stall.

list ends with each subscription's backlog in the dispatchers: deliveries
waiting in memory and in the retry topic, the age of the oldest and the
deliveries finished per second, summed over the dispatcher instances'
fresh reports in commerce.backlog (at most four of their --backlog-every
old), or "backlog: none".

Sizes come from the brokers' log directories (DescribeLogDirs) and count
every replica; a broker that does not answer it shows n/a.

--brokers, --registry, --topic-prefix and --timeout also read
SURGE_BROKERS, SURGE_REGISTRY, SURGE_TOPIC_PREFIX and SURGE_TIMEOUT.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringSliceVar(&o.Kafka.Brokers, "brokers", []string{"127.0.0.1:9092"}, "Kafka seed brokers, comma separated")
	pf.StringVar(&o.Kafka.TopicPrefix, "topic-prefix", "", "prefix of every Surge topic and consumer group name")
	pf.StringVar(&o.Registry.URL, "registry", "http://127.0.0.1:8085", "schema registry URL (to read the stages' stall reports)")
	pf.BoolVar(&o.JSON, "json", false, "print JSON instead of tables")
	pf.DurationVar(&o.Timeout, "timeout", 30*time.Second, "give up after this long")
	o.Kafka.Partitions, o.Kafka.ReplicationFactor = 1, 1 // not used: nothing is created

	// run binds the environment, validates, and calls fn with an admin
	// client and a bounded context.
	run := func(cmd *cobra.Command, fn func(ctx context.Context, adm *kadm.Client, out io.Writer) error) error {
		if err := config.BindEnv(cmd.Flags()); err != nil {
			return cli.ConfigError{Err: err}
		}
		if err := errors.Join(o.Kafka.Validate(), o.Registry.Validate(), config.ValidatePositive("timeout", o.Timeout)); err != nil {
			return cli.ConfigError{Err: err}
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		ctx, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		cl, err := kgo.NewClient(kafkax.ClientOpts(o.Kafka, nil)...)
		if err != nil {
			return err
		}
		defer cl.Close()
		err = fn(ctx, kadm.NewClient(cl), cmd.OutOrStdout())
		if err != nil && ctx.Err() != nil && cmd.Context().Err() == nil {
			err = fmt.Errorf("%w (no answer from Kafka at %s within --timeout %s)", err, strings.Join(o.Kafka.Brokers, ","), o.Timeout)
		}
		return err
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List topics with partitions, replication, cleanup policy, size, end offsets and lag per stage",
		Example: `  surge topics list
  surge topics list --brokers kafka-1:9092 --topic-prefix staging. --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, func(ctx context.Context, adm *kadm.Client, out io.Writer) error {
				v, err := inspectTopics(ctx, adm, o.Kafka, o.Registry.URL, "")
				if err != nil {
					return err
				}
				if o.JSON {
					doc := map[string]any{"topics": v.Summaries()}
					if v.StallErr != nil {
						doc["stalls_error"] = v.StallErr.Error()
					}
					doc["backlog"] = v.backlog
					if v.backlogErr != nil {
						doc["backlog_error"] = v.backlogErr.Error()
					}
					return printTopicsJSON(out, doc)
				}
				return v.printList(out)
			})
		},
	}
	describe := &cobra.Command{
		Use:   "describe TOPIC",
		Short: "Describe one topic: partitions, offsets, sizes, every group's committed offsets and lag, configs that differ from defaults",
		Long: `Describe one topic partition by partition: leader, replicas, in-sync
replicas, start and end offsets and size; then every consumer group that
reads it (its stage's group, and any group with committed offsets on it)
with its committed offset and lag per partition; then the topic's configs
that are set on the topic rather than left to the broker's defaults.

TOPIC is the full name, or a Surge topic's name without --topic-prefix.`,
		Example: `  surge topics describe commerce.deliveries
  surge topics describe commerce.events.raw --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd, func(ctx context.Context, adm *kadm.Client, out io.Writer) error {
				v, err := inspectTopics(ctx, adm, o.Kafka, o.Registry.URL, strings.TrimSpace(args[0]))
				if err != nil {
					return err
				}
				d := v.Describe(v.Only)
				if o.JSON {
					return printTopicsJSON(out, d)
				}
				return printDescription(out, d)
			})
		},
	}
	cmd.AddCommand(list, describe)
	return cmd
}

func printTopicsJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
