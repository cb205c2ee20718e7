package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/admin"
	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/store"
)

// adminConfig runs the admin API on its own (production): subscriptions,
// sources and event types, written to their compacted topics, and the
// dead-letter topics' stats, records and replays.
type adminConfig struct {
	Addr          string
	Token         string
	Kafka         config.Kafka
	Registry      config.Registry
	AllowLoopback bool
	SecretGrace   time.Duration
	DLQAlertEvery int64
	BodyDrain     httpx.Drain
	config.Log    // gives the config its LogLevel
}

func (c *adminConfig) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Addr, "admin-addr", "127.0.0.1:8081", "admin HTTP API listener (also /healthz, /readyz, /metrics)")
	fs.StringVar(&c.Token, "admin-token", "", "bearer token every admin request must carry (required; keep it in SURGE_ADMIN_TOKEN)")
	c.Kafka.Flags(fs)
	c.Registry.Flags(fs)
	fs.BoolVar(&c.AllowLoopback, "allow-loopback", false, "let subscriptions target loopback addresses without allow_private (single-machine setups)")
	fs.DurationVar(&c.SecretGrace, "secret-grace", 24*time.Hour, "how long a rotated-out subscription secret keeps signing")
	dlqAlertFlag(fs, &c.DLQAlertEvery)
	c.BodyDrain.Flags(fs)
	c.Log.Flags(fs)
}

func (c *adminConfig) Validate() error {
	errs := []error{config.ValidateAddr("admin-addr", c.Addr), c.Kafka.Validate(), c.Registry.Validate(), c.Log.Validate(),
		config.ValidatePositive("secret-grace", c.SecretGrace), c.BodyDrain.Validate(), validateDLQAlert(c.DLQAlertEvery)}
	if c.Token == "" {
		errs = append(errs, errors.New("SURGE_ADMIN_TOKEN (--admin-token) is empty; the admin API needs a bearer token (e.g. openssl rand -hex 24)"))
	} else if len(c.Token) < 16 {
		errs = append(errs, errors.New("SURGE_ADMIN_TOKEN (--admin-token) is shorter than 16 characters"))
	}
	return errors.Join(errs...)
}

func newAdminCommand() *cobra.Command {
	var c adminConfig
	return cli.Command("admin", "Run the admin HTTP API (subscriptions, sources, event types) against a Kafka cluster", &c,
		func(ctx context.Context, log *zap.Logger) error { return runAdmin(ctx, c, log) })
}

func runAdmin(ctx context.Context, c adminConfig, log *zap.Logger) error {
	stores, err := store.OpenAll(ctx, c.Kafka, c.Registry.URL, log.Named("store"), true)
	if err != nil {
		return err
	}
	defer stores.Close()
	dlqs, err := newDLQService(c.Kafka, c.Registry.URL, stores.Subscriptions, c.DLQAlertEvery, log.Named("dlq"))
	if err != nil {
		return err
	}
	defer dlqs.Close()
	in, err := newInspector(c.Kafka, c.Registry.URL, log.Named("inspect"))
	if err != nil {
		return err
	}
	defer in.Close()
	tr, err := newTracer(c.Kafka, c.Registry.URL, log.Named("trace"))
	if err != nil {
		return err
	}
	defer tr.Close()
	api, err := admin.New(admin.Config{Token: c.Token, AllowLoopback: c.AllowLoopback, SecretGrace: c.SecretGrace,
		Cluster: asyncAPICluster("kafka", "the Kafka cluster this admin API runs on", c.Kafka, c.Registry.URL)}, admin.Deps{
		Subscriptions: stores.Subscriptions,
		Sources:       stores.SourceTable(),
		EventTypes:    stores.EventTypeTable(),
		Catalog:       stores.Catalog,
		Log:           log.Named("admin"),
		DLQ:           dlqs,
		Aliases:       stores.Aliases,
		Backlog:       stores.Backlog,
		Inspector:     in,
		Tracer:        tr,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	api.Mount(mux)
	if err := mountConsole(mux, c.Token); err != nil {
		return err
	}
	observe.Mount(mux, func() error { return nil }, observe.NewRegistry())
	log.Info("admin API listening", zap.String(observe.KeyAddr, c.Addr))
	return httpx.ListenAndServe(ctx, c.Addr, httpx.DrainUnread(mux, c.BodyDrain))
}
