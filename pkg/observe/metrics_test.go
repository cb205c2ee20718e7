package observe

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsRegisterOnceAndShare(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := Metrics{Registry: reg}.CounterVec("surge_test_total", "Test counter.", "stage")
	b := Metrics{Registry: reg}.CounterVec("surge_test_total", "Test counter.", "stage")
	if a != b {
		t.Fatal("a second component got its own collector instead of the registered one")
	}
	a.WithLabelValues("enrich").Inc()
	b.WithLabelValues("fanout").Inc()
	if n := testutil.CollectAndCount(reg, "surge_test_total"); n != 2 {
		t.Fatalf("series: %d, want 2", n)
	}

	unregistered := Metrics{}.Counter("surge_test_other_total", "Not registered.")
	unregistered.Inc()
	if n, _ := testutil.GatherAndCount(reg, "surge_test_other_total"); n != 0 {
		t.Fatalf("a nil registry registered the metric: %d series", n)
	}

	defer func() {
		if recover() == nil {
			t.Fatal("a conflicting registration did not panic")
		}
	}()
	Metrics{Registry: reg}.Counter("surge_test_total", "Other help.")
}
