package kafkatest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// CounterValue is the value of the first series of the counter name in
// reg whose labels include each of labels (alternating names and values;
// none: any series); 0 when there is none. A failing Gather fails t.
func CounterValue(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	values := seriesValues(t, reg, name, labels)
	if len(values) == 0 {
		return 0
	}
	return values[0]
}

// MetricSum is the sum of every series of the counter or gauge name in
// reg whose labels include each of labels (as CounterValue takes them).
func MetricSum(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	var sum float64
	for _, v := range seriesValues(t, reg, name, labels) {
		sum += v
	}
	return sum
}

// seriesValues are the values of name's series matching labels, in the
// order Gather gives them.
func seriesValues(t testing.TB, reg prometheus.Gatherer, name string, labels []string) []float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	var out []float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if v, ok := got[labels[i]]; !ok || v != labels[i+1] {
					continue series
				}
			}
			// One of the two is unset (0) for any series.
			out = append(out, m.GetCounter().GetValue()+m.GetGauge().GetValue())
		}
	}
	return out
}
