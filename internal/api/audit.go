package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"

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
	validate.Register(func(r *sinergiv1.GetInclusionProofRequest, v *validate.Violations) {
		v.Check(r.GetRecordId() > 0, "record_id", "required: an audit record's id")
		v.Check(r.GetTreeSize() >= 0, "tree_size", "must not be negative (0: the newest checkpoint)")
	})
	validate.Register(func(r *sinergiv1.GetConsistencyProofRequest, v *validate.Violations) {
		v.Check(r.GetFirstTreeSize() >= 0, "first_tree_size", "must not be negative")
		v.Check(r.GetSecondTreeSize() >= 0, "second_tree_size", "must not be negative (0: the newest checkpoint)")
		if r.GetSecondTreeSize() > 0 && r.GetFirstTreeSize() > r.GetSecondTreeSize() {
			v.Add("first_tree_size", "must not be larger than second_tree_size")
		}
	})
	validate.Register(func(r *sinergiv1.AddCosignatureRequest, v *validate.Violations) {
		v.Check(r.GetNote() != "", "note", "required: the checkpoint note with the log's signature and yours")
		v.Check(len(r.GetNote()) <= maxNote, "note", "at most %d bytes", maxNote)
	})
}

// maxNote bounds a cosigned checkpoint note: three lines and a few signatures.
const maxNote = 4096

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
	tok := ""
	if len(recs) > n {
		last := recs[n-1]
		if tok, err = s.Tokens.Seal(query, auditPosition{At: last.At.UnixMicro(), ID: last.ID}); err != nil {
			return nil, "", err
		}
		recs = recs[:n]
	}
	// A record whose MAC is not the server's was not written by it: it is
	// not shown as if it were (`sinergi audit verify` names it).
	kept := recs[:0]
	for _, r := range recs {
		if len(r.MAC) == 0 || s.AuditLog.Keys().Authentic(r) {
			kept = append(kept, r)
			continue
		}
		s.Log.ErrorContext(ctx, "audit record with a MAC that does not verify: written outside the server's write path", "record_id", r.ID)
	}
	return kept, tok, nil
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

// readsRecord reports whether c may read record r: its own call's, or, for
// oversight, a call of its own side (sideCallers).
func readsRecord(c *authn.Caller, r *store.AuditRecord) bool {
	if r.CallerCode == c.Institution.GetCode() {
		return true
	}
	switch c.Institution.GetKind() {
	case sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY, sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES:
	default:
		return false
	}
	if r.CallerCode == "" {
		return true
	}
	in := c.Directory.Institution(r.CallerCode)
	return in != nil && directory.SideOf(in.GetKind()) == directory.SideOf(c.Institution.GetKind())
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
		resp.Records = append(resp.Records, auditRecordOf(r))
	}
	return resp, nil
}

