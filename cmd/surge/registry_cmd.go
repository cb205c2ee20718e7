package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/registry"
)

// registryConfig runs the schema registry on its own (production).
type registryConfig struct {
	Addr              string
	Kafka             config.Kafka
	Topic             string
	ReplicationFactor int16
	config.Log        // gives the config its LogLevel
}

func (c *registryConfig) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Addr, "registry-addr", "127.0.0.1:8085", "schema registry HTTP listener")
	fs.StringSliceVar(&c.Kafka.Brokers, "brokers", []string{"127.0.0.1:9092"}, "Kafka seed brokers")
	fs.StringVar(&c.Topic, "schemas-topic", "_schemas", "compacted topic holding the schemas")
	fs.Int16Var(&c.ReplicationFactor, "replication-factor", 1, "replication factor of the schemas topic")
	c.Log.Flags(fs)
}

func (c *registryConfig) Validate() error {
	c.Kafka.Partitions, c.Kafka.ReplicationFactor = 1, max(c.ReplicationFactor, 1)
	errs := []error{config.ValidateAddr("registry-addr", c.Addr), c.Kafka.Validate(), c.Log.Validate()}
	if c.Topic == "" {
		errs = append(errs, errors.New("SURGE_SCHEMAS_TOPIC (--schemas-topic) is empty"))
	}
	return errors.Join(errs...)
}

func newRegistryCommand() *cobra.Command {
	var c registryConfig
	return cli.Command("registry", "Run the Confluent-compatible schema registry backed by a Kafka topic", &c,
		func(ctx context.Context, log *zap.Logger) error {
			r, err := registry.New(ctx, registry.Config{Topic: c.Topic, ReplicationFactor: c.ReplicationFactor}, log,
				kafkax.ClientOpts(c.Kafka, log)...)
			if err != nil {
				return err
			}
			defer r.Close()
			if err := r.WaitReady(ctx); err != nil {
				return err
			}
			mux := http.NewServeMux()
			mux.Handle("/", r.Handler())
			observe.Mount(mux, func() error {
				if !r.Ready() {
					return errors.New("the schema registry has not read _schemas to its end yet")
				}
				return nil
			}, observe.NewRegistry())
			log.Info("registry listening", zap.String(observe.KeyAddr, c.Addr))
			return httpx.ListenAndServe(ctx, c.Addr, httpx.DrainUnread(mux, httpx.Drain{}))
		})
}
