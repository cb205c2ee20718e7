package cli

import (
	"context"
	"errors"
	"testing"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
)

// testConfig is a service configuration with one flag.
type testConfig struct {
	Name  string
	Level string
}

func (c *testConfig) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Name, "name", "default", "a name")
	fs.StringVar(&c.Level, "log-level", "info", "log level")
}

func (c *testConfig) Validate() error {
	if c.Name == "" {
		return errors.New("SURGE_NAME (--name) is empty")
	}
	return nil
}

func (c *testConfig) LogLevel() string { return c.Level }

func TestServiceRunsWithTheParsedConfig(t *testing.T) {
	t.Setenv("SURGE_NAME", "from-env")
	var got testConfig
	cmd := Service("surge-test", "test", func(_ context.Context, cfg testConfig, log *zap.Logger) error {
		if log == nil {
			t.Error("no logger")
		}
		got = cfg
		return nil
	})
	cmd.SetArgs([]string{"--log-level", "warn"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got.Name != "from-env" || got.Level != "warn" {
		t.Fatalf("run got %+v", got)
	}

	cmd = Service("surge-test", "test", func(context.Context, testConfig, *zap.Logger) error {
		t.Error("run called with an invalid configuration")
		return nil
	})
	cmd.SetArgs([]string{"--name", ""})
	var ce ConfigError
	if err := cmd.ExecuteContext(context.Background()); !errors.As(err, &ce) {
		t.Fatalf("invalid configuration: %v, want a ConfigError", err)
	}
}
