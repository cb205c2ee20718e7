package service

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/surgehq/surge/pkg/observe"
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
	err := Serve(context.Background(), func(reg prometheus.Registerer) (*fakeStage, error) {
		registered = reg
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
	err = Serve(context.Background(), func(prometheus.Registerer) (*fakeStage, error) { return nil, failed },
		func(context.Context, *fakeStage, *http.ServeMux) error {
			t.Error("serve called after the constructor failed")
			return nil
		})
	if err != failed {
		t.Fatalf("Serve with a failing constructor: %v", err)
	}
}

func TestRunStageServesWhileRunning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	core, logs := observer.New(zap.InfoLevel)
	svc := &fakeStage{running: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- RunStage(ctx, zap.New(core), Standalone{Name: "enrich", MetricsAddr: addr, InstanceID: "i1"},
			func(prometheus.Registerer) (*fakeStage, error) { return svc, nil })
	}()
	<-svc.running
	var body string
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if body != "ready\n" {
		t.Errorf("/readyz while running: %q", body)
	}
	cancel()
	if err := <-done; err != nil || svc.closed != 1 {
		t.Fatalf("RunStage: %v, closed %d times", err, svc.closed)
	}
	lines := logs.FilterMessage("enrich running").All()
	if len(lines) != 1 {
		t.Fatalf("start-up lines: %v", logs.All())
	}
	if f := lines[0].ContextMap(); f[observe.KeyMetricsAddr] != addr || f[observe.KeyInstanceID] != "i1" {
		t.Errorf("start-up line fields: %v", f)
	}
}
