package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sinergi-id/sinergi/internal/api"
	"github.com/sinergi-id/sinergi/internal/reports"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// reportChannel is NOTIFYed when report events are committed.
const reportChannel = store.ReportChannel

// registerReports registers ReportService and its escalation worker: every
// process runs one, and the one holding the advisory lock escalates for all.
func registerReports(s *Server) {
	sinergiv1.RegisterReportServiceServer(s.GRPC, &api.Reports{Deps: s.Deps})
	esc := &reports.Escalator{Store: s.Store, Audit: s.Writer.Sealer(), Directory: s.Directory, Now: s.cfg.Now, Log: s.cfg.Log,
		Escalated: prometheus.NewCounter(prometheus.CounterOpts{Name: "sinergi_report_escalations_total",
			Help: "Report recipients escalated to their parent unit, their acknowledgement deadline passed."}),
		Overdue: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sinergi_report_overdue_recipients",
			Help: "Report recipients past their acknowledgement deadline at the escalator's last pass (this process, when it leads)."})}
	s.registry.MustRegister(esc.Escalated, esc.Overdue)
	s.AddWorker(esc.Run)
}
