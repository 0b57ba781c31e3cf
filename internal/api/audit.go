package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authn"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/nik"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Audit implements AuditService.
type Audit struct {
	sinergiv1.UnimplementedAuditServiceServer
	*Deps
}

func checkSubject(v *validate.Violations, field, s string, required bool) {
	switch {
	case s == "" && required:
		v.Add(field, "required, as kind/id (e.g. custody/7f3c…)")
	case s != "" && (!strings.Contains(s, "/") || len(s) > 200):
		v.Add(field, "must be kind/id (e.g. custody/7f3c…)")
	}
}

func init() {
	validate.Register(func(r *sinergiv1.ListAuditRecordsRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
		checkSubject(v, "subject", r.GetSubject(), false)
		if d := r.GetDecision(); sinergiv1.Decision_name[int32(d)] == "" {
			v.Add("decision", "unknown decision %d", d)
		}
		if r.GetStartTime() != nil && r.GetEndTime() != nil && !r.GetEndTime().AsTime().After(r.GetStartTime().AsTime()) {
			v.Add("end_time", "must be after start_time")
		}
	})
	validate.Register(func(r *sinergiv1.ListSubjectAccessRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
		switch {
		case r.GetSubject() != "" && r.GetNik() != "":
			v.Add("nik", "give subject or nik, not both")
		case r.GetNik() != "":
			if _, err := nik.Parse(r.GetNik()); err != nil {
				v.Add("nik", "%v", err)
			}
		default:
			checkSubject(v, "subject", r.GetSubject(), true)
		}
	})
	validate.Register(func(*sinergiv1.GetCheckpointRequest, *validate.Violations) {})
}

type auditPosition struct {
	At int64 `json:"t"`
	ID int64 `json:"i"`
}

// list reads one page of audit records matching f, newest first: the
// page the token (made for query) points at, and the next page's token.
func (s *Audit) list(ctx context.Context, query, token string, size int32, f store.AuditFilter) ([]*store.AuditRecord, string, error) {
	if token != "" {
		var pos auditPosition
		if err := s.Tokens.Open(token, query, &pos); err != nil {
			return nil, "", s.badToken()
		}
		f.BeforeAt, f.BeforeID = time.UnixMicro(pos.At), pos.ID
	}
	n := pageSize(size)
	f.Limit = n + 1
	recs, err := s.Store.ListAudit(ctx, f)
	if err != nil {
		return nil, "", s.storeError(ctx, err, "audit records")
	}
	if len(recs) <= n {
		return recs, "", nil
	}
	last := recs[n-1]
	tok, err := s.Tokens.Seal(query, auditPosition{At: last.At.UnixMicro(), ID: last.ID})
	return recs[:n], tok, err
}

func enumOf(values map[string]int32, prefix, text string) int32 { return values[prefix+text] }

// sideCallers lists the codes of the institutions on caller's side, and ""
// (records of no institution): oversight reads its own side's calls, never
// the other's, which would tell it where the other side holds what.
func sideCallers(c *authn.Caller) []string {
	side := directory.SideOf(c.Institution.GetKind())
	out := []string{""}
	for _, in := range c.Directory.Institutions() {
		if directory.SideOf(in.GetKind()) == side {
			out = append(out, in.GetCode())
		}
	}
	return out
}

// ListAuditRecords lists audit records of the caller's side, newest first.
func (s *Audit) ListAuditRecords(ctx context.Context, req *sinergiv1.ListAuditRecordsRequest) (*sinergiv1.ListAuditRecordsResponse, error) {
	f := store.AuditFilter{CallerCode: req.GetCallerCode(), OperatorID: req.GetOperatorId(), Subject: req.GetSubject(), Method: req.GetMethod(),
		CallerIn: sideCallers(caller(ctx))}
	if d := req.GetDecision(); d != sinergiv1.Decision_DECISION_UNSPECIFIED {
		f.Decision = strings.TrimPrefix(d.String(), "DECISION_")
	}
	if req.GetStartTime() != nil {
		f.Start = req.GetStartTime().AsTime()
	}
	if req.GetEndTime() != nil {
		f.End = req.GetEndTime().AsTime()
	}
	query := fmt.Sprintf("audit|%s|%s|%s|%s|%s|%s|%d|%d", caller(ctx).Institution.GetCode(), f.CallerCode, f.OperatorID, f.Subject, f.Method, f.Decision, f.Start.UnixMicro(), f.End.UnixMicro())
	recs, tok, err := s.list(ctx, query, req.GetPageToken(), req.GetPageSize(), f)
	if err != nil {
		return nil, err
	}
	resp := &sinergiv1.ListAuditRecordsResponse{NextPageToken: tok}
	for _, r := range recs {
		resp.Records = append(resp.Records, &sinergiv1.AuditRecord{
			Sequence: r.Seq, Id: r.ID, Time: timestamppb.New(r.At), RequestId: r.RequestID, CallerCode: r.CallerCode,
			CertificateSerial: r.CertificateSerial, OperatorId: r.OperatorID, Method: r.Method,
			Purpose:       sinergiv1.Purpose(enumOf(sinergiv1.Purpose_value, "PURPOSE_", r.Purpose)),
			CaseReference: r.CaseReference,
			Decision:      sinergiv1.Decision(enumOf(sinergiv1.Decision_value, "DECISION_", r.Decision)),
			Reason:        r.Reason, AgreementIds: r.AgreementIDs, StatusCode: r.StatusCode, Subjects: r.Subjects,
			LatencyMicros: r.LatencyMicros, ChainHash: hex.EncodeToString(r.Hash),
		})
	}
	return resp, nil
}

