// Package service runs a Surge service as a process of its own: it makes
// the Prometheus registry the service registers its metrics with and its
// tracing (pkg/tracing, from the OTEL_* environment variables), serves
// /healthz, /readyz and /metrics next to the service's work, and closes
// the service when that work ends. Serve does it for any service; RunStage
// is Serve for the pipeline stages (enrich, fanout, the dispatcher), whose
// work is a Run that consumes until its context ends.
//
// Every service keeps its own New, Run, Ready, Readiness and Close (cmd/surge
// runs them all in one process); only the standalone sequence is here.
package service

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/tracing"
)

// Service is what Serve needs of a service: what /readyz answers (nil
// when ready, otherwise why not) and the release of what its constructor
// opened.
type Service interface {
	Readiness() error
	Close()
}

// Stage is a service whose work is Run: it consumes until ctx ends and
// returns nil after a clean shutdown.
type Stage interface {
	Service
	Run(ctx context.Context) error
}

// Deps are what Serve makes for the service it runs.
type Deps struct {
	// Metrics is the registry the service registers its metrics with.
	Metrics prometheus.Registerer
	// Tracing is the service's tracing; nil when it is off (no OTLP
	// endpoint is set).
	Tracing *tracing.Provider
}

// shutdownTimeout bounds the export of the spans left when a service ends.
const shutdownTimeout = 5 * time.Second

// Serve is the standalone process of the service named name ("ingest",
// "enrich"). It makes a registry with the Go and process collectors and
// the tracing the OTEL_* environment variables describe (service.name
// "surge-<name>" unless OTEL_SERVICE_NAME sets one), builds the service
// with them (newService registers the service's metrics there), mounts
// /healthz, /readyz (the service's Readiness) and /metrics on a mux, and
// hands the service and the mux to serve, which serves them until ctx
// ends (it may mount its own routes first). The service is closed when
// serve returns, then the spans it left are exported; a constructor error
// is returned as is.
func Serve[S Service](ctx context.Context, name string, newService func(Deps) (S, error), serve func(context.Context, S, *http.ServeMux) error) error {
	reg := observe.NewRegistry()
	tp, err := tracing.FromEnv(ctx, "surge-"+name)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		_ = tp.Shutdown(sctx) // spans are lost, never events
	}()
	svc, err := newService(Deps{Metrics: reg, Tracing: tp})
	if err != nil {
		return err
	}
	defer svc.Close()
	mux := http.NewServeMux()
	observe.Mount(mux, svc.Readiness, reg)
	return serve(ctx, svc, mux)
}

// Standalone is what a stage's process says about itself: its name (the
// start-up line is "<Name> running"), the listener of /healthz, /readyz
// and /metrics, and its --instance-id.
type Standalone struct {
	Name        string
	MetricsAddr string
	InstanceID  string
}

// RunStage is a stage's standalone process: Serve with the routes on
// p.MetricsAddr while the stage's Run runs (httpx.ServeWhile), after one
// info line "<name> running" with the listener and the instance id. It
// returns when Run returns, or when the listener fails (Run's context is
// then cancelled and RunStage waits for it).
func RunStage[S Stage](ctx context.Context, log *zap.Logger, p Standalone, newStage func(Deps) (S, error)) error {
	return Serve(ctx, p.Name, newStage, func(ctx context.Context, stage S, mux *http.ServeMux) error {
		log.Info(p.Name+" running", zap.String(observe.KeyMetricsAddr, p.MetricsAddr), zap.String(observe.KeyInstanceID, p.InstanceID))
		return httpx.ServeWhile(ctx, p.MetricsAddr, mux, stage.Run)
	})
}
