package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/reports"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Reports implements ReportService.
type Reports struct {
	sinergiv1.UnimplementedReportServiceServer
	*Deps
}

// reportClockSkew is how far in the future a facility's clock may put the time
// an event occurred before the report is refused.
const reportClockSkew = 5 * time.Minute

// errReportNotFound is the one answer for a report that does not exist and
// for one the caller may not see: nobody can probe which reports exist.
var errReportNotFound = status.Error(codes.NotFound, "report not found")

// reportCall is a report call's reaches and the one restriction its
// queries take (authz.Reaches.Reports).
func reportCall(ctx context.Context) (authz.Reaches, *restrict.Restriction, error) {
	rs, err := authz.ReachesFrom(ctx)
	if err != nil {
		return rs, nil, err
	}
	return rs, rs.Reports(), nil
}

// reportView is a report as the caller may see it: routing misses are the
// business of the filing facility and those who oversee it only; a unit
// that received it by an emergency override alone gets what the emergency
// needs (what, where, when), not who is involved, what was seized or what
// is attached.
func reportView(r *sinergiv1.Report, rs authz.Reaches) *sinergiv1.Report {
	if r != nil && !rs.Owns(r.GetFacilityCode()) {
		r.RoutingMisses = nil
	}
	if r != nil && reports.Overridden(r, rs.CallerCode()) {
		if _, granted := rs.Grant(r.GetFacilityCode(), reports.ScopeOf(r.GetKind())); !granted {
			r.People, r.Items, r.Attachments = nil, nil, nil
		}
	}
	return r
}

// reportWriteHook commits the call's audit record with a report write, naming the
// report and the agreements behind the caller's access only once the write
// is certain to happen (an idempotent replay or a change refused writes no
// record in the transaction: the interceptor records the call instead).
type reportWriteHook struct {
	e          *audit.Entry
	subject    func() string
	agreements func() []string
}

func (h reportWriteHook) WriteTx(ctx context.Context, tx pgx.Tx) error {
	h.e.AddSubjects(h.subject())
	if h.agreements != nil {
		h.e.AddAgreements(h.agreements()...)
	}
	return h.e.WriteTx(ctx, tx)
}

// reportError maps an error of a report write or read.
func (s *Reports) reportError(ctx context.Context, err error) error {
	var rule *reports.RuleError
	switch {
	case errors.As(err, &rule):
		return status.Error(codes.FailedPrecondition, rule.Msg)
	case errors.Is(err, store.ErrNotFound):
		return errReportNotFound
	}
	return s.storeError(ctx, err, "report")
}

