package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/admin"
	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/dlq"
	"github.com/surgehq/surge/pkg/embedded"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/inspect"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/registry"
	"github.com/surgehq/surge/pkg/store"
	"github.com/surgehq/surge/pkg/trace"
	"github.com/surgehq/surge/pkg/tracing"
	"github.com/surgehq/surge/services/dispatcher"
	"github.com/surgehq/surge/services/enrich"
	"github.com/surgehq/surge/services/fanout"
	"github.com/surgehq/surge/services/ingest"
)

// devConfig is `surge dev`'s configuration: the operator interface of
// DESIGN.md with its defaults.
type devConfig struct {
	DataDir    string
	IngestAddr string
	AdminAddr  string
	KafkaAddr  string
	// Brokers, when set, replace the embedded cluster with an existing one
	// (a real Kafka cluster, for example scripts/kafka.sh's).
	Brokers           []string
	ReplicationFactor int16
	RegistryAddr      string
	AdminToken        string
	Partitions        int32
	SyncWrites        bool
	Pprof             bool
	// BodyDrain applies to the ingest and admin listeners.
	BodyDrain  httpx.Drain
	config.Log // gives the config its LogLevel
	Stall      config.Stall
	// DLQAlertEvery is the admin API's --dlq-alert-every.
	DLQAlertEvery int64
}

func (c *devConfig) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "./.surge", "where the embedded cluster, registry and secrets are kept")
	fs.StringVar(&c.IngestAddr, "ingest-addr", "127.0.0.1:8080", "ingest HTTP listener")
	fs.StringVar(&c.AdminAddr, "admin-addr", "127.0.0.1:8081", "admin HTTP API listener")
	fs.StringVar(&c.KafkaAddr, "kafka-addr", "127.0.0.1:9092", "embedded Kafka listener")
	fs.StringSliceVar(&c.Brokers, "brokers", nil, "run on this Kafka cluster (seed brokers, comma separated) instead of the embedded one")
	fs.Int16Var(&c.ReplicationFactor, "replication-factor", 1, "with --brokers: replication factor of the topics Surge creates")
	fs.StringVar(&c.RegistryAddr, "registry-addr", "127.0.0.1:8085", "embedded schema registry listener")
	fs.StringVar(&c.AdminToken, "admin-token", "", "admin API bearer token (default: generated once and kept in <data-dir>/admin-token)")
	fs.Int32Var(&c.Partitions, "partitions", 6, "partitions of each topic")
	fs.BoolVar(&c.SyncWrites, "sync-writes", false, "fsync every Kafka write (survives a machine crash, not only a process crash; slower)")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve Go's /debug/pprof/ on the admin listener (profiling)")
	c.BodyDrain.Flags(fs)
	c.Log.Flags(fs)
	c.Stall.Flags(fs)
	dlqAlertFlag(fs, &c.DLQAlertEvery)
}

func (c *devConfig) Validate() error {
	errs := []error{
		config.ValidateAddr("ingest-addr", c.IngestAddr),
		config.ValidateAddr("admin-addr", c.AdminAddr),
		config.ValidateAddr("kafka-addr", c.KafkaAddr),
		config.ValidateAddr("registry-addr", c.RegistryAddr),
		c.Log.Validate(),
		c.Stall.Validate(),
		c.BodyDrain.Validate(),
		validateDLQAlert(c.DLQAlertEvery),
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("SURGE_DATA_DIR (--data-dir) is empty"))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("SURGE_PARTITIONS (--partitions) must be at least 1, got %d", c.Partitions))
	}
	if len(c.Brokers) > 0 {
		errs = append(errs, (&config.Kafka{Brokers: c.Brokers, Partitions: c.Partitions, ReplicationFactor: c.ReplicationFactor}).Validate())
	} else if c.ReplicationFactor > 1 {
		errs = append(errs, errors.New("SURGE_REPLICATION_FACTOR (--replication-factor) needs --brokers: the embedded cluster has one broker"))
	}
	return errors.Join(errs...)
}

func newDevCommand() *cobra.Command {
	var c devConfig
	cmd := cli.Command("dev", "Run the whole pipeline in one process on an embedded Kafka and schema registry", &c,
		func(ctx context.Context, log *zap.Logger) error {
			stack, err := startDev(ctx, c, log)
			if err != nil {
				return err
			}
			stack.printAddrs(os.Stdout)
			<-ctx.Done()
			log.Info("shutting down")
			return stack.Close()
		})
	return cmd
}

