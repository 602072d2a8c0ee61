package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts accepted and rejected records per source.
type Metrics struct {
	records         *prometheus.CounterVec
	rejected        *prometheus.CounterVec
	rejectedRecords *prometheus.CounterVec
}

// NewMetrics registers the ingest counters with reg (nil registers nowhere).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tripline_ingest_records_accepted_total",
			Help: "Records stored in JetStream, by source.",
		}, []string{"source"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tripline_ingest_requests_rejected_total",
			Help: "Requests rejected, by source and reason.",
		}, []string{"source", "reason"}),
		rejectedRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tripline_ingest_records_rejected_total",
			Help: "Records dead-lettered instead of stored, by source and reason.",
		}, []string{"source", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.records, m.rejected, m.rejectedRecords)
	}
	return m
}

// Accepted counts n stored records of source.
func (m *Metrics) Accepted(source string, n int) {
	m.records.WithLabelValues(source).Add(float64(n))
}

// Rejected counts one rejected request.
func (m *Metrics) Rejected(source, reason string) {
	m.rejected.WithLabelValues(source, reason).Inc()
}

// RejectedRecord counts one dead-lettered record of source.
func (m *Metrics) RejectedRecord(source, reason string) {
	m.rejectedRecords.WithLabelValues(source, reason).Inc()
}
