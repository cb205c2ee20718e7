package service

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/tracing"
)

// fakeStage is ready while Run runs and counts Close calls.
type fakeStage struct {
	ready   observe.Readiness
	running chan struct{}
	closed  int
}

func (f *fakeStage) Readiness() error { return f.ready.Err() }
func (f *fakeStage) Close()           { f.closed++ }
func (f *fakeStage) Run(ctx context.Context) error {
	return f.ready.While(ctx, func(ctx context.Context) error {
		close(f.running)
		<-ctx.Done()
		return nil
	})
}

func TestServeMountsReadinessAndCloses(t *testing.T) {
	svc := &fakeStage{}
	var registered prometheus.Registerer
	err := Serve(context.Background(), "test", func(deps Deps) (*fakeStage, error) {
		registered = deps.Metrics
		return svc, nil
	}, func(_ context.Context, got *fakeStage, mux *http.ServeMux) error {
		if got != svc || registered == nil {
			t.Errorf("serve got %p (want %p), registry %v", got, svc, registered)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("/readyz of a service not ready: %d", rec.Code)
		}
		if svc.closed != 0 {
			t.Error("closed before serve returned")
		}
		return nil
	})
	if err != nil || svc.closed != 1 {
		t.Fatalf("Serve: %v, closed %d times", err, svc.closed)
	}

	failed := errors.New("connecting")
	err = Serve(context.Background(), "test", func(Deps) (*fakeStage, error) { return nil, failed },
		func(context.Context, *fakeStage, *http.ServeMux) error {
			t.Error("serve called after the constructor failed")
			return nil
		})
	if err != failed {
		t.Fatalf("Serve with a failing constructor: %v", err)
	}
}

func TestRunStageRunsAndCloses(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	svc := &fakeStage{running: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunStage(ctx, zap.New(core), Standalone{Name: "enrich", MetricsAddr: "127.0.0.1:0", InstanceID: "i1"},
			func(Deps) (*fakeStage, error) { return svc, nil })
	}()
	<-svc.running
	if err := svc.Readiness(); err != nil {
		t.Errorf("not ready while running: %v", err)
	}
	cancel()
	if err := <-done; err != nil || svc.closed != 1 {
		t.Fatalf("RunStage: %v, closed %d times", err, svc.closed)
	}
	lines := logs.FilterMessage("enrich running").All()
	if len(lines) != 1 {
		t.Fatalf("start-up lines: %v", logs.All())
	}
	if f := lines[0].ContextMap(); f[observe.KeyMetricsAddr] != "127.0.0.1:0" || f[observe.KeyInstanceID] != "i1" {
		t.Errorf("start-up line fields: %v", f)
	}
}

func TestRunStageWithATakenAddress(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	svc := &fakeStage{running: make(chan struct{})}
	err = RunStage(context.Background(), zap.NewNop(), Standalone{Name: "fanout", MetricsAddr: taken.Addr().String()},
		func(Deps) (*fakeStage, error) { return svc, nil })
	if err == nil || !strings.Contains(err.Error(), taken.Addr().String()) || svc.closed != 1 {
		t.Fatalf("RunStage on a taken address: %v, closed %d times", err, svc.closed)
	}
	select {
	case <-svc.running:
		t.Fatal("the stage ran without its listener")
	default:
	}
}

func TestServeTracesOnlyWithAnEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name, endpoint string
		wantOn         bool
	}{
		{"no endpoint", "", false},
		{"an endpoint", "http://127.0.0.1:1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", tc.endpoint)
			t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
			var got *tracing.Provider
			err := Serve(context.Background(), "test", func(deps Deps) (*fakeStage, error) {
				got = deps.Tracing
				return &fakeStage{}, nil
			}, func(context.Context, *fakeStage, *http.ServeMux) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if on := got != nil; on != tc.wantOn {
				t.Errorf("tracing on: %v, want %v", on, tc.wantOn)
			}
		})
	}
}
