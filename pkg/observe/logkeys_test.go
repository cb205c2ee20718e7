package observe

import "testing"

func TestLogKeysAreDistinctAndNeverRedacted(t *testing.T) {
	keys := []string{KeyEventID, KeyEventType, KeyTopic, KeyPartition, KeyOffset, KeyRecordKey, KeyEntity, KeyDeliveryID,
		KeySubscriptionID, KeySourceID, KeyReplayID, KeyStage, KeyInstanceID, KeyRoute,
		KeyErrorClass, KeyAttempts, KeyStatus, KeyReason, KeyTook, KeyAddr, KeyMetricsAddr, KeyListener}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("two constants spell %q", k)
		}
		seen[k] = true
		if IsSecretKey(k) {
			t.Errorf("%q is named like a secret: its values would be redacted", k)
		}
	}
}
