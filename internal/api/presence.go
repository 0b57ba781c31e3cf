package api

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authn"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/presence"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func init() {
	// A request names its record once the facility is shown it; the
	// handlers name the record themselves where it is not shown.
	authz.RegisterSubject((&sinergiv1.HitRequest{}).ProtoReflect().Descriptor().FullName(), authz.SubjectHitRequest, "id", "facility_code")
	authz.RegisterSubject((&sinergiv1.HitNotice{}).ProtoReflect().Descriptor().FullName(), authz.SubjectCustody, "record_id", "facility_code")
}

// errHitRequestNotFound is the one answer for a request that does not
// exist and for one the caller is no party to.
var errHitRequestNotFound = status.Error(codes.NotFound, "hit request not found")

func purposeText(p sinergiv1.Purpose) string { return strings.TrimPrefix(p.String(), "PURPOSE_") }

// remoteHits turns the hits beyond the caller's reach into remote hits:
// each is recorded (what its reference resolves to) with a notice to its
// facility, attached to the check's audit record so that they commit with
// it before any reference is handed out (the reply waits for that commit,
// and a call that fails writes none of them); the answer says the
// province and nothing else.
func (s *Custody) remoteHits(ctx context.Context, c *authn.Caller, national *authz.Reach, ac *sinergiv1.AccessContext, found []store.Presence, resp *sinergiv1.CheckPresenceResponse) error {
	e := audit.FromContext(ctx)
	now := s.Now()
	exp := now.Add(presence.HitLifetime)
	code := c.Institution.GetCode()
	hits := make([]store.PresenceHit, 0, len(found))
	notices := make([]store.HitNoticeRow, 0, len(found))
	for _, h := range found {
		province := presence.Province(c.Directory.Institution(h.FacilityCode).GetRegionCode())
		hit := store.PresenceHit{ID: store.NewReportID(now), Requester: code, RecordID: h.RecordID, Facility: h.FacilityCode,
			Province: province, OperatorID: ac.GetOperatorId(), Purpose: purposeText(ac.GetPurpose()), CaseReference: ac.GetCaseReference(),
			HitTime: now, ExpireTime: exp}
		ref, err := presence.SealReference(s.Tokens, code, hit.ID, exp)
		if err != nil {
			return err
		}
		hits = append(hits, hit)
		notices = append(notices, store.HitNoticeRow{Audience: h.FacilityCode, Notice: &sinergiv1.HitNotice{
			Kind: sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_HIT, Time: timestamppb.New(now), FacilityCode: h.FacilityCode, RecordId: h.RecordID,
			RequesterCode: code, OperatorId: ac.GetOperatorId(), Purpose: ac.GetPurpose(), CaseReference: ac.GetCaseReference()}})
		resp.RemoteHits = append(resp.RemoteHits, &sinergiv1.RemoteHit{ProvinceCode: province, ProvinceName: presence.ProvinceName(province),
			HitReference: ref, ExpireTime: timestamppb.New(exp)})
		e.AddSubjects(store.CustodySubject(h.RecordID))
		if g, ok := national.Grant(h.FacilityCode); ok {
			e.AddAgreements(g.Agreements...)
		}
	}
	e.Attach(store.PresenceHits{Hits: hits, Notices: notices})
	return nil
}

// openHit resolves the hit reference a unit gives: sealed for it, not
// expired, and a hit it made.
func (s *Custody) openHit(ctx context.Context, unit, reference string) (store.PresenceHit, error) {
	now := s.Now()
	ref, err := presence.OpenReference(s.Tokens, unit, reference, now)
	if err != nil {
		return store.PresenceHit{}, validate.Error("hit_reference", "%s", err.Error())
	}
	hit, err := s.Store.GetPresenceHit(ctx, ref.ID)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && hit.Requester != unit):
		return hit, validate.Error("hit_reference", "%s", presence.ErrForeignReference.Error())
	case err != nil:
		return hit, s.custodyError(ctx, err)
	case !now.Before(hit.ExpireTime):
		return hit, validate.Error("hit_reference", "%s", presence.ErrExpiredReference.Error())
	}
	return hit, nil
}

