// Package config holds the settings every Surge process shares (Kafka,
// registry, logging) and binds command-line flags to SURGE_* environment
// variables: every flag --some-name also reads SURGE_SOME_NAME, and a flag
// given on the command line wins over the variable.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// EnvPrefix is the prefix of every environment variable Surge reads.
const EnvPrefix = "SURGE_"

// EnvName is the environment variable that feeds flag name.
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// BindEnv sets every flag of fs that was not given on the command line from
// its SURGE_* variable, if set. Call it after parsing and before Validate.
func BindEnv(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		v, ok := os.LookupEnv(EnvName(f.Name))
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err))
		}
	})
	return errors.Join(errs...)
}

// Kafka is how a process reaches Kafka and lays out Surge's topics.
type Kafka struct {
	Brokers           []string
	TopicPrefix       string
	Partitions        int32
	ReplicationFactor int16
	ClientID          string
	// SessionTimeout is how long a consumer group waits for a silent
	// member (a killed instance) before moving its partitions; 0 keeps
	// the client's default (45 s).
	SessionTimeout time.Duration
	// TransactionTimeout bounds a stage's transaction: the coordinator
	// aborts one left open by a killed instance after this long, and until
	// then read_committed readers of its partitions wait; 0 means 15 s.
	TransactionTimeout time.Duration
}

// Flags registers the Kafka settings on fs.
func (k *Kafka) Flags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&k.Brokers, "brokers", []string{"127.0.0.1:9092"}, "Kafka seed brokers, comma separated")
	fs.StringVar(&k.TopicPrefix, "topic-prefix", "", "prefix added to every Surge topic name")
	fs.Int32Var(&k.Partitions, "partitions", 6, "partitions of each topic Surge creates (DLQs get the same count as their source)")
	fs.Int16Var(&k.ReplicationFactor, "replication-factor", 1, "replication factor of the topics Surge creates")
	fs.DurationVar(&k.TransactionTimeout, "transaction-timeout", 15*time.Second, "longest a stage's transaction may stay open; a killed instance's open transaction blocks its partitions' readers this long (1s to 15m)")
	fs.DurationVar(&k.SessionTimeout, "session-timeout", 45*time.Second, "how long a consumer group waits for a silent (killed) member before moving its partitions (6s to 30m; the brokers' group.min/max.session.timeout.ms must allow it)")
}

// Validate checks the Kafka settings without doing any I/O.
func (k *Kafka) Validate() error {
	var errs []error
	if len(k.Brokers) == 0 {
		errs = append(errs, errors.New("SURGE_BROKERS (--brokers) is empty"))
	}
	for _, b := range k.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("SURGE_BROKERS (--brokers): %q is not host:port", b))
		}
	}
	if k.Partitions < 1 {
		errs = append(errs, fmt.Errorf("SURGE_PARTITIONS (--partitions) must be at least 1, got %d", k.Partitions))
	}
	if k.ReplicationFactor < 1 {
		errs = append(errs, fmt.Errorf("SURGE_REPLICATION_FACTOR (--replication-factor) must be at least 1, got %d", k.ReplicationFactor))
	}
	if k.TransactionTimeout != 0 && (k.TransactionTimeout < time.Second || k.TransactionTimeout > 15*time.Minute) {
		errs = append(errs, fmt.Errorf("SURGE_TRANSACTION_TIMEOUT (--transaction-timeout) must be between 1s and 15m, got %s", k.TransactionTimeout))
	}
	if k.SessionTimeout != 0 && (k.SessionTimeout < 6*time.Second || k.SessionTimeout > 30*time.Minute) {
		errs = append(errs, fmt.Errorf("SURGE_SESSION_TIMEOUT (--session-timeout) must be between 6s and 30m, got %s", k.SessionTimeout))
	}
	return errors.Join(errs...)
}

// Registry is where the schema registry is.
type Registry struct {
	URL string
}

// Flags registers the registry settings on fs.
func (r *Registry) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&r.URL, "registry", "http://127.0.0.1:8085", "schema registry URL")
}

// Validate checks the registry settings.
func (r *Registry) Validate() error {
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("SURGE_REGISTRY (--registry): %q is not an http(s) URL", r.URL)
	}
	return nil
}

// Log is how a process logs.
type Log struct {
	Level string
}

// Flags registers the log settings on fs.
func (l *Log) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&l.Level, "log-level", "info", "log level: debug, info, warn, error")
}

// Validate checks the log settings.
func (l *Log) Validate() error {
	switch l.Level {
	case "debug", "info", "warn", "error":
		return nil
	}
	return fmt.Errorf("SURGE_LOG_LEVEL (--log-level): %q is not one of debug, info, warn, error", l.Level)
}

// Stall is when a stage reports one of its input partitions as stalled:
// records wait to be processed there and nothing has moved for longer than
// After. The stage then logs a warning, answers 503 on /readyz with the
// reason, counts it in surge_stage_stalled_partitions and marks it in
// commerce.stalls for `surge topics`.
type Stall struct {
	After time.Duration
}

// DefaultStallAfter is --stall-after's default.
const DefaultStallAfter = 30 * time.Second

// Flags registers the stall setting on fs.
func (s *Stall) Flags(fs *pflag.FlagSet) {
	fs.DurationVar(&s.After, "stall-after", DefaultStallAfter, "report an input partition as stalled (warning, /readyz 503, metric, surge topics) when it has records to process and nothing has moved for this long")
}

// Validate checks the stall setting.
func (s *Stall) Validate() error { return ValidatePositive("stall-after", s.After) }

// ValidateAddr checks a listen address setting.
func ValidateAddr(flag, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s (--%s): %q is not host:port", EnvName(flag), flag, addr)
	}
	return nil
}

// ValidatePositive checks a duration setting is above zero.
func ValidatePositive(flag string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s (--%s) must be positive, got %s", EnvName(flag), flag, d)
	}
	return nil
}
