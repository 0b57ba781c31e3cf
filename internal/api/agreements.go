package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Agreements implements AgreementService.
type Agreements struct {
	sinergiv1.UnimplementedAgreementServiceServer
	*Deps
}

func checkScope(v *validate.Violations, field string, sc sinergiv1.Scope, required bool) {
	switch {
	case sinergiv1.Scope_name[int32(sc)] == "":
		v.Add(field, "unknown scope %d", sc)
	case required && sc == sinergiv1.Scope_SCOPE_UNSPECIFIED:
		v.Add(field, "required")
	}
}

func init() {
	validate.Register(func(r *sinergiv1.GetAgreementRequest, v *validate.Violations) {
		v.Check(r.GetId() != "", "id", "required")
	})
	validate.Register(func(r *sinergiv1.ListAgreementsRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
		checkScope(v, "scope", r.GetScope(), false)
		if st := r.GetStatus(); sinergiv1.AgreementStatus_name[int32(st)] == "" {
			v.Add("status", "unknown status %d", st)
		}
		if t := r.GetActiveTime(); t != nil && t.CheckValid() != nil {
			v.Add("active_time", "not a valid time")
		}
	})
	validate.Register(func(r *sinergiv1.CheckCoverageRequest, v *validate.Violations) {
		v.Check(r.GetCounterpartCode() != "", "counterpart_code", "required")
		checkScope(v, "scope", r.GetScope(), true)
		if t := r.GetAtTime(); t != nil && t.CheckValid() != nil {
			v.Add("at_time", "not a valid time")
		}
	})
	validate.Register(func(r *sinergiv1.CreateAgreementRequest, v *validate.Violations) {
		if r.GetAgreement() == nil {
			v.Add("agreement", "required")
		}
	})
	validate.Register(func(r *sinergiv1.RevokeAgreementRequest, v *validate.Violations) {
		v.Check(r.GetId() != "", "id", "required")
		if t := r.GetRevokeTime(); t != nil && t.CheckValid() != nil {
			v.Add("revoke_time", "not a valid time")
		}
	})
	validate.Register(func(r *sinergiv1.ConfirmAgreementRequest, v *validate.Violations) {
		v.Check(r.GetId() != "", "id", "required")
	})
}

// withStatus returns a copy of a with its standing at t.
func withStatus(a *sinergiv1.Agreement, t time.Time) *sinergiv1.Agreement {
	c := proto.Clone(a).(*sinergiv1.Agreement)
	c.Status = directory.StatusAt(a, t)
	return c
}

// GetAgreement returns one agreement with its standing now.
func (s *Agreements) GetAgreement(ctx context.Context, req *sinergiv1.GetAgreementRequest) (*sinergiv1.GetAgreementResponse, error) {
	a := caller(ctx).Directory.Agreement(req.GetId())
	if a == nil {
		return nil, errAgreementNotFound
	}
	return &sinergiv1.GetAgreementResponse{Agreement: withStatus(a, s.Now())}, nil
}

// ListAgreements lists agreements by id.
func (s *Agreements) ListAgreements(ctx context.Context, req *sinergiv1.ListAgreementsRequest) (*sinergiv1.ListAgreementsResponse, error) {
	at := s.Now()
	if req.GetActiveTime() != nil {
		at = req.GetActiveTime().AsTime()
	}
	query := fmt.Sprintf("agreements|%s|%d|%d|%d", req.GetPartyCode(), req.GetScope(), req.GetStatus(), at.UnixMicro())
	var pos codePosition
	if req.GetPageToken() != "" {
		if err := s.Tokens.Open(req.GetPageToken(), query, &pos); err != nil {
			return nil, s.badToken()
		}
	}
	snap := caller(ctx).Directory
	var party *sinergiv1.Institution
	if req.GetPartyCode() != "" {
		if party = snap.Institution(req.GetPartyCode()); party == nil {
			return &sinergiv1.ListAgreementsResponse{}, nil
		}
	}
	size := pageSize(req.GetPageSize())
	resp := &sinergiv1.ListAgreementsResponse{}
	for _, a := range snap.Agreements() {
		switch {
		case a.GetId() <= pos.After,
			party != nil && !slices.ContainsFunc(a.GetParties(), func(p *sinergiv1.Party) bool { return directory.PartyIncludes(p, party) }),
			req.GetScope() != sinergiv1.Scope_SCOPE_UNSPECIFIED && !slices.Contains(a.GetScopes(), req.GetScope()),
			req.GetStatus() != sinergiv1.AgreementStatus_AGREEMENT_STATUS_UNSPECIFIED && directory.StatusAt(a, at) != req.GetStatus():
			continue
		}
		if len(resp.Agreements) == size {
			tok, err := s.Tokens.Seal(query, codePosition{After: resp.Agreements[size-1].GetId()})
			if err != nil {
				return nil, err
			}
			resp.NextPageToken = tok
			break
		}
		resp.Agreements = append(resp.Agreements, withStatus(a, at))
	}
	return resp, nil
}

// CheckCoverage says whether an agreement in force covers an exchange.
func (s *Agreements) CheckCoverage(ctx context.Context, req *sinergiv1.CheckCoverageRequest) (*sinergiv1.CheckCoverageResponse, error) {
	c := caller(ctx)
	a := c.Institution
	if code := req.GetInstitutionCode(); code != "" {
		if a = c.Directory.Institution(code); a == nil {
			return nil, status.Error(codes.NotFound, "institution not found: institution_code")
		}
	}
	b := c.Directory.Institution(req.GetCounterpartCode())
	if b == nil {
		return nil, status.Error(codes.NotFound, "institution not found: counterpart_code")
	}
	at := s.Now()
	if req.GetAtTime() != nil {
		at = req.GetAtTime().AsTime()
	}
	cov := c.Directory.Coverage(a, b, req.GetScope(), at)
	resp := &sinergiv1.CheckCoverageResponse{Covered: cov.Covered, Gap: cov.Gap, NearMisses: cov.NearMisses}
	for _, ag := range cov.Agreements {
		resp.Agreements = append(resp.Agreements, withStatus(ag, at))
	}
	return resp, nil
}