// auditRecordOf is a record as the API shows it, with its leaf.
func auditRecordOf(r *store.AuditRecord) *sinergiv1.AuditRecord {
	leaf := audit.LeafBytes(r, true)
	out := &sinergiv1.AuditRecord{
		Id: r.ID, Time: timestamppb.New(r.At), RequestId: r.RequestID, CallerCode: r.CallerCode,
		CertificateSerial: r.CertificateSerial, OperatorId: r.OperatorID, Method: r.Method,
		Purpose:       sinergiv1.Purpose(enumOf(sinergiv1.Purpose_value, "PURPOSE_", r.Purpose)),
		CaseReference: r.CaseReference,
		Decision:      sinergiv1.Decision(enumOf(sinergiv1.Decision_value, "DECISION_", r.Decision)),
		Reason:        r.Reason, AgreementIds: r.AgreementIDs, StatusCode: r.StatusCode, Subjects: r.Subjects,
		LatencyMicros: r.LatencyMicros, ChainHash: hex.EncodeToString(audit.LeafHash(leaf)), Leaf: leaf,
	}
	if r.LeafIndex >= 0 {
		out.Sequence, out.LeafIndex = r.LeafIndex+1, proto.Int64(r.LeafIndex)
	}
	return out
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
		case authz.SubjectVisit:
			// A visit is its facility's data, read as a custody record is.
			fc, err := s.Store.VisitFacility(ctx, custody, id)
			if errors.Is(err, store.ErrNotFound) {
				return &sinergiv1.ListSubjectAccessResponse{}, nil
			}
			if err != nil {
				return nil, s.storeError(ctx, err, "visit")
			}
			e.AddSubjects(req.GetSubject())
			e.AddAgreements(rs.Agreements(fc, sinergiv1.Scope_SCOPE_DETAINEE_DATA)...)
		case authz.SubjectScreening, authz.SubjectPerson, authz.SubjectScreeningEntry:
			// A screening's two parties are recorded apart (the facility's
			// call, each owning unit's referral) so that neither side's
			// oversight learns the other's part: the corrections side
			// would learn whose list a visitor is on. Each reads its own
			// side's records only.
			f.CallerIn = sideCallers(caller(ctx))
			query += "|" + directory.SideOf(caller(ctx).Institution.GetKind()).String()
		}
	}
	recs, tok, err := s.list(ctx, query, req.GetPageToken(), req.GetPageSize(), f)
	if err != nil {
		return nil, err
	}
	resp := &sinergiv1.ListSubjectAccessResponse{NextPageToken: tok}
	for _, r := range recs {
		a := &sinergiv1.SubjectAccess{
			Time: timestamppb.New(r.At), CallerCode: r.CallerCode, OperatorId: r.OperatorID, Method: r.Method,
			Purpose:       sinergiv1.Purpose(enumOf(sinergiv1.Purpose_value, "PURPOSE_", r.Purpose)),
			CaseReference: r.CaseReference, AgreementIds: r.AgreementIDs,
			RecordId: r.ID, Leaf: audit.LeafBytes(r, true),
		}
		if r.LeafIndex >= 0 {
			a.LeafIndex = proto.Int64(r.LeafIndex)
		}
		resp.Accesses = append(resp.Accesses, a)
	}
	return resp, nil
}

// GetCheckpoint returns the newest signed checkpoint, and the newest one
// witnesses cosigned.
func (s *Audit) GetCheckpoint(ctx context.Context, _ *sinergiv1.GetCheckpointRequest) (*sinergiv1.GetCheckpointResponse, error) {
	latest, err := s.AuditLog.Latest(ctx)
	if err != nil {
		return nil, s.logError(ctx, err)
	}
	resp := &sinergiv1.GetCheckpointResponse{Checkpoint: s.checkpointOf(latest.Note, latest.At, nil)}
	text, cosigs, ok, err := s.AuditLog.Witnessed(ctx)
	if err != nil {
		return nil, s.logError(ctx, err)
	}
	if ok {
		resp.Witnessed = s.checkpointOf(text, cosigs[0].At, cosigs)
	}
	return resp, nil
}

// checkpointOf is a checkpoint note as the API shows it.
func (s *Audit) checkpointOf(text string, at time.Time, cosigs []store.Cosignature) *sinergiv1.Checkpoint {
	keys := s.AuditLog.Keys()
	out := &sinergiv1.Checkpoint{Note: text, Time: timestamppb.New(at), Origin: keys.Origin(), VerifierKey: keys.VerifierKey(),
		PublicKey: hex.EncodeToString(keys.PublicKey())}
	c, n, err := audit.OpenCheckpoint([]byte(text), keys.Verifier())
	if err != nil {
		return out
	}
	out.TreeSize, out.Sequence, out.RootHash, out.HeadHash = int64(c.Size), int64(c.Size), c.Root, hex.EncodeToString(c.Root)
	for _, sig := range n.Sigs {
		if raw, err := base64.StdEncoding.DecodeString(sig.Base64); err == nil && len(raw) > 4 && sig.Name == keys.Origin() {
			out.Signature = raw[4:]
		}
	}
	names := map[string]string{}
	if ws, err := s.Store.Reader().Witnesses(context.Background()); err == nil {
		for _, w := range ws {
			names[w.InstitutionCode] = w.Name
		}
	}
	for _, cs := range cosigs {
		o := &sinergiv1.Cosignature{WitnessCode: cs.WitnessCode, WitnessName: names[cs.WitnessCode], TreeSize: cs.TreeSize}
		if wn, err := note.Open([]byte(cs.Note), note.VerifierList(keys.Verifier())); err == nil {
			for _, sig := range wn.UnverifiedSigs {
				if sig.Name == names[cs.WitnessCode] {
					if t, err := audit.CosignatureTime(sig); err == nil {
						o.Time = timestamppb.New(t)
					}
				}
			}
		}
		out.Cosignatures = append(out.Cosignatures, o)
	}
	return out
}