// devStack is a running `surge dev`.
type devStack struct {
	log        *zap.Logger
	cluster    *embedded.Cluster
	registry   *registry.Registry
	ingest     *ingest.Service
	enrich     *enrich.Service
	fanout     *fanout.Service
	dispatcher *dispatcher.Service
	adminToken string

	stores *store.All          // subscriptions, sources, event types
	dlq    *dlq.Service        // the admin API's /v1/dlq
	traces []*tracing.Provider // each service's tracing, from OTEL_*; nil ones are off
	// inspector reads the admin API's stage lag, attempts and lanes.
	inspector *inspect.Inspector
	// tracer reads the admin API's traces.
	tracer *trace.Tracer

	KafkaAddr, RegistryURL, IngestURL, AdminURL string

	cancel  context.CancelFunc
	servers sync.WaitGroup // HTTP listeners
	stages  sync.WaitGroup // stream stages (enrich, ...)
	ready   observe.Readiness
}

// Ready reports whether events can flow end to end: every listener and
// stage is up and every stage owns input partitions.
func (d *devStack) Ready() bool { return d.running() && d.unassigned() == "" }

// running reports whether every listener and stage is up.
func (d *devStack) running() bool {
	return d.ready.Ready() && d.ingest != nil && d.ingest.Ready() && d.enrich != nil && d.enrich.Ready() &&
		d.fanout != nil && d.fanout.Ready() &&
		d.dispatcher != nil && d.dispatcher.Ready()
}

// unassigned names the first stage that owns none of its input
// partitions, "" when each owns some. Each stage is its group's only
// member here, so until its group's first assignment (and during a
// rebalance) no event passes it.
func (d *devStack) unassigned() string {
	for _, st := range []struct {
		name  string
		owned func() int
	}{{"enrich", d.enrich.Owned}, {"fanout", d.fanout.Owned}, {"dispatcher", d.dispatcher.Owned}} {
		if st.owned() == 0 {
			return st.name
		}
	}
	return ""
}

// readiness is what /readyz answers on the ingest and admin listeners:
// nil once events can flow end to end and no stage has a stalled
// partition; otherwise why not, naming every stalled partition.
func (d *devStack) readiness() error {
	if !d.running() {
		return observe.ErrNotReady
	}
	if st := d.unassigned(); st != "" {
		return fmt.Errorf("%s owns no partitions yet (its consumer group is assigning them)", st)
	}
	return errors.Join(d.enrich.Readiness(), d.fanout.Readiness(), d.dispatcher.Readiness())
}

