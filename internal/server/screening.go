package server

import (
	"github.com/sinergi-id/sinergi/internal/api"
	"github.com/sinergi-id/sinergi/internal/screening"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// screeningChannel is NOTIFYed when referrals are committed (in the same
// transaction, by the store).
const screeningChannel = store.ScreeningChannel

// registerScreening registers ScreeningService. Its tokens and pseudonyms
// derive from the server's key, so every process of one deployment makes
// and checks the same ones.
func registerScreening(s *Server) {
	sealer := s.Writer.Sealer()
	sinergiv1.RegisterScreeningServiceServer(s.GRPC, &api.Screening{Deps: s.Deps,
		Keys:    screening.NewKeys(sealer.Keys().TokenKey("sinergi screening/")),
		Limiter: screening.NewLimiter(s.cfg.ScreeningLimit), Sealer: sealer})
}