// ListSubjectAccess lists the disclosures of one subject's data: allowed
// calls that returned or changed it. A NIK, a custody record or a report
// names only what the caller could find itself (its reach): one outside it
// answers exactly as one that does not exist, with nothing, so the question
// tells nobody where or whether a person is held.
func (s *Audit) ListSubjectAccess(ctx context.Context, req *sinergiv1.ListSubjectAccessRequest) (*sinergiv1.ListSubjectAccessResponse, error) {
	rs, err := authz.ReachesFrom(ctx)
	if err != nil {
		return nil, err
	}
	e := audit.FromContext(ctx)
	f := store.AuditFilter{Subject: req.GetSubject(), Decision: "ALLOWED"}
	query := "subject-access|" + f.Subject
	custody := rs.Custody()
	if n := req.GetNik(); n != "" {
		subjects, facilities, err := s.Store.CustodySubjectsByNIK(ctx, custody, n)
		if err != nil {
			return nil, s.storeError(ctx, err, "custody records")
		}
		if len(subjects) == 0 {
			return &sinergiv1.ListSubjectAccessResponse{}, nil
		}
		// The answer is about these records: they are this call's subjects.
		e.AddSubjects(subjects...)
		for _, fc := range facilities {
			e.AddAgreements(rs.Agreements(fc, sinergiv1.Scope_SCOPE_DETAINEE_DATA)...)
		}
		f.AnySubject = subjects
		// The token is tied to the NIK without carrying it.
		sum := sha256.Sum256([]byte(n))
		query = "subject-access-nik|" + hex.EncodeToString(sum[:8])
	} else {
		kind, id, _ := strings.Cut(req.GetSubject(), "/")
		switch kind {
		case authz.SubjectCustody:
			fc, err := s.Store.CustodyRecordFacility(ctx, custody, id)
			if errors.Is(err, store.ErrNotFound) {
				return &sinergiv1.ListSubjectAccessResponse{}, nil
			}
			if err != nil {
				return nil, s.storeError(ctx, err, "custody record")
			}
			e.AddSubjects(req.GetSubject())
			e.AddAgreements(rs.Agreements(fc, sinergiv1.Scope_SCOPE_DETAINEE_DATA)...)
		case authz.SubjectReport:
			ok, err := s.Store.ReportAdmitted(ctx, rs.Reports(), id)
			if err != nil {
				return nil, s.storeError(ctx, err, "report")
			}
			if !ok {
				return &sinergiv1.ListSubjectAccessResponse{}, nil
			}
			e.AddSubjects(req.GetSubject())
		}
	}
	recs, tok, err := s.list(ctx, query, req.GetPageToken(), req.GetPageSize(), f)
	if err != nil {
		return nil, err
	}
	resp := &sinergiv1.ListSubjectAccessResponse{NextPageToken: tok}
	for _, r := range recs {
		resp.Accesses = append(resp.Accesses, &sinergiv1.SubjectAccess{
			Time: timestamppb.New(r.At), CallerCode: r.CallerCode, OperatorId: r.OperatorID, Method: r.Method,
			Purpose:       sinergiv1.Purpose(enumOf(sinergiv1.Purpose_value, "PURPOSE_", r.Purpose)),
			CaseReference: r.CaseReference, AgreementIds: r.AgreementIDs,
		})
	}
	return resp, nil
}

// GetCheckpoint returns the newest signed checkpoint.
func (s *Audit) GetCheckpoint(ctx context.Context, _ *sinergiv1.GetCheckpointRequest) (*sinergiv1.GetCheckpointResponse, error) {
	c, err := s.Store.LatestCheckpoint(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Error(codes.NotFound, "no checkpoint yet")
	}
	if err != nil {
		return nil, s.storeError(ctx, err, "checkpoint")
	}
	return &sinergiv1.GetCheckpointResponse{Checkpoint: &sinergiv1.Checkpoint{
		Sequence: c.Seq, HeadHash: hex.EncodeToString(c.HeadHash), Time: timestamppb.New(c.At),
		Signature: c.Signature, PublicKey: hex.EncodeToString(c.PublicKey),
	}}, nil
}
