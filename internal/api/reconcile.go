package api

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func init() {
	authz.RegisterSubject((&sinergiv1.ReconciliationItem{}).ProtoReflect().Descriptor().FullName(), authz.SubjectCustody, "record_id", "facility_code")
	validate.Register(func(r *sinergiv1.ListReconciliationItemsRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
	})
	validate.Register(func(r *sinergiv1.ResolveReconciliationItemRequest, v *validate.Violations) {
		if !store.IsReportID(r.GetId()) && !store.IsCustodyRecordID(r.GetId()) {
			v.Add("id", "required: a reconciliation item id")
		}
		custodyEnum(v, "resolution", r.GetResolution(), sinergiv1.ReconciliationResolution_name, true)
		custodyText(v, "note", r.GetNote(), custodyMaxNote, true)
	})
}

type reconciliationPosition struct {
	Time time.Time `json:"t"`
	ID   string    `json:"i"`
}

// ListReconciliationItems lists a facility's items, or those escalated to
// a regional office.
func (s *Custody) ListReconciliationItems(ctx context.Context, req *sinergiv1.ListReconciliationItemsRequest) (*sinergiv1.ListReconciliationItemsResponse, error) {
	c := caller(ctx)
	code := c.Institution.GetCode()
	f := store.ReconciliationFilter{IncludeResolved: req.GetIncludeResolved()}
	if directory.IsFacility(c.Institution.GetKind()) {
		f.Facility = code
	} else {
		f.EscalatedTo = code
	}
	query := custodyQuery("reconciliation", code, f.IncludeResolved)
	var pos reconciliationPosition
	if req.GetPageToken() != "" {
		if err := s.Tokens.Open(req.GetPageToken(), query, &pos); err != nil {
			return nil, s.badToken()
		}
	}
	size := pageSize(req.GetPageSize())
	f.AfterTime, f.AfterID, f.Limit = pos.Time, pos.ID, size+1
	items, err := s.Store.ListReconciliationItems(ctx, f)
	if err != nil {
		return nil, s.custodyError(ctx, err)
	}
	resp := &sinergiv1.ListReconciliationItemsResponse{}
	if len(items) > size {
		items = items[:size]
		last := items[size-1]
		if resp.NextPageToken, err = s.Tokens.Seal(query, reconciliationPosition{Time: last.GetOpenTime().AsTime(), ID: last.GetId()}); err != nil {
			return nil, err
		}
	}
	resp.Items = items
	return resp, nil
}

// ResolveReconciliationItem records what became of a person missing from
// the caller's full roster.
func (s *Custody) ResolveReconciliationItem(ctx context.Context, req *sinergiv1.ResolveReconciliationItemRequest) (*sinergiv1.ResolveReconciliationItemResponse, error) {
	c := caller(ctx)
	it, err := s.Store.ResolveReconciliationItem(ctx, audit.FromContext(ctx), c.Institution.GetCode(), req.GetId(), req.GetResolution(),
		strings.TrimSpace(req.GetNote()), req.GetAccess().GetOperatorId(), s.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Error(codes.NotFound, "reconciliation item not found")
	}
	if err != nil {
		return nil, s.custodyError(ctx, err)
	}
	return &sinergiv1.ResolveReconciliationItemResponse{Item: it}, nil
}
