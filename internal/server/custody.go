package server

import (
	"github.com/sinergi-id/sinergi/internal/api"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// custodyChannel is NOTIFYed when custody events are committed (in the
// same transaction, by the store).
const custodyChannel = store.CustodyChannel

// registerCustody registers CustodyService.
func registerCustody(s *Server) {
	sinergiv1.RegisterCustodyServiceServer(s.GRPC, &api.Custody{Deps: s.Deps})
}
