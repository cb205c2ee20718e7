package main

import (
	"strings"
	"testing"

	"github.com/surgehq/surge/pkg/kafkatest"
)

// devDiagnosis is what a test that waited in vain on a surge dev stack
// prints: /readyz, every Surge counter that moved (histogram buckets
// and the Kafka client's byte counts left out) and `surge trace` of the event, so that a rare failure in CI
// says which stage the event stopped at.
func devDiagnosis(t *testing.T, stack *devStack, eventID string) string {
	t.Helper()
	var b strings.Builder
	_, ready := kafkatest.Get(stack.AdminURL + "/readyz")
	b.WriteString("/readyz: " + strings.TrimSpace(ready) + "\n")
	_, metrics := kafkatest.Get(stack.AdminURL + "/metrics")
	for _, line := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(line, "surge_") || strings.HasPrefix(line, "surge_kafka_") || strings.Contains(line, "_bucket{") || strings.HasSuffix(line, " 0") {
			continue
		}
		b.WriteString(line + "\n")
	}
	out, err := runCLI(t, "trace", eventID, "--brokers", stack.KafkaAddr, "--registry", stack.RegistryURL)
	if err != nil {
		b.WriteString("surge trace: " + err.Error() + "\n")
	}
	b.WriteString(out)
	return b.String()
}
