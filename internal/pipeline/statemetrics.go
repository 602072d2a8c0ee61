package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tripline/tripline/detect/state"
)

// StateMetrics are the state stage's Prometheus metrics: what the
// partitions refuse or drop is counted, never silent.
type StateMetrics struct {
	refused    *prometheus.CounterVec
	late       *prometheus.CounterVec
	keys       *prometheus.GaugeVec
	partitions prometheus.Gauge
}

// NewStateMetrics registers the state metrics with reg (nil registers
// nowhere).
func NewStateMetrics(reg prometheus.Registerer) *StateMetrics {
	m := &StateMetrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tripline_detect_keys_refused_total",
			Help: "Matches of a stateful rule refused because the rule had max_keys live keys, by rule.",
		}, []string{"rule"}),
		late: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tripline_detect_late_matches_total",
			Help: "Matches of a stateful rule dropped as later than detect.lateness, by rule.",
		}, []string{"rule"}),
		keys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tripline_detect_state_keys",
			Help: "Live group keys of a stateful rule in the partitions this worker owns, by rule.",
		}, []string{"rule"}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tripline_detect_partitions_owned",
			Help: "Stateful detection partitions this worker owns.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.refused, m.late, m.keys, m.partitions)
	}
	return m
}

// partitionMetrics reports one partition's stats as changes since its
// last report, so that partitions add up and a partition handed over
// takes its live keys with it.
type partitionMetrics struct {
	m    *StateMetrics
	last map[string]state.RuleStats
}

func (m *StateMetrics) partition() *partitionMetrics {
	m.partitions.Inc()
	return &partitionMetrics{m: m, last: map[string]state.RuleStats{}}
}

// report adds the changes of s since the last report.
func (p *partitionMetrics) report(s state.Stats) {
	for rule, rs := range s.Rules {
		prev := p.last[rule]
		if d := rs.Refused - prev.Refused; rs.Refused > prev.Refused {
			p.m.refused.WithLabelValues(rule).Add(float64(d))
		}
		if d := rs.Late - prev.Late; rs.Late > prev.Late {
			p.m.late.WithLabelValues(rule).Add(float64(d))
		}
		p.m.keys.WithLabelValues(rule).Add(float64(rs.Keys - prev.Keys))
		p.last[rule] = rs
	}
}

// close takes the partition's live keys out of the gauge.
func (p *partitionMetrics) close() {
	for rule, rs := range p.last {
		p.m.keys.WithLabelValues(rule).Sub(float64(rs.Keys))
	}
	p.m.partitions.Dec()
}
