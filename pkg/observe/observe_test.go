package observe

import (
	"bytes"
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
	mux := http.NewServeMux()
	Mount(mux, ready.Ready, NewRegistry())
	get := func(path string) int {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	if get("/healthz") != 200 || get("/readyz") != 503 || get("/metrics") != 200 {
		t.Fatal("before ready: want 200, 503, 200")
	}
	ready.Set(true)
	if get("/readyz") != 200 {
		t.Fatal("after ready: /readyz is not 200")
	}
}
