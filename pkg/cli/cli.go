// Package cli turns a service's configuration and run function into a
// cobra command with the behaviour every Surge process shares: flags that
// also read SURGE_* variables, validation before any I/O, a JSON logger,
// and a context cancelled by SIGINT or SIGTERM.
package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/observe"
)

// Configurable is a process configuration.
type Configurable interface {
	Flags(fs *pflag.FlagSet)
	Validate() error
	LogLevel() string
}

// Command builds the command running run with cfg.
func Command(use, short string, cfg Configurable, run func(ctx context.Context, log *zap.Logger) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:           use,
		Short:         short,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.BindEnv(cmd.Flags()); err != nil {
				return ConfigError{err}
			}
			if err := cfg.Validate(); err != nil {
				return ConfigError{err}
			}
			log, err := observe.NewLogger(cfg.LogLevel())
			if err != nil {
				return ConfigError{err}
			}
			defer func() { _ = log.Sync() }()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return run(ctx, log)
		},
	}
	cfg.Flags(cmd.Flags())
	return cmd
}

// Service is the command of a service's own binary: Command with the
// flags of a C, running run with the configuration they give. C is the
// service's Config, whose pointer has the flags; run is the service
// package's Run. A service's main is cli.Main(cli.Service(...)).
func Service[C any, P interface {
	*C
	Configurable
}](use, short string, run func(ctx context.Context, cfg C, log *zap.Logger) error) *cobra.Command {
	var cfg C
	return Command(use, short, P(&cfg), func(ctx context.Context, log *zap.Logger) error { return run(ctx, cfg, log) })
}

// ConfigError is a configuration that cannot run; the process exits 2.
type ConfigError struct{ Err error }

func (e ConfigError) Error() string { return "invalid configuration: " + e.Err.Error() }
func (e ConfigError) Unwrap() error { return e.Err }

// Main executes cmd and exits: 0 on success, 2 on a configuration error,
// 1 on any other error.
func Main(cmd *cobra.Command) {
	err := cmd.ExecuteContext(context.Background())
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	if _, ok := err.(ConfigError); ok {
		os.Exit(2)
	}
	os.Exit(1)
}