// reportContentHash identifies a submission's content: the deterministic
// encoding of the request without its idempotency key. A retry by the same
// client software encodes identically; a retry after a server upgrade that
// changed the encoding of the same fields would read as other content
// (ALREADY_EXISTS), which errs on the safe side.
func reportContentHash(req *sinergiv1.SubmitReportRequest) ([]byte, error) {
	c := proto.Clone(req).(*sinergiv1.SubmitReportRequest)
	c.IdempotencyKey = ""
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// SubmitReport files a report and routes it.
func (s *Reports) SubmitReport(ctx context.Context, req *sinergiv1.SubmitReportRequest) (*sinergiv1.SubmitReportResponse, error) {
	c := caller(ctx)
	// PostgreSQL keeps microseconds: the answer built here must read back
	// exactly as the stored report does.
	now := s.Now().Truncate(time.Microsecond)
	if req.GetOccurTime().AsTime().After(now.Add(reportClockSkew)) {
		return nil, validate.Error("occur_time", "is in the future")
	}
	hash, err := reportContentHash(req)
	if err != nil {
		return nil, status.Error(codes.Internal, "internal error")
	}
	rs, err := authz.ReachesFrom(ctx)
	if err != nil {
		return nil, err
	}
	facility := c.Institution
	var routing reports.Routing
	var observers []string
	if directory.SideOf(c.Institution.GetKind()) == sinergiv1.Side_SIDE_POLRI {
		f, w, err := s.routeWarning(c.Directory, rs, req, now)
		if err != nil {
			return nil, err
		}
		facility, routing.Recipients, observers = f, w.Recipients, w.Observers
	} else {
		if code := req.GetFacilityCode(); code != "" && code != facility.GetCode() {
			return nil, validate.Error("facility_code", "a facility files its own reports: leave it empty (police units name the facility they warn)")
		}
		if err := s.checkLinks(ctx, rs, req.GetPeople()); err != nil {
			return nil, err
		}
		routing = reports.Route(c.Directory, facility, req.GetKind(), req.GetSeverity(), now)
		if req.GetEmergencyJustification() != "" {
			routing = reports.Override(c.Directory, facility, routing, req.GetSeverity(), now)
		}
		if len(routing.Misses) > 0 {
			// A unit the report could not reach alerts the facility's
			// regional office, which observes the report from now on.
			if k := reports.KanwilOf(c.Directory, facility); k != nil {
				observers = []string{k.GetCode()}
			}
		}
	}
	rep := &sinergiv1.Report{
		Id: store.NewReportID(now), FacilityCode: facility.GetCode(), Kind: req.GetKind(), Type: req.GetType(),
		Severity: req.GetSeverity(), Classification: req.GetClassification(),
		OccurTime: timestamppb.New(req.GetOccurTime().AsTime().Truncate(time.Microsecond)),
		Place:     req.GetPlace(), Narrative: req.GetNarrative(), People: req.GetPeople(), Items: req.GetItems(),
		OperatorId: req.GetAccess().GetOperatorId(), SubmitTime: timestamppb.New(now),
		Status: sinergiv1.ReportStatus_REPORT_STATUS_SUBMITTED, Recipients: routing.Recipients, RoutingMisses: routing.Misses,
		AuthorCode: c.Institution.GetCode(), ObserverCodes: observers, EmergencyJustification: req.GetEmergencyJustification(),
	}
	for i, a := range req.GetAttachments() {
		sum := strings.ToLower(a.GetSha256())
		if sum == "" {
			d := sha256.Sum256(a.GetContent())
			sum = hex.EncodeToString(d[:])
		}
		rep.Attachments = append(rep.Attachments, &sinergiv1.ReportAttachment{Number: int32(i + 1), Filename: a.GetFilename(),
			MediaType: a.GetMediaType(), Sha256: sum, Content: a.GetContent()})
	}
	e := audit.FromContext(ctx)
	hook := reportWriteHook{e: e, subject: func() string { return "report/" + rep.GetId() }, agreements: func() []string {
		// The disclosure: the agreements behind each recipient.
		var ids []string
		for _, r := range routing.Recipients {
			ids = append(ids, r.GetAgreementIds()...)
		}
		return ids
	}}
	id, replayed, err := s.Store.CreateReport(ctx, hook, rep, reports.ScopeOf(req.GetKind()), req.GetIdempotencyKey(), hash)
	if errors.Is(err, store.ErrConflict) {
		return nil, status.Error(codes.AlreadyExists, "idempotency_key was used for a submission with other content: choose a new key for a new report")
	}
	if err != nil {
		return nil, s.reportError(ctx, err)
	}
	if replayed {
		// The report filed by the first attempt, as it stands now.
		got, err := s.Store.GetReport(ctx, rs.Reports(), id)
		if err != nil {
			return nil, s.reportError(ctx, err)
		}
		return &sinergiv1.SubmitReportResponse{Report: got, Replayed: true}, nil
	}
	s.Log.InfoContext(ctx, "report filed", "report_id", id, "facility", facility.GetCode(), "author", c.Institution.GetCode(),
		"kind", req.GetKind().String(), "severity", req.GetSeverity().String(), "recipients", len(routing.Recipients),
		"routing_misses", len(routing.Misses), "emergency_override", req.GetEmergencyJustification() != "")
	// The report as stored, without reading it back: the attachments
	// without their content, and its first event.
	for _, a := range rep.Attachments {
		a.SizeBytes, a.Content = int64(len(a.GetContent())), nil
	}
	rep.Events = []*sinergiv1.ReportEvent{{ReportId: id, Number: 1, Kind: sinergiv1.ReportEventKind_REPORT_EVENT_KIND_SUBMITTED,
		Time: rep.GetSubmitTime(), ActorCode: c.Institution.GetCode(), OperatorId: rep.GetOperatorId(), Status: rep.GetStatus()}}
	return &sinergiv1.SubmitReportResponse{Report: rep}, nil
}

// routeWarning is a police unit's warning to the facility req names: the
// facility, which must be in the unit's reach for the kind's scope now (the
// agreements in force that let it read the facility's reports let it warn
// the facility), and the warning's delivery. A warning names people as
// outsiders only: custody records are the facility's to link.
func (s *Reports) routeWarning(dir *directory.Snapshot, rs authz.Reaches, req *sinergiv1.SubmitReportRequest, now time.Time) (*sinergiv1.Institution, reports.Warning, error) {
	var v validate.Violations
	if req.GetEmergencyJustification() != "" {
		v.Add("emergency_justification", "the emergency override is the facility's: a police warning leaves it empty")
	}
	if !reports.PoliceMayWarn(req.GetKind()) {
		v.Add("kind", "police units send facilities narcotics or threat intelligence (REPORT_KIND_NARCOTICS, REPORT_KIND_THREAT)")
	}
	code := req.GetFacilityCode()
	f := dir.Institution(code)
	switch {
	case code == "":
		v.Add("facility_code", "required: the facility this warning is for")
	case f == nil || !directory.IsFacility(f.GetKind()):
		v.Add("facility_code", "not a facility of the directory")
	}
	for i, p := range req.GetPeople() {
		if p.GetCustodyRecordId() != "" {
			v.Add(fmt.Sprintf("people[%d].custody_record_id", i), "a police warning names people as outsiders (name, NIK, phone): the facility links its own records")
		}
	}
	if err := v.Err(); err != nil {
		return nil, reports.Warning{}, err
	}
	scope := reports.ScopeOf(req.GetKind())
	g, ok := rs.Grant(code, scope)
	if !ok || g.Own || len(g.Agreements) == 0 {
		return nil, reports.Warning{}, status.Errorf(codes.FailedPrecondition,
			"no agreement in force lets you send %s to %s (see AgreementService.CheckCoverage)", scopeWord(scope), code)
	}
	return f, reports.RouteWarning(dir, f, g.Agreements, req.GetSeverity(), now), nil
}

// scopeWord names a scope as the CLI and the README do.
func scopeWord(sc sinergiv1.Scope) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(sc.String(), "SCOPE_")), "_", "-")
}

