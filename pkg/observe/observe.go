// Package observe builds what every Surge process exposes about itself: a
// zap JSON logger that redacts secrets (observe.go), a Prometheus registry
// and the metrics a component registers with it (metrics.go), the
// readiness /readyz reports (readiness.go), and the /healthz, /readyz and
// /metrics routes.
package observe

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger returns a JSON logger at level ("debug", "info", "warn",
// "error") whose fields named like a secret are redacted.
func NewLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.EncoderConfig.TimeKey = "ts"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.Sampling = nil
	log, err := cfg.Build()
	if err != nil {
		return nil, err
	}
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return redactingCore{c} })), nil
}

// Redacted is what a secret's value is logged as.
const Redacted = "[redacted]"

// secretWords mark a field key whose value must never reach a log.
var secretWords = []string{"secret", "token", "password", "authorization", "signature"}

// IsSecretKey reports whether a field or header named key holds a secret.
func IsSecretKey(key string) bool {
	k := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// redactingCore replaces the value of every field named like a secret.
type redactingCore struct{ zapcore.Core }

func (c redactingCore) With(fields []zapcore.Field) zapcore.Core {
	return redactingCore{c.Core.With(redact(fields))}
}

func (c redactingCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c redactingCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return c.Core.Write(e, redact(fields))
}

func redact(fields []zapcore.Field) []zapcore.Field {
	out := fields
	copied := false
	for i, f := range fields {
		if IsSecretKey(f.Key) {
			if !copied {
				out = append([]zapcore.Field(nil), fields...)
				copied = true
			}
			out[i] = zap.String(f.Key, Redacted)
		}
	}
	return out
}

// NewRegistry returns a Prometheus registry with the Go and process
// collectors registered.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Mount adds /healthz (the process is alive), /readyz and /metrics
// (gatherer) to mux. ready is nil when the process can do its work, or why
// it cannot: /readyz answers 200 "ready", or 503 "not ready: <why>" (for a
// stalled stage, every stalled partition with its reason).
func Mount(mux *http.ServeMux, ready func() error, gatherer prometheus.Gatherer) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ready != nil {
			if err := ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
}
