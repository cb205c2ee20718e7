// Package webhooktest is the webhook endpoint Surge's tests deliver to
// (Receiver, which checks signatures with the official Standard Webhooks
// library) and the checks of what it received.
package webhooktest

import "testing"

// CheckOrder fails t unless, per "<subscription>/<entity key>", each
// version first arrived after the version before it, and every key in want
// reached the version want gives it. A repeat of a version already
// delivered is allowed (delivery is at least once after a crash). got is
// in the order the endpoint saw the arrivals; key gives an arrival's
// "<subscription>/<entity key>" and its entity version.
func CheckOrder[A any](t testing.TB, got []A, key func(A) (string, int64), want map[string]int64) {
	t.Helper()
	last := map[string]int64{}
	for _, a := range got {
		k, version := key(a)
		switch {
		case version == last[k]+1:
			last[k] = version
		case version <= last[k]:
			// a repeat of something already delivered
		default:
			t.Fatalf("%s: version %d arrived after %d", k, version, last[k])
		}
	}
	for k, v := range want {
		if last[k] != v {
			t.Fatalf("%s: delivered up to version %d, want %d", k, last[k], v)
		}
	}
}
