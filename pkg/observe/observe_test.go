package observe

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestSecretsAreRedacted(t *testing.T) {
	var buf bytes.Buffer
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	log := zap.New(redactingCore{zapcore.NewCore(enc, zapcore.AddSync(&buf), zapcore.DebugLevel)})
	log.With(zap.String("admin_token", "tok-123")).Info("x",
		zap.String("secret", "whsec_abc"), zap.String("Authorization", "Bearer xyz"),
		zap.String("webhook-signature", "v1,sig"), zap.String("event_id", "ev1"))
	out := buf.String()
	for _, leaked := range []string{"tok-123", "whsec_abc", "Bearer xyz", "v1,sig"} {
		if strings.Contains(out, leaked) {
			t.Errorf("log line leaks %q: %s", leaked, out)
		}
	}
	if !strings.Contains(out, `"event_id":"ev1"`) || strings.Count(out, Redacted) != 4 {
		t.Errorf("log line %s", out)
	}
}

func TestHealthReadyAndMetrics(t *testing.T) {
	var ready Readiness
	var why error
	mux := http.NewServeMux()
	Mount(mux, func() error {
		if why != nil {
			return why
		}
		return ready.Err()
	}, NewRegistry())
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	code, body := get("/readyz")
	if h, _ := get("/healthz"); h != 200 || code != 503 || body != "not ready: "+ErrNotReady.Error()+"\n" {
		t.Fatalf("before ready: /healthz %d, /readyz %d %q", h, code, body)
	}
	if m, _ := get("/metrics"); m != 200 {
		t.Fatalf("/metrics: %d", m)
	}
	ready.Set(true)
	if code, body := get("/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("after ready: /readyz %d %q", code, body)
	}
	why = errors.New("stalled: enrich partition 1")
	if code, body := get("/readyz"); code != 503 || body != "not ready: stalled: enrich partition 1\n" {
		t.Fatalf("with a reason: /readyz %d %q", code, body)
	}
}