// startDev starts the embedded cluster, the registry and every service,
// and returns once events can flow end to end.
func startDev(ctx context.Context, c devConfig, log *zap.Logger) (_ *devStack, err error) {
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	d := &devStack{log: log}
	if c.ReplicationFactor < 1 {
		c.ReplicationFactor = 1
	}
	defer func() {
		if err != nil {
			_ = d.Close()
		}
	}()

	// Claim every port first so a taken port fails fast and clearly. If
	// start-up fails, every claimed port is released (closing one that a
	// server already shut down is harmless).
	var claimed []net.Listener
	defer func() {
		if err != nil {
			for _, ln := range claimed {
				ln.Close()
			}
		}
	}()
	var ingestLn, adminLn, registryLn net.Listener
	for flag, p := range map[string]struct {
		addr string
		ln   *net.Listener
	}{"ingest-addr": {c.IngestAddr, &ingestLn}, "admin-addr": {c.AdminAddr, &adminLn}, "registry-addr": {c.RegistryAddr, &registryLn}} {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			return nil, fmt.Errorf("--%s %s: %w", flag, p.addr, err)
		}
		*p.ln = ln
		claimed = append(claimed, ln)
	}

	reg := observe.NewRegistry()
	if len(c.Brokers) > 0 {
		d.KafkaAddr = strings.Join(c.Brokers, ",")
	} else if err := d.startCluster(ctx, c); err != nil {
		return nil, err
	}
	d.RegistryURL = "http://" + registryLn.Addr().String()
	d.IngestURL = "http://" + ingestLn.Addr().String()
	d.AdminURL = "http://" + adminLn.Addr().String()

	if d.adminToken, err = loadAdminToken(c.DataDir, c.AdminToken); err != nil {
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	serve := func(name string, ln net.Listener, h http.Handler) {
		d.servers.Add(1)
		go func() {
			defer d.servers.Done()
			if err := httpx.Serve(runCtx, ln, h); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("listener stopped", zap.String(observe.KeyListener, name), zap.Error(err))
			}
		}()
	}

	// Schema registry, backed by the cluster's _schemas topic.
	brokers := strings.Split(d.KafkaAddr, ",")
	d.registry, err = registry.New(ctx, registry.Config{ReplicationFactor: c.ReplicationFactor}, log.Named("registry"), kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, fmt.Errorf("starting schema registry: %w", err)
	}
	if err := d.registry.WaitReady(ctx); err != nil {
		return nil, fmt.Errorf("loading schema registry: %w", err)
	}
	serve("registry", registryLn, httpx.DrainUnread(d.registry.Handler(), httpx.Drain{}))

	kafka := devKafka(c, brokers)

	// The configuration tables (subscriptions, sources, event types),
	// written by the admin API and read by every stage of this process.
	if err := d.openStores(ctx, kafka, log); err != nil {
		return nil, err
	}

	// The admin listener: the admin API, health and metrics.
	if d.dlq, err = newDLQService(kafka, d.RegistryURL, d.stores.Subscriptions, c.DLQAlertEvery, log.Named("dlq")); err != nil {
		return nil, err
	}
	if d.inspector, err = newInspector(kafka, d.RegistryURL, log.Named("inspect")); err != nil {
		return nil, err
	}
	if d.tracer, err = newTracer(kafka, d.RegistryURL, log.Named("trace")); err != nil {
		return nil, err
	}
	api, err := admin.New(admin.Config{Token: d.adminToken, AllowLoopback: true, Cluster: devAsyncAPICluster(kafka, d.RegistryURL)}, admin.Deps{
		Subscriptions: d.stores.Subscriptions,
		Sources:       d.stores.SourceTable(),
		EventTypes:    d.stores.EventTypeTable(),
		Catalog:       d.stores.Catalog,
		Log:           log.Named("admin"),
		DLQ:           d.dlq,
		Aliases:       d.stores.Aliases,
		Backlog:       d.stores.Backlog,
		Inspector:     d.inspector,
		Tracer:        d.tracer,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the admin API: %w", err)
	}
	adminMux := http.NewServeMux()
	api.Mount(adminMux)
	if err := mountConsole(adminMux, d.adminToken); err != nil {
		return nil, err
	}
	observe.Mount(adminMux, d.readiness, reg)
	if c.Pprof {
		adminMux.HandleFunc("/debug/pprof/", pprof.Index)
		adminMux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	serve("admin", adminLn, httpx.DrainUnread(adminMux, c.BodyDrain))

	// Each service runs with its own defaults, changed only where
	// devOverrides says.
	svc := newDevServices(c, kafka, d.RegistryURL, ingestLn.Addr().String())
	// Each service traces as it would alone (service.name surge-<name>
	// unless OTEL_SERVICE_NAME sets one), when an OTLP endpoint is set.
	traces := map[string]*tracing.Provider{}
	for _, name := range []string{"ingest", enrich.StageName, fanout.StageName, dispatcher.StageName} {
		tp, err := tracing.FromEnv(ctx, "surge-"+name)
		if err != nil {
			return nil, err
		}
		traces[name] = tp
		d.traces = append(d.traces, tp)
	}
	if d.ingest, err = ingest.New(ctx, svc.Ingest, log.Named("ingest"), ingest.Deps{Metrics: reg, Sources: d.stores.Sources, Catalog: d.stores.Catalog,
		Aliases: store.AliasLookup{Table: d.stores.Aliases}, Tracing: traces["ingest"]}); err != nil {
		return nil, fmt.Errorf("starting ingest: %w", err)
	}
	ingestMux := http.NewServeMux()
	d.ingest.Mount(ingestMux)
	observe.Mount(ingestMux, d.readiness, reg)
	serve("ingest", ingestLn, httpx.DrainUnread(ingestMux, c.BodyDrain))

	// Enrich: raw → enriched, exactly once, with entity snapshots.
	if d.enrich, err = enrich.New(ctx, svc.Enrich, log.Named("enrich"), enrich.Deps{Metrics: reg, Sources: d.stores.Sources, Catalog: d.stores.Catalog, Tracing: traces[enrich.StageName]}); err != nil {
		return nil, fmt.Errorf("starting enrich: %w", err)
	}
	d.runStage(runCtx, "enrich", d.enrich.Run)

	// Fanout: enriched events → one delivery per matching subscription.
	if d.fanout, err = fanout.New(ctx, svc.Fanout, log.Named("fanout"), fanout.Deps{Metrics: reg, Subscriptions: d.stores.Subscriptions, Tracing: traces[fanout.StageName]}); err != nil {
		return nil, fmt.Errorf("starting fanout: %w", err)
	}
	d.runStage(runCtx, "fanout", d.fanout.Run)

	// Dispatcher: deliveries → signed webhooks, to loopback endpoints too.
	if d.dispatcher, err = dispatcher.New(ctx, svc.Dispatcher, log.Named("dispatcher"), dispatcher.Deps{Metrics: reg, Subscriptions: d.stores.Subscriptions, Tracing: traces[dispatcher.StageName]}); err != nil {
		return nil, fmt.Errorf("starting the dispatcher: %w", err)
	}
	d.runStage(runCtx, "dispatcher", d.dispatcher.Run)

	d.ready.Set(true)
	// Ready once every stage consumes and its group has given it its
	// partitions. A group that takes longer (with --brokers, other members
	// may hold every partition) is said, not waited for.
	assignBy := time.Now().Add(devAssignWait)
	for !d.Ready() {
		if d.running() && time.Now().After(assignBy) {
			log.Warn("a stage owns no partitions yet: its consumer group is still rebalancing, or other members hold them all; /readyz answers 503 until it has some",
				zap.String(observe.KeyStage, d.unassigned()), zap.Duration(observe.KeyTook, devAssignWait))
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return d, nil
}

// devAssignWait bounds how long startDev waits for the stages' groups to
// assign their partitions.
const devAssignWait = time.Minute

// startCluster starts the embedded Kafka cluster on --kafka-addr, its data
// kept in <data-dir>/kafka. After a stop that was not clean it first closes
// the transactions that stop left open (pkg/embedded says why).
func (d *devStack) startCluster(ctx context.Context, c devConfig) (err error) {
	d.cluster, err = embedded.Start(ctx, embedded.Config{
		Dir:        filepath.Join(c.DataDir, "kafka"),
		Addr:       c.KafkaAddr,
		ClusterID:  "surge-dev",
		SyncWrites: c.SyncWrites,
	}, d.log.Named("kafka"))
	if err != nil {
		return fmt.Errorf("--kafka-addr %s: %w", c.KafkaAddr, err)
	}
	d.KafkaAddr = d.cluster.Addr()
	return nil
}

// openStores opens the configuration tables, writable: this process also
// serves the admin API.
func (d *devStack) openStores(ctx context.Context, kafka config.Kafka, log *zap.Logger) error {
	all, err := store.OpenAll(ctx, kafka, d.RegistryURL, log.Named("store"), true)
	if err != nil {
		return err
	}
	d.stores = all
	// DESIGN.md: surge dev creates source "default", unsigned (it
	// listens on loopback). An operator's own "default" is kept.
	if _, ok := all.SourceTable().Get(catalog.DefaultSourceID); !ok {
		if err := all.SourceTable().Put(ctx, catalog.DefaultSourceID, catalog.DefaultSource()); err != nil {
			return fmt.Errorf("creating the default source: %w", err)
		}
	}
	return nil
}

// runStage runs a stream stage until the stack closes.
func (d *devStack) runStage(ctx context.Context, name string, run func(context.Context) error) {
	d.stages.Add(1)
	go func() {
		defer d.stages.Done()
		if err := run(ctx); err != nil {
			d.log.Error("stage stopped", zap.String(observe.KeyStage, name), zap.Error(err))
		}
	}()
}

func (d *devStack) printAddrs(w io.Writer) {
	fmt.Fprintf(w, `surge dev is ready
  ingest    %s   (POST /v1/events)
  admin     %s   (bearer token in the data dir's admin-token file)
  console   %s/console/   (log in with that token)
  registry  %s
  kafka     %s
`, d.IngestURL, d.AdminURL, d.AdminURL, d.RegistryURL, d.KafkaAddr)
}

// Close stops everything in reverse order of start, within bounds.
func (d *devStack) Close() error {
	d.ready.Set(false)
	if d.cancel != nil {
		d.cancel()
	}
	d.servers.Wait()
	closeStarted(d.dlq) // background replays commit their position
	closeStarted(d.inspector)
	closeStarted(d.tracer)
	d.stages.Wait()
	closeStarted(d.dispatcher)
	closeStarted(d.fanout)
	closeStarted(d.stores)
	closeStarted(d.enrich)
	closeStarted(d.ingest)
	closeStarted(d.registry)
	// The spans the services left are exported, within bounds; spans
	// are lost, never events.
	tctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	for _, tp := range d.traces {
		_ = tp.Shutdown(tctx)
	}
	cancel()
	if d.cluster != nil {
		if err := d.cluster.Close(); err != nil {
			d.log.Error("recording the embedded cluster's clean stop", zap.Error(err))
		}
	}
	return nil
}

// stackPart is a pointer to one part of a devStack, nil until it started.
type stackPart[T any] interface {
	*T
	Close()
}

// closeStarted closes p if it started.
func closeStarted[P stackPart[T], T any](p P) {
	if p != nil {
		p.Close()
	}
}

// loadAdminToken returns the token given, or the one kept in the data dir,
// or generates and keeps a new one (file mode 0600).
func loadAdminToken(dataDir, given string) (string, error) {
	path := filepath.Join(dataDir, "admin-token")
	if given != "" {
		return given, os.WriteFile(path, []byte(given+"\n"), 0o600)
	}
	if b, err := os.ReadFile(path); err == nil {
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generating admin token: %w", err)
	}
	tok := "surge_" + hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing admin token: %w", err)
	}
	return tok, nil
}