var errAgreementNotFound = status.Error(codes.NotFound, "agreement not found")

// revokeSkew is how far behind the server's clock a client may put "now"
// in a revocation: it is then revoked from the server's now, never earlier.
const revokeSkew = 5 * time.Second

// CreateAgreement registers an agreement between a corrections party and a
// police party, proposed by the caller's side: pending until the other
// side's administrator confirms it.
func (s *Agreements) CreateAgreement(ctx context.Context, req *sinergiv1.CreateAgreementRequest) (*sinergiv1.CreateAgreementResponse, error) {
	c := caller(ctx)
	a := proto.Clone(req.GetAgreement()).(*sinergiv1.Agreement)
	a.Status, a.ProposedBy, a.ConfirmTime = sinergiv1.AgreementStatus_AGREEMENT_STATUS_UNSPECIFIED, sinergiv1.Side_SIDE_UNSPECIFIED, nil
	snap := c.Directory
	var v, av validate.Violations
	directory.CheckAgreement(a, snap.Institution, snap.Agreement, &av)
	v.Merge("agreement", &av)
	if err := v.Err(); err != nil {
		return nil, err
	}
	a.ProposedBy = directory.SideOf(c.Institution.GetKind())
	e := audit.FromContext(ctx)
	e.AddSubjects("agreement/" + a.GetId())
	if err := s.Store.CreateAgreement(ctx, e, a, req.GetAccess().GetOperatorId()); err != nil {
		return nil, s.storeError(ctx, err, "agreement "+a.GetId())
	}
	s.Log.InfoContext(ctx, "agreement registered, pending the other side's confirmation", "agreement", a.GetId(), "by", c.Institution.GetCode())
	return &sinergiv1.CreateAgreementResponse{Agreement: withStatus(s.reloaded(ctx).Agreement(a.GetId()), s.Now())}, nil
}

// errAlreadyConfirmed: confirming twice changes nothing.
var errAlreadyConfirmed = errors.New("already confirmed")

// ConfirmAgreement confirms an agreement the other side registered.
func (s *Agreements) ConfirmAgreement(ctx context.Context, req *sinergiv1.ConfirmAgreementRequest) (*sinergiv1.ConfirmAgreementResponse, error) {
	c := caller(ctx)
	mine := directory.SideOf(c.Institution.GetKind())
	e := audit.FromContext(ctx)
	e.AddSubjects("agreement/" + req.GetId())
	now := s.Now()
	err := s.Store.ConfirmAgreement(ctx, e, req.GetId(), req.GetAccess().GetOperatorId(), now, func(proposedBy sinergiv1.Side, confirmed, revoked bool) error {
		switch {
		case proposedBy == sinergiv1.Side_SIDE_UNSPECIFIED:
			return status.Error(codes.FailedPrecondition, "this agreement was registered for both sides at once: there is nothing to confirm")
		case proposedBy == mine:
			return status.Errorf(codes.FailedPrecondition, "this agreement was registered by %s: %s confirms it",
				directory.SideName(mine), directory.SideName(directory.OtherSide(mine)))
		case revoked:
			return status.Error(codes.FailedPrecondition, "this agreement is revoked: it can no longer be confirmed")
		case confirmed:
			return errAlreadyConfirmed
		}
		return nil
	})
	switch {
	case errors.Is(err, errAlreadyConfirmed):
	case errors.Is(err, store.ErrNotFound):
		return nil, errAgreementNotFound
	case err != nil:
		if _, ok := status.FromError(err); ok {
			return nil, err
		}
		return nil, s.storeError(ctx, err, "agreement")
	default:
		s.Log.InfoContext(ctx, "agreement confirmed", "agreement", req.GetId(), "by", c.Institution.GetCode())
	}
	return &sinergiv1.ConfirmAgreementResponse{Agreement: withStatus(s.reloaded(ctx).Agreement(req.GetId()), s.Now())}, nil
}

// RevokeAgreement revokes an agreement from now (or a later moment) on,
// and with an MoU every agreement made under it.
func (s *Agreements) RevokeAgreement(ctx context.Context, req *sinergiv1.RevokeAgreementRequest) (*sinergiv1.RevokeAgreementResponse, error) {
	now := s.Now()
	at := now
	if t := req.GetRevokeTime(); t != nil {
		switch asked := t.AsTime(); {
		case asked.Before(now.Add(-revokeSkew)):
			return nil, validate.Error("revoke_time", "must not be in the past: a revocation takes effect from when it is made, never earlier")
		case asked.After(now):
			at = asked
		}
	}
	e := audit.FromContext(ctx)
	e.AddSubjects("agreement/" + req.GetId())
	cascaded, err := s.Store.RevokeAgreement(ctx, e, req.GetId(), req.GetAccess().GetOperatorId(), at)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errAgreementNotFound
	}
	if err != nil {
		return nil, s.storeError(ctx, err, "agreement")
	}
	snap := s.reloaded(ctx)
	return &sinergiv1.RevokeAgreementResponse{Agreement: withStatus(snap.Agreement(req.GetId()), s.Now()), CascadedIds: cascaded}, nil
}
