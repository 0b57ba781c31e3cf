package server

import (
	"time"

	"github.com/sinergi-id/sinergi/internal/api"
	"github.com/sinergi-id/sinergi/internal/fanout"
	"github.com/sinergi-id/sinergi/internal/presence"
	"github.com/sinergi-id/sinergi/internal/reconcile"
	"github.com/sinergi-id/sinergi/internal/releases"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// custodyChannel is NOTIFYed when custody events are committed (in the
// same transaction, by the store); custodyOrderedChannel when the
// sequencer has given them their positions, which is what watchers wait on.
const (
	custodyChannel        = store.CustodyChannel
	custodyOrderedChannel = store.CustodyOrderedChannel
)

// custodySequencerLock is the advisory lock of the one custody event
// sequencer of a database ("CUSTSEQ").
const custodySequencerLock = 0x43555354534551

// registerCustody registers CustodyService and the sequencer that orders
// its events for watchers: every process runs one, the leader orders.
func registerCustody(s *Server) {
	sinergiv1.RegisterCustodyServiceServer(s.GRPC, &api.Custody{Deps: s.Deps})
	seq := &fanout.Sequencer{Name: "custody event", Store: s.Store, LockKey: custodySequencerLock,
		Pass: (&store.CustodyEventPasses{}).Pass, Batch: 1000, Wake: s.Hub.Subscribe(custodyChannel),
		Safety: time.Second, Log: s.cfg.Log}
	s.AddWorker(seq.Run)
	registerPresence(s)
}

// hitNoticesChannel is NOTIFYed after hit notices commit (by the store);
// hitNoticesOrderedChannel when the sequencer has ordered them, which is
// what their watchers wait on.
const (
	hitNoticesChannel        = store.HitNoticesChannel
	hitNoticesOrderedChannel = store.HitNoticesOrderedChannel
)

// hitNoticeSequencerLock is the advisory lock of the one hit notice
// sequencer of a database ("HITSEQ").
const hitNoticeSequencerLock = 0x484954534551

// registerPresence adds the workers of national hit / no-hit: the
// sequencer that orders hit notices for their watchers, the escalator of
// confirmation requests left unanswered, and the notifier of releases
// ahead (whose notices travel with the hit notices). Every process runs each; the
// leader works.
func registerPresence(s *Server) {
	seq := &fanout.Sequencer{Name: "hit notice", Store: s.Store, LockKey: hitNoticeSequencerLock,
		Pass: store.SequenceHitNotices, Batch: 5000, Wake: s.Hub.Subscribe(hitNoticesChannel),
		Safety: time.Second, Log: s.cfg.Log}
	s.AddWorker(seq.Run)
	esc := &presence.Escalator{Store: s.Store, Audit: s.Writer.Sealer(), Directory: s.Directory, Now: s.cfg.Now, Log: s.cfg.Log}
	s.AddWorker(esc.Run)
	rel := &releases.Notifier{Store: s.Store, Audit: s.Writer.Sealer(), Directory: s.Directory, Now: s.cfg.Now, Log: s.cfg.Log,
		Wake: s.Hub.Subscribe(custodyChannel).C}
	s.AddWorker(rel.Run)
	rec := &reconcile.Escalator{Store: s.Store, Audit: s.Writer.Sealer(), Directory: s.Directory, Now: s.cfg.Now, Log: s.cfg.Log}
	s.AddWorker(rec.Run)
}
