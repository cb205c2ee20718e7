// Package embedded runs the Kafka cluster `surge dev` embeds: franz-go's
// in-process kfake cluster with its log kept in a directory, owned by one
// process at a time, and — after a stop that was not clean (kill -9, OOM,
// power loss) — a recovery step that closes the transactions the stop left
// open before any client reads the log.
//
// Why the recovery step exists: kfake, reopening a log whose last
// transaction of some producer has no commit or abort marker, counts that
// transaction as aborted in its aborted-transaction index but writes no
// abort marker. Read_committed readers filter a producer's batches from an
// aborted transaction's first offset until they read that producer's next
// abort marker, so without one they also drop the producer's next committed
// transaction, and a reader waiting to read up to the end of such a
// partition waits forever. docs/kfake-crash-recovery.md has the whole
// account; kfake_crash_test.go keeps the reproduction.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/surgehq/surge/pkg/observe"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
)

// Config says where the cluster keeps its data and listens.
type Config struct {
	// Dir holds the cluster's log (kfake's data directory).
	Dir string
	// Addr is the listener, host:port ("127.0.0.1:0" picks a port).
	Addr string
	// ClusterID is reported to clients.
	ClusterID string
	// SyncWrites fsyncs every write: the log then also survives a
	// machine crash, not only a process crash.
	SyncWrites bool
}

// Validate reports a configuration that cannot start.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("embedded: Config.Dir is empty"))
	}
	if c.Addr == "" {
		errs = append(errs, errors.New("embedded: Config.Addr is empty"))
	}
	return errors.Join(errs...)
}

// Cluster is a running embedded cluster. Close it to stop cleanly; a
// process that dies without Close leaves the state file saying so, and the
// next Start recovers.
type Cluster struct {
	fake  *kfake.Cluster
	state *os.File // locked for as long as the cluster runs
	// Recovered says what the start-up recovery did (zero after a clean
	// stop).
	Recovered Recovery
}

// Start opens the cluster in cfg.Dir. It refuses a directory another live
// process is using. If the previous process using it did not stop cleanly,
// Start first rewrites the segment indexes the stop left behind their
// segments (repairIndexes), then, with the cluster up, closes the
// transactions it left open (see Recover) before returning, so no client
// ever reads the log in the state kfake leaves it.
func Start(ctx context.Context, cfg Config, log *zap.Logger) (_ *Cluster, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", cfg.Dir, err)
	}
	state, clean, err := lockState(stateFile(cfg.Dir))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			state.Close() // releases the lock; the state still says running
		}
	}()
	_, statErr := os.Stat(filepath.Join(cfg.Dir, "meta.json"))
	hasLog := statErr == nil
	if err := writeState(state, fmt.Sprintf("%s pid=%d since=%s\n", stateRunning, os.Getpid(), time.Now().UTC().Format(time.RFC3339))); err != nil {
		return nil, err
	}

	var reindexed []string
	if hasLog && !clean {
		// Before kfake reads the log: it trusts the indexes.
		if reindexed, err = repairIndexes(cfg.Dir); err != nil {
			return nil, fmt.Errorf("repairing the embedded cluster's segment indexes after an unclean stop: %w", err)
		}
		for _, r := range reindexed {
			log.Warn("a segment index was behind its segment after the unclean stop: rewritten from the segment", zap.String("index", r))
		}
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DataDir(cfg.Dir),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, cfg.Addr) }),
	}
	if cfg.ClusterID != "" {
		opts = append(opts, kfake.ClusterID(cfg.ClusterID))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	fake, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting the embedded cluster: %w", err)
	}
	c := &Cluster{fake: fake, state: state}
	if hasLog && !clean {
		log.Warn("the embedded cluster did not stop cleanly last time: closing the transactions it left open",
			zap.String("dir", cfg.Dir))
		if c.Recovered, err = Recover(ctx, fake.ListenAddrs(), log); err != nil {
			fake.Close()
			return nil, fmt.Errorf("recovering the embedded cluster after an unclean stop: %w", err)
		}
		c.Recovered.Reindexed = reindexed
		log.Info("recovered the embedded cluster", c.Recovered.fields()...)
	}
	return c, nil
}

// Addr is the listener's address.
func (c *Cluster) Addr() string { return c.fake.ListenAddrs()[0] }

// Fake is the kfake cluster itself (for its introspection, e.g. in tests).
func (c *Cluster) Fake() *kfake.Cluster { return c.fake }

// Close stops the cluster, saving its state, and records the clean stop.
// It is safe to call more than once.
func (c *Cluster) Close() error {
	if c.state == nil {
		return nil
	}
	c.fake.Close()
	err := writeState(c.state, stateStopped+"\n")
	c.state.Close()
	c.state = nil
	return err
}

// The state file beside the log says whether its owner is running or
// stopped cleanly, and its lock keeps a second process out.
const (
	stateRunning = "running"
	stateStopped = "stopped"
)

// stateFile is kept beside the log directory, not in it: the directory's
// contents are kfake's.
func stateFile(dir string) string {
	dir = filepath.Clean(dir)
	return filepath.Join(filepath.Dir(dir), filepath.Base(dir)+".state")
}

// lockState opens and locks path, and reports whether the process that
// wrote it last stopped cleanly.
func lockState(path string) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		owner, _ := os.ReadFile(path)
		return nil, false, fmt.Errorf("the embedded cluster in %s is in use by another process (%s): %w",
			filepath.Dir(path), strings.TrimSpace(string(owner)), err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("reading %s: %w", path, err)
	}
	return f, strings.TrimSpace(string(b)) == stateStopped, nil
}

func writeState(f *os.File, s string) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	if _, err := f.WriteAt([]byte(s), 0); err != nil {
		return fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	return nil
}

// fields is the recovery summary for a log line.
func (r Recovery) fields() []zap.Field {
	return []zap.Field{
		zap.Int("partitions_scanned", r.Partitions),
		zap.Int64("batches_scanned", r.Batches),
		zap.Int("transactions_aborted", len(r.Aborted)),
		zap.Int("indexes_rewritten", len(r.Reindexed)),
		zap.Duration(observe.KeyTook, r.Took),
		zap.String("aborted", strconv.Quote(r.summary())),
	}
}
