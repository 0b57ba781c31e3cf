package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sinergi-id/sinergi/internal/api"
	"github.com/sinergi-id/sinergi/internal/firearms"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// firearmsChannel is NOTIFYed when firearms register events are committed.
const firearmsChannel = store.FirearmsChannel

// registerFirearms registers FirearmsService and its licence expirer:
// every process runs one, and the one holding the advisory lock warns for all.
func registerFirearms(s *Server) {
	sinergiv1.RegisterFirearmsServiceServer(s.GRPC, &api.Firearms{Deps: s.Deps})
	exp := &firearms.Expirer{Store: s.Store, Audit: s.Writer.Sealer(), Now: s.cfg.Now, Log: s.cfg.Log,
		Warned: prometheus.NewCounter(prometheus.CounterOpts{Name: "sinergi_firearms_licence_warnings_total",
			Help: "Firearms licence expiry warnings given (90, 30 and 7 days ahead, and at expiry)."})}
	s.registry.MustRegister(exp.Warned)
	s.AddWorker(exp.Run)
}
