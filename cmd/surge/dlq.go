package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/dlq"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/store"
	"github.com/surgehq/surge/pkg/topics"
)

// dlqOptions are the flags every `surge dlq` command shares.
type dlqOptions struct {
	Kafka    config.Kafka
	Registry config.Registry
	Topic    string
	JSON     bool
}

func newDLQCommand() *cobra.Command {
	var o dlqOptions
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect and replay the dead-letter topics",
		Long: `Inspect and replay Surge's dead-letter topics: commerce.deliveries.dlq
(deliveries the dispatcher gave up on; the default) and commerce.events.dlq
(events enrich or fanout could not process), chosen with --topic.

Every command reads Kafka directly with read_committed, up to the end
offsets seen when it started. Flags also read SURGE_* variables
(--brokers ⇔ SURGE_BROKERS); a flag wins over the variable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringSliceVar(&o.Kafka.Brokers, "brokers", []string{"127.0.0.1:9092"}, "Kafka seed brokers")
	pf.StringVar(&o.Kafka.TopicPrefix, "topic-prefix", "", "prefix of every Surge topic name")
	pf.StringVar(&o.Registry.URL, "registry", "http://127.0.0.1:8085", "schema registry URL")
	pf.StringVar(&o.Topic, "topic", topics.DeliveriesDLQ, "dead-letter topic: "+topics.DeliveriesDLQ+" or "+topics.EventsDLQ)
	pf.BoolVar(&o.JSON, "json", false, "print JSON (for scripts) instead of tables")
	o.Kafka.Partitions, o.Kafka.ReplicationFactor = 1, 1
	cmd.AddCommand(newDLQStatsCommand(&o), newDLQShowCommand(&o), newDLQReplayCommand(&o))
	return cmd
}

// dlqRun binds the environment, validates and runs fn with a context
// that SIGINT and SIGTERM cancel.
func dlqRun(cmd *cobra.Command, o *dlqOptions, check func() error, fn func(ctx context.Context, svc *dlq.Service) error) error {
	if err := config.BindEnv(cmd.Flags()); err != nil {
		return cli.ConfigError{Err: err}
	}
	errs := []error{o.Kafka.Validate(), o.Registry.Validate()}
	if check != nil {
		errs = append(errs, check())
	}
	if err := errors.Join(errs...); err != nil {
		return cli.ConfigError{Err: err}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reg, err := avroserde.Connect(o.Registry.URL)
	if err != nil {
		return err
	}
	subs := lazySubscriptions{open: func(ctx context.Context) (dlq.Subscriptions, error) {
		return store.Subscriptions(ctx, store.Options{
			Names: topics.Namer{Prefix: o.Kafka.TopicPrefix}, ClientOpts: kafkax.ClientOpts(o.Kafka, nil),
			Registry: reg, Log: zap.NewNop(),
		}, nil)
	}, state: &lazyState{}}
	defer subs.close()
	svc, err := dlq.New(dlq.Config{
		Names:         topics.Namer{Prefix: o.Kafka.TopicPrefix},
		ClientOpts:    kafkax.ClientOpts(o.Kafka, nil),
		Registry:      reg,
		Subscriptions: subs,
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	return fn(ctx, svc)
}

// newDLQService is the DLQ service the admin API serves (surge dev and
// surge admin), reading subscriptions from the process's table.
func newDLQService(kafka config.Kafka, registryURL string, subs dlq.Subscriptions, alertEvery int64, log *zap.Logger) (*dlq.Service, error) {
	reg, err := avroserde.Connect(registryURL)
	if err != nil {
		return nil, err
	}
	svc, err := dlq.New(dlq.Config{
		Names:             topics.Namer{Prefix: kafka.TopicPrefix},
		ClientOpts:        kafkax.ClientOpts(kafka, log),
		Registry:          reg,
		Subscriptions:     subs,
		Log:               log,
		ReplicationFactor: kafka.ReplicationFactor,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the DLQ service: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := svc.Watch(ctx, alertEvery); err != nil {
		svc.Close()
		return nil, fmt.Errorf("watching the dead-letter topics: %w", err)
	}
	return svc, nil
}

// dlqAlertFlag registers --dlq-alert-every, the admin API's (and surge
// dev's) surge.dlq.threshold_crossed mark, on fs.
func dlqAlertFlag(fs *pflag.FlagSet, every *int64) {
	fs.Int64Var(every, "dlq-alert-every", dlq.DefaultAlertEvery,
		"write a surge.dlq.threshold_crossed operator event each time a dead-letter topic passes another multiple of this many dead letters (0: never)")
}

// validateDLQAlert checks --dlq-alert-every.
func validateDLQAlert(every int64) error {
	if every < 0 {
		return fmt.Errorf("SURGE_DLQ_ALERT_EVERY (--dlq-alert-every) must be 0 (never) or more, got %d", every)
	}
	return nil
}

// lazySubscriptions opens the subscriptions table on first use: only a
// replay of deliveries needs it.
type lazySubscriptions struct {
	open  func(ctx context.Context) (dlq.Subscriptions, error)
	state *lazyState
}

type lazyState struct {
	table dlq.Subscriptions
	err   error
}

// Sync opens the table (reading it to its end) the first time.
func (l lazySubscriptions) Sync(ctx context.Context) error {
	if l.state.table == nil && l.state.err == nil {
		l.state.table, l.state.err = l.open(ctx)
	}
	return l.state.err
}

func (l lazySubscriptions) Get(id string) (event.Subscription, bool) {
	if l.state.table == nil {
		return event.Subscription{}, false
	}
	return l.state.table.Get(id)
}

func (l lazySubscriptions) close() {
	if c, ok := l.state.table.(interface{ Close() }); ok {
		c.Close()
	}
}

// dlqReadingProgress reports the progress of a long reading on w: nothing for the
// first two seconds, then a line every two seconds.
func dlqReadingProgress(w io.Writer, what string) func(dlq.Progress) {
	prog := newProgress(w, time.Now(), 2*time.Second, 2*time.Second)
	return func(p dlq.Progress) {
		if p.Total == 0 {
			return
		}
		if _, ok := prog.due(p.Elapsed); !ok {
			return
		}
		prog.println("reading %s: %d of %d offsets (%.0f%%), %s", what, p.Read, p.Total, 100*float64(p.Read)/float64(p.Total), p.Elapsed.Round(time.Second))
	}
}

func dlqJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}