// logError is the status of an audit log error.
func (s *Audit) logError(ctx context.Context, err error) error {
	var inv *audit.ErrInvalid
	switch {
	case errors.Is(err, audit.ErrNoCheckpoint):
		return status.Error(codes.FailedPrecondition, "the audit log has no checkpoint yet: retry in a moment")
	case errors.As(err, &inv):
		return validate.Error(inv.Field, "%s", inv.Msg)
	case errors.Is(err, audit.ErrNotWitness):
		return status.Error(codes.PermissionDenied, "permission denied: the caller is not registered as a witness of this log")
	}
	return s.storeError(ctx, err, "audit log")
}

// GetInclusionProof proves that one record is in the log. The proof (its
// position and hashes) is anyone's who holds the record's leaf, from a
// listing; the record and its leaf come with it only for the caller's own
// calls, and for oversight those of its own side (as ListAuditRecords).
func (s *Audit) GetInclusionProof(ctx context.Context, req *sinergiv1.GetInclusionProofRequest) (*sinergiv1.GetInclusionProofResponse, error) {
	p, err := s.AuditLog.Inclusion(ctx, req.GetRecordId(), req.GetTreeSize())
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Error(codes.NotFound, "audit record not found in the log (it may not be integrated yet)")
	}
	if err != nil {
		return nil, s.logError(ctx, err)
	}
	resp := &sinergiv1.GetInclusionProofResponse{LeafIndex: int64(p.Index), TreeSize: int64(p.TreeSize), Hashes: p.Hashes}
	if readsRecord(caller(ctx), p.Record) {
		resp.Leaf, resp.Record = p.Leaf, auditRecordOf(p.Record)
	}
	if p.Checkpoint != nil {
		resp.Checkpoint = s.checkpointOf(p.Checkpoint.Note, p.Checkpoint.At, nil)
	}
	return resp, nil
}

// GetConsistencyProof proves that the log at one size extends the log at
// a smaller one.
func (s *Audit) GetConsistencyProof(ctx context.Context, req *sinergiv1.GetConsistencyProofRequest) (*sinergiv1.GetConsistencyProofResponse, error) {
	n2, hashes, latest, err := s.AuditLog.Consistency(ctx, req.GetFirstTreeSize(), req.GetSecondTreeSize())
	if err != nil {
		return nil, s.logError(ctx, err)
	}
	resp := &sinergiv1.GetConsistencyProofResponse{FirstTreeSize: req.GetFirstTreeSize(), SecondTreeSize: int64(n2), Hashes: hashes}
	if latest != nil {
		resp.Checkpoint = s.checkpointOf(latest.Note, latest.At, nil)
	}
	return resp, nil
}

// AddCosignature keeps a registered witness's cosignature.
func (s *Audit) AddCosignature(ctx context.Context, req *sinergiv1.AddCosignatureRequest) (*sinergiv1.AddCosignatureResponse, error) {
	c := caller(ctx)
	cs, err := s.AuditLog.AddCosignature(ctx, c.Institution.GetCode(), []byte(req.GetNote()))
	if err != nil {
		return nil, s.logError(ctx, err)
	}
	out := s.checkpointOf(cs.Note, time.Now(), []store.Cosignature{*cs})
	return &sinergiv1.AddCosignatureResponse{Cosignature: out.GetCosignatures()[0]}, nil
}
