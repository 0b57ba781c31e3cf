package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/status"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Metrics are the handlers' counters on /metrics, beyond the per-method
// gRPC ones: what the roster uploads did.
type Metrics struct {
	rosterSyncs   *prometheus.CounterVec
	rosterRecords *prometheus.CounterVec
}

// NewMetrics registers the handlers' metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		rosterSyncs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sinergi_roster_syncs_total",
			Help: "Roster uploads (SyncRoster) ended, by status code: OK applied, ABORTED another upload of the facility ran, INVALID_ARGUMENT refused whole."},
			[]string{"code"}),
		rosterRecords: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sinergi_roster_records_total",
			Help: "Records of the roster uploads that were applied, by what became of each: inserted, updated, unchanged, rejected."},
			[]string{"outcome"}),
	}
	reg.MustRegister(m.rosterSyncs, m.rosterRecords)
	for _, c := range []string{"OK", "ABORTED", "INVALID_ARGUMENT", "UNAVAILABLE"} {
		m.rosterSyncs.WithLabelValues(c)
	}
	for _, o := range []string{"inserted", "updated", "unchanged", "rejected"} {
		m.rosterRecords.WithLabelValues(o)
	}
	return m
}

// roster counts one upload's end.
func (m *Metrics) roster(resp *sinergiv1.SyncRosterResponse, err error) {
	if m == nil {
		return
	}
	m.rosterSyncs.WithLabelValues(code.Code(status.Code(err)).String()).Inc()
	if err != nil || resp == nil {
		return
	}
	m.rosterRecords.WithLabelValues("inserted").Add(float64(resp.GetInserted()))
	m.rosterRecords.WithLabelValues("updated").Add(float64(resp.GetUpdated()))
	m.rosterRecords.WithLabelValues("unchanged").Add(float64(resp.GetUnchanged()))
	m.rosterRecords.WithLabelValues("rejected").Add(float64(resp.GetRejected()))
}
