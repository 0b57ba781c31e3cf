package api

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Institutions implements InstitutionService.
type Institutions struct {
	sinergiv1.UnimplementedInstitutionServiceServer
	*Deps
}

func init() {
	validate.Register(func(r *sinergiv1.GetInstitutionRequest, v *validate.Violations) {
		v.Check(r.GetCode() != "", "code", "required")
	})
	validate.Register(func(r *sinergiv1.ListInstitutionsRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
		if k := r.GetKind(); sinergiv1.InstitutionKind_name[int32(k)] == "" {
			v.Add("kind", "unknown kind %d", k)
		}
		if p := r.GetRegionPrefix(); p != "" && !validate.RegionCode.MatchString(p) {
			v.Add("region_prefix", "%q is not a region code such as 33 or 33.01", p)
		}
	})
	validate.Register(func(r *sinergiv1.CreateInstitutionRequest, v *validate.Violations) {
		if r.GetInstitution() == nil {
			v.Add("institution", "required")
		}
	})
	validate.Register(func(r *sinergiv1.SetInstitutionStatusRequest, v *validate.Violations) {
		v.Check(r.GetCode() != "", "code", "required")
		v.Check(r.GetStatus() == sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE || r.GetStatus() == sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED,
			"status", "must be ACTIVE or SUSPENDED")
	})
}

var errInstitutionNotFound = status.Error(codes.NotFound, "institution not found")

// GetInstitution returns one institution.
func (s *Institutions) GetInstitution(ctx context.Context, req *sinergiv1.GetInstitutionRequest) (*sinergiv1.GetInstitutionResponse, error) {
	in := caller(ctx).Directory.Institution(req.GetCode())
	if in == nil {
		return nil, errInstitutionNotFound
	}
	return &sinergiv1.GetInstitutionResponse{Institution: in}, nil
}

type codePosition struct {
	After string `json:"after"`
}

// ListInstitutions lists institutions by code.
func (s *Institutions) ListInstitutions(ctx context.Context, req *sinergiv1.ListInstitutionsRequest) (*sinergiv1.ListInstitutionsResponse, error) {
	query := fmt.Sprintf("institutions|%d|%s|%s", req.GetKind(), req.GetRegionPrefix(), req.GetParentCode())
	var pos codePosition
	if req.GetPageToken() != "" {
		if err := s.Tokens.Open(req.GetPageToken(), query, &pos); err != nil {
			return nil, s.badToken()
		}
	}
	size := pageSize(req.GetPageSize())
	resp := &sinergiv1.ListInstitutionsResponse{}
	for _, in := range caller(ctx).Directory.Institutions() {
		switch {
		case in.GetCode() <= pos.After,
			req.GetKind() != sinergiv1.InstitutionKind_INSTITUTION_KIND_UNSPECIFIED && in.GetKind() != req.GetKind(),
			req.GetRegionPrefix() != "" && (in.GetRegionCode() == "" || !directory.RegionWithin(in.GetRegionCode(), req.GetRegionPrefix())),
			req.GetParentCode() != "" && in.GetParentCode() != req.GetParentCode():
			continue
		}
		if len(resp.Institutions) == size {
			tok, err := s.Tokens.Seal(query, codePosition{After: resp.Institutions[size-1].GetCode()})
			if err != nil {
				return nil, err
			}
			resp.NextPageToken = tok
			break
		}
		resp.Institutions = append(resp.Institutions, in)
	}
	return resp, nil
}

// CreateInstitution adds an institution.
func (s *Institutions) CreateInstitution(ctx context.Context, req *sinergiv1.CreateInstitutionRequest) (*sinergiv1.CreateInstitutionResponse, error) {
	in := proto.Clone(req.GetInstitution()).(*sinergiv1.Institution)
	in.CreateTime, in.UpdateTime = nil, nil
	if in.Status == sinergiv1.InstitutionStatus_INSTITUTION_STATUS_UNSPECIFIED {
		in.Status = sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE
	}
	c := caller(ctx)
	snap := c.Directory
	var v, iv validate.Violations
	directory.CheckInstitution(in, snap.Institution, &iv)
	if directory.IsHeadquarters(in.GetKind()) {
		if hq := snap.Administrator(directory.SideOf(in.GetKind())); hq != nil {
			iv.Add("kind", "%s has its headquarters, %s: there is one per side", directory.SideName(directory.SideOf(in.GetKind())), hq.GetCode())
		}
	}
	v.Merge("institution", &iv)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := administers(c.Institution, in); err != nil {
		return nil, err
	}
	e := audit.FromContext(ctx)
	e.AddSubjects("institution/" + in.GetCode())
	if err := s.Store.CreateInstitution(ctx, e, in); err != nil {
		return nil, s.storeError(ctx, err, "institution "+in.GetCode())
	}
	return &sinergiv1.CreateInstitutionResponse{Institution: s.reloaded(ctx).Institution(in.GetCode())}, nil
}

// administers refuses an administrative act of admin on institution in of
// the other side: each side administers its own.
func administers(admin, in *sinergiv1.Institution) error {
	mine, theirs := directory.SideOf(admin.GetKind()), directory.SideOf(in.GetKind())
	if mine != theirs {
		return status.Errorf(codes.PermissionDenied, "permission denied: %s administers %s; %s is on %s",
			admin.GetCode(), directory.SideName(mine), in.GetCode(), directory.SideName(theirs))
	}
	return nil
}

// SetInstitutionStatus suspends or reactivates an institution of the caller's side.
func (s *Institutions) SetInstitutionStatus(ctx context.Context, req *sinergiv1.SetInstitutionStatusRequest) (*sinergiv1.SetInstitutionStatusResponse, error) {
	c := caller(ctx)
	if req.GetCode() == c.Institution.GetCode() && req.GetStatus() == sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED {
		return nil, status.Error(codes.FailedPrecondition, "an institution cannot suspend itself")
	}
	target := c.Directory.Institution(req.GetCode())
	if target == nil {
		return nil, errInstitutionNotFound
	}
	if err := administers(c.Institution, target); err != nil {
		return nil, err
	}
	e := audit.FromContext(ctx)
	e.AddSubjects("institution/" + req.GetCode())
	if err := s.Store.SetInstitutionStatus(ctx, e, req.GetCode(), req.GetStatus()); err != nil {
		return nil, s.storeError(ctx, err, "institution")
	}
	return &sinergiv1.SetInstitutionStatusResponse{Institution: s.reloaded(ctx).Institution(req.GetCode())}, nil
}

// reloaded reloads the directory after a write so that the next call,
// through this process, sees it; other processes hear of it by NOTIFY.
func (d *Deps) reloaded(ctx context.Context) *directory.Snapshot {
	if err := d.Directory.Reload(ctx); err != nil {
		d.Log.WarnContext(ctx, "directory reload after write failed", "error", err)
	}
	return d.Directory.Snapshot()
}
