package pipeline

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tripline/tripline/detect/state"
)

// TestStateMetrics: keys refused at a rule's cap and late matches are
// counted, live keys follow the partition, and a partition handed over
// takes its keys out of the gauge.
func TestStateMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewStateMetrics(reg)
	part, err := state.NewPartition(map[string]state.Spec{
		"burst": {Kind: state.Threshold, Count: 5, Window: time.Minute, MaxKeys: 2},
	}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	pm := m.partition()
	base := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for i, key := range []string{"a", "b", "c", "d"} { // c and d are over the cap
		part.Apply(state.Match{Rule: "burst", Key: key, Time: base.Add(time.Duration(i) * time.Second), EventID: key})
	}
	part.Apply(state.Match{Rule: "burst", Key: "a", Time: base.Add(-time.Hour), EventID: "late"})
	pm.report(part.Stats())
	pm.report(part.Stats()) // reporting again adds nothing
	if got := testutil.ToFloat64(m.refused.WithLabelValues("burst")); got != 2 {
		t.Errorf("refused = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.late.WithLabelValues("burst")); got != 1 {
		t.Errorf("late = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.keys.WithLabelValues("burst")); got != 2 {
		t.Errorf("keys = %v, want 2", got)
	}
	pm.close()
	if got := testutil.ToFloat64(m.keys.WithLabelValues("burst")); got != 0 {
		t.Errorf("keys after hand-over = %v, want 0", got)
	}
	if got := testutil.ToFloat64(m.partitions); got != 0 {
		t.Errorf("partitions = %v, want 0", got)
	}
}