// RequestHitRecord asks the holding facility to confirm a remote hit and
// release its record (NCIC YQ).
func (s *Custody) RequestHitRecord(ctx context.Context, req *sinergiv1.RequestHitRecordRequest) (*sinergiv1.RequestHitRecordResponse, error) {
	c := caller(ctx)
	e := audit.FromContext(ctx)
	code := c.Institution.GetCode()
	hit, err := s.openHit(ctx, code, req.GetHitReference())
	if err != nil {
		return nil, err
	}
	now := s.Now()
	// The release rests on an agreement for detainee data between the two,
	// in force now: without one the record is out of reach, as a missing one.
	g, ok := authz.NationalReach(c.Directory, c.Institution, sinergiv1.Scope_SCOPE_DETAINEE_DATA, now).Grant(hit.Facility)
	if !ok {
		return nil, errRecordNotFound
	}
	ac := req.GetAccess()
	r := &sinergiv1.HitRequest{Id: store.NewReportID(now), State: sinergiv1.HitRequestState_HIT_REQUEST_STATE_PENDING, Urgency: req.GetUrgency(),
		RequesterCode: code, OperatorId: ac.GetOperatorId(), Purpose: ac.GetPurpose(), CaseReference: ac.GetCaseReference(),
		Reason: strings.TrimSpace(req.GetReason()), ProvinceCode: hit.Province, FacilityCode: hit.Facility, RecordId: hit.RecordID,
		RequestTime: timestamppb.New(now), DueTime: timestamppb.New(now.Add(presence.Deadline(req.GetUrgency())))}
	e.AddSubjects(store.CustodySubject(hit.RecordID))
	e.AddAgreements(g.Agreements...)
	notices := []store.HitNoticeRow{{Audience: hit.Facility, Notice: presence.Notice(r, sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_CONFIRMATION_REQUESTED, now)}}
	out, created, err := s.Store.CreateHitRequest(ctx, e, hit.ID, r, notices)
	if err != nil {
		return nil, s.custodyError(ctx, err)
	}
	return &sinergiv1.RequestHitRecordResponse{Request: presence.ForRequester(out), Replayed: !created}, nil
}

// GetHitRequest returns a request to a party to it.
func (s *Custody) GetHitRequest(ctx context.Context, req *sinergiv1.GetHitRequestRequest) (*sinergiv1.GetHitRequestResponse, error) {
	c := caller(ctx)
	e := audit.FromContext(ctx)
	r, err := s.Store.GetHitRequest(ctx, req.GetId())
	if errors.Is(err, store.ErrNotFound) {
		return nil, errHitRequestNotFound
	}
	if err != nil {
		return nil, s.custodyError(ctx, err)
	}
	role := presence.RoleOf(r, c.Institution.GetCode())
	if role == presence.Stranger {
		return nil, errHitRequestNotFound
	}
	e.AddSubjects(authz.SubjectHitRequest+"/"+r.GetId(), store.CustodySubject(r.GetRecordId()))
	if role != presence.Requester {
		return &sinergiv1.GetHitRequestResponse{Request: r}, nil
	}
	out := presence.ForRequester(r)
	if r.GetState() == sinergiv1.HitRequestState_HIT_REQUEST_STATE_CONFIRMED {
		// Released: the record as the agreements for detainee data between
		// the two show it now (none in force: the record is not given).
		national := authz.NationalReach(c.Directory, c.Institution, sinergiv1.Scope_SCOPE_DETAINEE_DATA, s.Now())
		if g, ok := national.Grant(r.GetFacilityCode()); ok {
			rec, err := s.Store.GetCustodyRecord(ctx, national.Restriction(), r.GetRecordId())
			switch {
			case err == nil:
				out.Record = present(rec, g)
				e.AddAgreements(g.Agreements...)
			case !errors.Is(err, store.ErrNotFound):
				return nil, s.custodyError(ctx, err)
			}
		}
	}
	return &sinergiv1.GetHitRequestResponse{Request: out}, nil
}

// AnswerHitRequest is the holding facility's answer, or its regional
// office's once escalated (NCIC YR).
func (s *Custody) AnswerHitRequest(ctx context.Context, req *sinergiv1.AnswerHitRequestRequest) (*sinergiv1.AnswerHitRequestResponse, error) {
	c := caller(ctx)
	e := audit.FromContext(ctx)
	code := c.Institution.GetCode()
	now := s.Now()
	out, err := s.Store.UpdateHitRequest(ctx, nil, e, req.GetId(), func(r *sinergiv1.HitRequest) ([]store.HitNoticeRow, error) {
		role := presence.RoleOf(r, code)
		if !presence.MayAnswer(role) {
			return nil, errHitRequestNotFound
		}
		if r.GetState() != sinergiv1.HitRequestState_HIT_REQUEST_STATE_PENDING {
			return nil, status.Errorf(codes.FailedPrecondition, "the request was already answered: %s by %s at %s",
				presence.StateWord(r.GetState()), r.GetAnsweredByCode(), r.GetAnswerTime().AsTime().Format("2006-01-02 15:04:05Z07:00"))
		}
		r.State = sinergiv1.HitRequestState_HIT_REQUEST_STATE_DENIED
		if req.GetAnswer() == sinergiv1.HitAnswer_HIT_ANSWER_CONFIRM {
			r.State = sinergiv1.HitRequestState_HIT_REQUEST_STATE_CONFIRMED
		}
		r.AnswerTime, r.AnsweredByCode, r.AnswerOperatorId = timestamppb.New(now), code, req.GetAccess().GetOperatorId()
		r.DenyReason = strings.TrimSpace(req.GetDenyReason())
		e.AddSubjects(authz.SubjectHitRequest+"/"+r.GetId(), store.CustodySubject(r.GetRecordId()))
		return presence.AnswerNotices(r, role, now), nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errHitRequestNotFound
	}
	if err != nil {
		return nil, s.custodyError(ctx, err)
	}
	return &sinergiv1.AnswerHitRequestResponse{Request: out}, nil
}
