package api

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authn"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// referralDelivery is one referral on its way to its owner, with the reach
// it is audited under.
type referralDelivery struct {
	msg   *sinergiv1.WatchScreeningReferralsResponse
	reach *authz.Reach
}

func referralCursorQuery(code string) string { return "screening-watch|" + code }

// referralReach is the reach a batch of referrals is delivered under: the
// caller as it stands now, or the end of the stream when it no longer
// stands (its institution suspended, its certificate revoked).
//
// The recheck of the stream itself, one mechanism for every streaming
// method, is issue 15's (authz.StreamStanding): until it is wired here,
// each batch checks the caller as WatchCustodyEvents does.
func (s *Screening) referralReach(c *authn.Caller) (*authz.Reach, error) {
	snap := s.Directory.Snapshot()
	me := snap.Institution(c.Institution.GetCode())
	switch {
	case me == nil || me.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE:
		return nil, status.Error(codes.PermissionDenied, "permission denied: the institution is no longer active")
	case snap.Revoked(c.Serial):
		return nil, status.Error(codes.Unauthenticated, "unauthenticated: the client certificate was revoked")
	}
	return authz.ReferralReach(snap, me, s.Now()), nil
}

// WatchScreeningReferrals streams the referrals of the caller's entries as
// they commit, so that the owning unit hears of a hit while the person is
// still at the gate.
//
// As WatchCustodyEvents: one goroutine reads the referrals table (the
// source of truth) from the stream's own position, woken through the
// fan-out hub by the NOTIFY in each referral's transaction; another
// audits and sends. Between them sits a bounded queue, and a consumer that
// leaves it full for too long is told to come back with its cursor. Seqs
// follow commit order (store.ReferralsAfter), so resuming from a cursor
// gives every later referral once and none twice. Each delivery is decided
// when it is delivered: the caller must still stand, and an agreement in
// force for visitor screening must join it with the referral's facility
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

	queue := make(chan referralDelivery, tun.Queue)
	sendErr := make(chan error, 1)
	quit := make(chan struct{})
	defer close(quit)
	var lastSent atomic.Pointer[string]
	lastSent.Store(&start)
	go func() {
		if err := s.sendReferrals(ctx, stream, queue, quit, &lastSent); err != nil {
			sendErr <- err
		}
	}()

	ctxErr := func() error { return status.FromContextError(ctx.Err()).Err() }
	for {
		rows, err := s.Store.ReferralsAfter(ctx, code, pos, tun.Batch)
		if err != nil {
			if ctx.Err() != nil {
				return ctxErr()
			}
			return s.screeningError(ctx, err, nil)
		}
		var reach *authz.Reach
		if len(rows) > 0 {
			if reach, err = s.referralReach(c); err != nil {
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
			d := referralDelivery{msg: &sinergiv1.WatchScreeningReferralsResponse{Cursor: cur, Referral: row.Referral}, reach: reach}
			select {
			case queue <- d:
				continue
			default:
			}
			stall := time.NewTimer(tun.Stall)
			select {
			case queue <- d:
				stall.Stop()
			case <-stall.C:
				return referralsTooSlow(*lastSent.Load())
			case err := <-sendErr:
				stall.Stop()
				return err
			case <-ctx.Done():
				stall.Stop()
				return ctxErr()
			}
		}
		if len(rows) == tun.Batch {
			continue // more are waiting
		}
		select {
		case <-sub.C:
		case err := <-sendErr:
			return err
		case <-ctx.Done():
			return ctxErr()
		}
	}
}

// referralsTooSlow ends a watch whose consumer does not keep up; the
// cursor is also in an ErrorInfo detail, for clients to resume from.
func referralsTooSlow(cursor string) error {
	st := status.New(codes.ResourceExhausted, "watcher too far behind: reconnect with cursor "+cursor)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: "WATCHER_TOO_SLOW", Domain: "sinergi.v1.ScreeningService",
		Metadata: map[string]string{"cursor": cursor}}); err == nil {
		return d.Err()
	}
	return st.Err()
}

// sendReferrals audits and sends queued deliveries in order. Deliveries
// waiting together are audited together (one group commit), each committed
// before its message leaves: no record, no delivery.
func (s *Screening) sendReferrals(ctx context.Context, stream sinergiv1.ScreeningService_WatchScreeningReferralsServer,
	queue <-chan referralDelivery, quit <-chan struct{}, lastSent *atomic.Pointer[string],
) error {
	const group = 64
	batch := make([]referralDelivery, 0, group)
	errs := make([]error, group)
	for {
		batch = batch[:0]
		select {
		case <-quit:
			return nil
		case d := <-queue:
			batch = append(batch, d)
		}
	fill:
		for len(batch) < group {
			select {
			case d := <-queue:
				batch = append(batch, d)
			default:
				break fill
			}
		}
		var wg sync.WaitGroup
		for i, d := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := audit.FromContext(ctx).Derive(s.Now())
				s.referralSubjects(e, d.reach, d.msg.GetReferral())
				errs[i] = audit.Deliver(ctx, e)
			}()
		}
		wg.Wait()
		for i, d := range batch {
			if errs[i] != nil {
				return errs[i]
			}
			if err := stream.Send(d.msg); err != nil {
				return err
			}
			lastSent.Store(&d.msg.Cursor)
		}
	}
}