// checkLinks refuses people linked to custody records the filing facility
// may not see (another facility's, or none at all), naming each field with
// the one answer for both: a report link tells nothing of where anyone is.
func (s *Reports) checkLinks(ctx context.Context, rs authz.Reaches, people []*sinergiv1.ReportPerson) error {
	var ids []string
	for _, p := range people {
		if id := p.GetCustodyRecordId(); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	seen, err := s.Store.CustodyRecordsAdmitted(ctx, rs.Custody(), ids)
	if err != nil {
		return s.reportError(ctx, err)
	}
	var v validate.Violations
	for i, p := range people {
		if id := p.GetCustodyRecordId(); id != "" && !seen[id] {
			v.Add(fmt.Sprintf("people[%d].custody_record_id", i), "no custody record of this facility has this id")
		}
	}
	return v.Err()
}

// GetReport returns one report within reach.
func (s *Reports) GetReport(ctx context.Context, req *sinergiv1.GetReportRequest) (*sinergiv1.GetReportResponse, error) {
	rs, rr, err := reportCall(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.Store.GetReport(ctx, rr, req.GetId())
	if err != nil {
		return nil, s.reportError(ctx, err)
	}
	return &sinergiv1.GetReportResponse{Report: reportView(r, rs)}, nil
}

// GetReportAttachment returns one attachment with its content.
func (s *Reports) GetReportAttachment(ctx context.Context, req *sinergiv1.GetReportAttachmentRequest) (*sinergiv1.GetReportAttachmentResponse, error) {
	rs, err := authz.ReachesFrom(ctx)
	if err != nil {
		return nil, err
	}
	// An emergency override carries no attachments: they are read under the
	// agreements alone.
	a, facility, scope, err := s.Store.GetReportAttachment(ctx, rs.ReportContents(), req.GetReportId(), req.GetNumber())
	if errors.Is(err, store.ErrNotFound) {
		// One answer whether the report or the attachment is missing or out of reach.
		return nil, status.Error(codes.NotFound, "report attachment not found")
	}
	if err != nil {
		return nil, s.reportError(ctx, err)
	}
	e := audit.FromContext(ctx)
	e.AddSubjects("report/" + req.GetReportId())
	e.AddAgreements(rs.Agreements(facility, scope)...)
	return &sinergiv1.GetReportAttachmentResponse{Attachment: a}, nil
}

type reportPosition struct {
	Occur int64  `json:"t"`
	ID    string `json:"i"`
}

func reportFilter(kind sinergiv1.ReportKind, typ sinergiv1.ReportType, sev sinergiv1.ReportSeverity, st sinergiv1.ReportStatus,
	facility string, start, end *timestamppb.Timestamp) store.ReportFilter {
	f := store.ReportFilter{Kind: kind, Type: typ, Severity: sev, Status: st, Facility: facility}
	if start != nil {
		f.Start = start.AsTime()
	}
	if end != nil {
		f.End = end.AsTime()
	}
	return f
}

// ListReports lists the reports within reach, latest occurrence first.
func (s *Reports) ListReports(ctx context.Context, req *sinergiv1.ListReportsRequest) (*sinergiv1.ListReportsResponse, error) {
	rs, rr, err := reportCall(ctx)
	if err != nil {
		return nil, err
	}
	c := caller(ctx)
	f := reportFilter(req.GetKind(), req.GetType(), req.GetSeverity(), req.GetStatus(), req.GetFacilityCode(), req.GetStartTime(), req.GetEndTime())
	query := fmt.Sprintf("reports|%s|%d|%d|%d|%d|%s|%d|%d", c.Institution.GetCode(), f.Kind, f.Type, f.Severity, f.Status,
		f.Facility, f.Start.UnixMicro(), f.End.UnixMicro())
	if tok := req.GetPageToken(); tok != "" {
		var pos reportPosition
		if err := s.Tokens.Open(tok, query, &pos); err != nil || !store.IsReportID(pos.ID) {
			return nil, s.badToken()
		}
		f.BeforeOccur, f.BeforeID = time.UnixMicro(pos.Occur), pos.ID
	}
	size := pageSize(req.GetPageSize())
	f.Limit = size + 1
	list, err := s.Store.ListReports(ctx, rr, f)
	if err != nil {
		return nil, s.reportError(ctx, err)
	}
	resp := &sinergiv1.ListReportsResponse{}
	if len(list) > size {
		last := list[size-1]
		tok, err := s.Tokens.Seal(query, reportPosition{Occur: last.GetOccurTime().AsTime().UnixMicro(), ID: last.GetId()})
		if err != nil {
			return nil, err
		}
		resp.NextPageToken, list = tok, list[:size]
	}
	for _, r := range list {
		resp.Reports = append(resp.Reports, reportView(r, rs))
	}
	return resp, nil
}

// ReportStats counts the reports within reach.
func (s *Reports) ReportStats(ctx context.Context, req *sinergiv1.ReportStatsRequest) (*sinergiv1.ReportStatsResponse, error) {
	_, rr, err := reportCall(ctx)
	if err != nil {
		return nil, err
	}
	f := reportFilter(0, 0, 0, 0, req.GetFacilityCode(), req.GetStartTime(), req.GetEndTime())
	out, err := s.Store.ReportStats(ctx, rr, f, s.Now())
	if err != nil {
		return nil, s.reportError(ctx, err)
	}
	return out, nil
}

// change applies a workflow change decided by fn to report id within the
// caller's reach, and returns the report as it then stands.
func (s *Reports) change(ctx context.Context, id string, fn func(st *store.ReportState, now time.Time) (*store.ReportChange, error)) (*sinergiv1.Report, error) {
	rs, reach, err := reportCall(ctx)
	if err != nil {
		return nil, err
	}
	var facility string
	var scope sinergiv1.Scope
	hook := reportWriteHook{e: audit.FromContext(ctx), subject: func() string { return "report/" + id },
		agreements: func() []string { return rs.Agreements(facility, scope) }}
	now := s.Now()
	_, err = s.Store.UpdateReport(ctx, nil, hook, reach, id, func(st *store.ReportState) (*store.ReportChange, error) {
		facility, scope = st.Facility, st.Scope
		return fn(st, now)
	})
	if err != nil {
		return nil, s.reportError(ctx, err)
	}
	r, err := s.Store.GetReport(ctx, reach, id)
	if err != nil {
		return nil, s.reportError(ctx, err)
	}
	return reportView(r, rs), nil
}

// AcknowledgeReport records a recipient's acknowledgement.
func (s *Reports) AcknowledgeReport(ctx context.Context, req *sinergiv1.AcknowledgeReportRequest) (*sinergiv1.AcknowledgeReportResponse, error) {
	code, officer := caller(ctx).Institution.GetCode(), req.GetAccess().GetOperatorId()
	r, err := s.change(ctx, req.GetId(), func(st *store.ReportState, now time.Time) (*store.ReportChange, error) {
		return reports.Acknowledge(st, code, officer, now)
	})
	if err != nil {
		return nil, err
	}
	return &sinergiv1.AcknowledgeReportResponse{Report: r}, nil
}

// UpdateReportStatus moves a report forward.
func (s *Reports) UpdateReportStatus(ctx context.Context, req *sinergiv1.UpdateReportStatusRequest) (*sinergiv1.UpdateReportStatusResponse, error) {
	code, officer := caller(ctx).Institution.GetCode(), req.GetAccess().GetOperatorId()
	r, err := s.change(ctx, req.GetId(), func(st *store.ReportState, now time.Time) (*store.ReportChange, error) {
		return reports.UpdateStatus(st, code, officer, req.GetStatus(), req.GetOutcome(), now)
	})
	if err != nil {
		return nil, err
	}
	return &sinergiv1.UpdateReportStatusResponse{Report: r}, nil
}

// AddReportAddendum appends a note to a report.
func (s *Reports) AddReportAddendum(ctx context.Context, req *sinergiv1.AddReportAddendumRequest) (*sinergiv1.AddReportAddendumResponse, error) {
	in := caller(ctx).Institution
	if len(req.GetOutcomes()) > 0 && directory.SideOf(in.GetKind()) != sinergiv1.Side_SIDE_POLRI {
		return nil, validate.Error("outcomes", "outcomes are reported by the police, not by the filing facility")
	}
	code, officer := in.GetCode(), req.GetAccess().GetOperatorId()
	r, err := s.change(ctx, req.GetId(), func(st *store.ReportState, now time.Time) (*store.ReportChange, error) {
		return reports.AddAddendum(st, code, officer, req.GetText(), req.GetOutcomes(), now)
	})
	if err != nil {
		return nil, err
	}
	return &sinergiv1.AddReportAddendumResponse{Report: r}, nil
}

// PostCoordinationEntry appends to an assistance request's thread.
func (s *Reports) PostCoordinationEntry(ctx context.Context, req *sinergiv1.PostCoordinationEntryRequest) (*sinergiv1.PostCoordinationEntryResponse, error) {
	code, officer := caller(ctx).Institution.GetCode(), req.GetAccess().GetOperatorId()
	entry := &sinergiv1.CoordinationEntry{Kind: req.GetKind(), Text: req.GetText(), Dispatch: req.GetDispatch(), Outcome: req.GetOutcome()}
	if d := entry.GetDispatch(); d != nil && d.GetEstimatedArrivalTime() != nil {
		// Kept to the microsecond, as PostgreSQL keeps it.
		d.EstimatedArrivalTime = timestamppb.New(d.GetEstimatedArrivalTime().AsTime().Truncate(time.Microsecond))
	}
	r, err := s.change(ctx, req.GetId(), func(st *store.ReportState, now time.Time) (*store.ReportChange, error) {
		return reports.Post(st, code, officer, entry, now)
	})
	if err != nil {
		return nil, err
	}
	return &sinergiv1.PostCoordinationEntryResponse{Report: r}, nil
}

type emergencyPosition struct {
	Submit int64  `json:"t"`
	ID     string `json:"i"`
}

// ListEmergencyOverrides lists the emergency overrides for oversight.
func (s *Reports) ListEmergencyOverrides(ctx context.Context, req *sinergiv1.ListEmergencyOverridesRequest) (*sinergiv1.ListEmergencyOverridesResponse, error) {
	c := caller(ctx)
	var f store.EmergencyFilter
	if t := req.GetStartTime(); t != nil {
		f.Start = t.AsTime()
	}
	if t := req.GetEndTime(); t != nil {
		f.End = t.AsTime()
	}
	query := fmt.Sprintf("overrides|%s|%d|%d", c.Institution.GetCode(), f.Start.UnixMicro(), f.End.UnixMicro())
	if tok := req.GetPageToken(); tok != "" {
		var pos emergencyPosition
		if err := s.Tokens.Open(tok, query, &pos); err != nil || !store.IsReportID(pos.ID) {
			return nil, s.badToken()
		}
		f.BeforeSubmit, f.BeforeID = time.UnixMicro(pos.Submit), pos.ID
	}
	size := pageSize(req.GetPageSize())
	f.Limit = size + 1
	list, err := s.Store.EmergencyOverrides(ctx, f)
	if err != nil {
		return nil, s.reportError(ctx, err)
	}
	resp := &sinergiv1.ListEmergencyOverridesResponse{}
	if len(list) > size {
		last := list[size-1]
		tok, err := s.Tokens.Seal(query, emergencyPosition{Submit: last.GetSubmitTime().AsTime().UnixMicro(), ID: last.GetReportId()})
		if err != nil {
			return nil, err
		}
		resp.NextPageToken, list = tok, list[:size]
	}
	resp.Overrides = list
	return resp, nil
}
