package api

import (
	"context"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authn"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func referralCursorQuery(code string) string { return "screening-watch|" + code }

// referralReach is the reach a batch of referrals is delivered under: the
// caller as it stands now (the stream's recheck, authz.StreamStanding),
// or the end of the stream when it no longer stands.
func (s *Screening) referralReach(ctx context.Context, c *authn.Caller) (*authz.Reach, error) {
	if err := authz.StreamStanding(ctx); err != nil {
		return nil, err
	}
	snap := s.Directory.Snapshot()
	me := snap.Institution(c.Institution.GetCode())
	if me == nil || me.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE {
		return nil, authz.EndInstitutionSuspended
	}
	return authz.ReferralReach(snap, me, s.Now()), nil
}

// WatchScreeningReferrals streams the referrals of the caller's entries as
// they commit, so that the owning unit hears of a hit while the person is
// still at the gate.
//
// As WatchCustodyEvents: the handler reads the referrals table (the source
// of truth) from the stream's own position, woken through the fan-out hub
// by the NOTIFY in each referral's transaction, and its outbox audits and
// sends at the pace the consumer takes them (a consumer too slow, or past
// the streams' budget, is told to come back with its cursor). Seqs follow
// commit order (store.ReferralsAfter), so resuming from a cursor gives
// every later referral once and none twice. Each delivery is decided when
// it is delivered: the caller must still stand, and an agreement in force
// for visitor screening must join it with the referral's facility
// (authz.ReferralReach); its audit record, the screening, the entry, the
// person and the inmate visited under that agreement, commits before it
// is sent.
func (s *Screening) WatchScreeningReferrals(req *sinergiv1.WatchScreeningReferralsRequest, stream sinergiv1.ScreeningService_WatchScreeningReferralsServer) error {
	ctx := stream.Context()
	c := caller(ctx)
	tun := currentWatchTuning()
	code := c.Institution.GetCode()
	query := referralCursorQuery(code)

	// Subscribe before reading the position: a commit after it wakes us.
	sub := s.Hub.Subscribe(store.ScreeningChannel)
	defer sub.Close()
	var pos store.ReferralPosition
	if req.GetCursor() != "" {
		if err := s.Tokens.Open(req.GetCursor(), query, &pos); err != nil {
			return validate.Error("cursor", "not a cursor of this institution's stream (altered or foreign)")
		}
	} else {
		var err error
		if pos, err = s.Store.ReferralsHead(ctx); err != nil {
			return s.screeningError(ctx, err, nil)
		}
	}
	start, err := s.Tokens.Seal(query, pos)
	if err != nil {
		return err
	}
	if err := stream.Send(&sinergiv1.WatchScreeningReferralsResponse{Cursor: start}); err != nil {
		return err
	}
	out := newOutbox(ctx, s.Streams, "sinergi.v1.ScreeningService", start, tun.Queue, tun.Stall,
		func(m proto.Message) error { return stream.Send(m.(*sinergiv1.WatchScreeningReferralsResponse)) })
	defer out.close(ctx)
	for {
		page := tun.Batch
		if out.behind() {
			page = behindWindow
		}
		rows, err := s.Store.ReferralsAfter(ctx, code, pos, page)
		if err != nil {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return s.screeningError(ctx, err, nil)
		}
		var reach *authz.Reach
		if len(rows) > 0 {
			if reach, err = s.referralReach(ctx, c); err != nil {
				return err
			}
		}
		for _, row := range rows {
			pos = row.Pos
			if !reach.Restriction().Admits(restrict.Row{Facility: row.Referral.GetFacilityCode()}) {
				continue
			}
			cur, err := s.Tokens.Seal(query, pos)
			if err != nil {
				return err
			}
			e := audit.FromContext(ctx).Derive(s.Now())
			s.referralSubjects(e, reach, row.Referral)
			if err := out.put(ctx, outItem{msg: &sinergiv1.WatchScreeningReferralsResponse{Cursor: cur, Referral: row.Referral},
				cursor: cur, entry: e}); err != nil {
				return err
			}
		}
		if len(rows) == page {
			continue // more are waiting
		}
		if err := out.wait(ctx, sub.C); err != nil {
			return err
		}
	}
}
