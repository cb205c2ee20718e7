package kafkatest

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
)

// Logger logs at level and above into t's output; a benchmark (or any
// testing.TB but a *testing.T) gets a logger that drops everything.
func Logger(t testing.TB, level zapcore.Level) *zap.Logger {
	if tt, ok := t.(*testing.T); ok {
		return zaptest.NewLogger(tt, zaptest.Level(level))
	}
	return zap.NewNop()
}
