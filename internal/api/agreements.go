package api

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/directory"
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
		return nil, status.Error(codes.NotFound, "agreement not found")
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

// CreateAgreement registers an agreement.
func (s *Agreements) CreateAgreement(ctx context.Context, req *sinergiv1.CreateAgreementRequest) (*sinergiv1.CreateAgreementResponse, error) {
	a := proto.Clone(req.GetAgreement()).(*sinergiv1.Agreement)
	a.Status = sinergiv1.AgreementStatus_AGREEMENT_STATUS_UNSPECIFIED
	snap := caller(ctx).Directory
	var v, av validate.Violations
	directory.CheckAgreement(a, snap.Institution, func(id string) bool { return snap.Agreement(id) != nil }, &av)
	v.Merge("agreement", &av)
	if err := v.Err(); err != nil {
		return nil, err
	}
	e := audit.FromContext(ctx)
	e.AddSubjects("agreement/" + a.GetId())
	if err := s.Store.CreateAgreement(ctx, e, a); err != nil {
		return nil, s.storeError(ctx, err, "agreement "+a.GetId())
	}
	return &sinergiv1.CreateAgreementResponse{Agreement: withStatus(s.reloaded(ctx).Agreement(a.GetId()), s.Now())}, nil
}

// RevokeAgreement revokes an agreement from a moment on.
func (s *Agreements) RevokeAgreement(ctx context.Context, req *sinergiv1.RevokeAgreementRequest) (*sinergiv1.RevokeAgreementResponse, error) {
	at := s.Now()
	if req.GetRevokeTime() != nil {
		at = req.GetRevokeTime().AsTime()
	}
	e := audit.FromContext(ctx)
	e.AddSubjects("agreement/" + req.GetId())
	if err := s.Store.RevokeAgreement(ctx, e, req.GetId(), at); err != nil {
		return nil, s.storeError(ctx, err, "agreement")
	}
	return &sinergiv1.RevokeAgreementResponse{Agreement: withStatus(s.reloaded(ctx).Agreement(req.GetId()), s.Now())}, nil
}
