package api

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authn"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/requestid"
	"github.com/sinergi-id/sinergi/internal/screening"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Screening implements ScreeningService.
type Screening struct {
	sinergiv1.UnimplementedScreeningServiceServer
	*Deps
	// Keys seal screening tokens and make the pseudonyms of screened people.
	Keys *screening.Keys
	// Limiter bounds each facility's rate of screenings.
	Limiter *screening.Limiter
	// Sealer seals the audit records of referrals, which are the owning
	// units' (screening.ReferralMethod).
	Sealer *audit.Sealer
}

func init() {
	// Entries, screenings, referrals and visits in a response are audit
	// subjects; a screening and its referrals name the same subject.
	authz.RegisterSubject((&sinergiv1.ScreeningEntry{}).ProtoReflect().Descriptor().FullName(), authz.SubjectScreeningEntry, "id", "owner_code")
	authz.RegisterSubject((&sinergiv1.Screening{}).ProtoReflect().Descriptor().FullName(), authz.SubjectScreening, "id", "facility_code")
	authz.RegisterSubject((&sinergiv1.ScreeningReferral{}).ProtoReflect().Descriptor().FullName(), authz.SubjectScreening, "screening_id", "facility_code")
	authz.RegisterSubject((&sinergiv1.Visit{}).ProtoReflect().Descriptor().FullName(), authz.SubjectVisit, "id", "facility_code")
}

var (
	errEntryNotFound       = status.Error(codes.NotFound, "screening entry not found")
	errVisitNotFound       = status.Error(codes.NotFound, "visit not found")
	errDesignationNotFound = status.Error(codes.NotFound, "no designation in force for the facility")
	errNotHeld             = validate.Error("inmate_record_id", "not a person the facility holds")
)

// screeningError maps an error of a screening call.
func (s *Screening) screeningError(ctx context.Context, err error, notFound error) error {
	var rule *screening.RuleError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &rule):
		return status.Error(codes.FailedPrecondition, rule.Msg)
	case errors.Is(err, store.ErrNotFound) && notFound != nil:
		return notFound
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return s.storeError(ctx, err, "screening")
}

// screenedPerson is a person as screened: no aliases, the name trimmed.
func screenedPerson(p *sinergiv1.ScreenedPerson) *sinergiv1.ScreenedPerson {
	return &sinergiv1.ScreenedPerson{Nik: p.GetNik(), FullName: strings.TrimSpace(p.GetFullName()), BirthDate: p.GetBirthDate()}
}

// CreateScreeningEntry puts a person on the calling unit's list.
func (s *Screening) CreateScreeningEntry(ctx context.Context, req *sinergiv1.CreateScreeningEntryRequest) (*sinergiv1.CreateScreeningEntryResponse, error) {
	c, now := caller(ctx), s.Now()
	switch exp := req.GetExpireTime().AsTime(); {
	case !exp.After(now):
		return nil, validate.Error("expire_time", "must be in the future")
	case exp.After(now.Add(screening.MaxEntryLife)):
		return nil, validate.Error("expire_time", "at most two years ahead: list the person again when it ends")
	}
	acc := req.GetAccess()
	p := req.GetPerson()
	e, err := s.Store.CreateScreeningEntry(ctx, audit.FromContext(ctx), &sinergiv1.ScreeningEntry{
		OwnerCode: c.Institution.GetCode(), Category: req.GetCategory(), Reason: strings.TrimSpace(req.GetReason()), Instruction: req.GetInstruction(),
		Person:     &sinergiv1.ScreenedPerson{Nik: p.GetNik(), FullName: p.GetFullName(), Aliases: p.GetAliases(), BirthDate: p.GetBirthDate()},
		ExpireTime: req.GetExpireTime(), OperatorId: acc.GetOperatorId(), Purpose: acc.GetPurpose(), CaseReference: acc.GetCaseReference(),
	}, now)
	if err != nil {
		return nil, s.screeningError(ctx, err, nil)
	}
	return &sinergiv1.CreateScreeningEntryResponse{Entry: e}, nil
}

// GetScreeningEntry returns one of the calling unit's entries.
func (s *Screening) GetScreeningEntry(ctx context.Context, req *sinergiv1.GetScreeningEntryRequest) (*sinergiv1.GetScreeningEntryResponse, error) {
	c := caller(ctx)
	e, err := s.Store.GetScreeningEntry(ctx, authz.OwnScreeningList(c.Institution.GetCode()), req.GetId(), s.Now())
	if err != nil {
		return nil, s.screeningError(ctx, err, errEntryNotFound)
	}
	return &sinergiv1.GetScreeningEntryResponse{Entry: e}, nil
}

// ListScreeningEntries lists the calling unit's entries, newest first.
func (s *Screening) ListScreeningEntries(ctx context.Context, req *sinergiv1.ListScreeningEntriesRequest) (*sinergiv1.ListScreeningEntriesResponse, error) {
	c := caller(ctx)
	code := c.Institution.GetCode()
	query := "screening-entries|" + code + "|" + strconv.FormatBool(req.GetIncludeInactive())
	var pos *store.EntryPosition
	if req.GetPageToken() != "" {
		pos = &store.EntryPosition{}
		if err := s.Tokens.Open(req.GetPageToken(), query, pos); err != nil {
			return nil, s.badToken()
		}
	}
	size := pageSize(req.GetPageSize())
	es, err := s.Store.ListScreeningEntries(ctx, authz.OwnScreeningList(code), req.GetIncludeInactive(), s.Now(), pos, size+1)
	if err != nil {
		return nil, s.screeningError(ctx, err, nil)
	}
	resp := &sinergiv1.ListScreeningEntriesResponse{}
	if len(es) > size {
		es = es[:size]
		last := es[size-1]
		if resp.NextPageToken, err = s.Tokens.Seal(query, store.EntryPosition{CreateMicros: last.GetCreateTime().AsTime().UnixMicro(), ID: last.GetId()}); err != nil {
			return nil, err
		}
	}
	resp.Entries = es
	return resp, nil
}

// RemoveScreeningEntry takes an entry off the calling unit's list.
func (s *Screening) RemoveScreeningEntry(ctx context.Context, req *sinergiv1.RemoveScreeningEntryRequest) (*sinergiv1.RemoveScreeningEntryResponse, error) {
	c := caller(ctx)
	e, err := s.Store.RemoveScreeningEntry(ctx, audit.FromContext(ctx), authz.OwnScreeningList(c.Institution.GetCode()), req.GetId(),
		req.GetAccess().GetOperatorId(), s.Now())
	if err != nil {
		return nil, s.screeningError(ctx, err, errEntryNotFound)
	}
	return &sinergiv1.RemoveScreeningEntryResponse{Entry: e}, nil
}

// screened is what one screening is about.
type screened struct {
	role         sinergiv1.ScreenedRole
	person       *sinergiv1.ScreenedPerson
	relationship sinergiv1.VisitorRelationship
	inmate       string
	officer      string
	at           time.Time
}

// admit applies the rate limit of the calling facility's screenings and
// checks the visit (or duty) time given, field named field; it returns the
// time (now when none was given).
func (s *Screening) admit(ctx context.Context, c *authn.Caller, field string, at *timestamppb.Timestamp, now time.Time) (time.Time, error) {
	t := now
	if at != nil {
		t = at.AsTime().Truncate(time.Microsecond)
		if err := screening.CheckVisitTime(t, now); err != nil {
			return t, validate.Error(field, "%s", err.(*screening.RuleError).Msg)
		}
	}
	if ok, wait := s.Limiter.Allow(c.Institution.GetCode()); !ok {
		audit.FromContext(ctx).Refuse("screening rate of the facility exceeded")
		l := s.Limiter.Limit()
		return t, status.Errorf(codes.ResourceExhausted, "the facility screens at most %d people a minute (%d at once): retry in %s",
			l.PerMinute, l.Burst, wait.Round(time.Second)+time.Second)
	}
	return t, nil
}

// ScreenVisitor screens a visitor before a visit.
func (s *Screening) ScreenVisitor(ctx context.Context, req *sinergiv1.ScreenVisitorRequest) (*sinergiv1.ScreenVisitorResponse, error) {
	c, now := caller(ctx), s.Now().Truncate(time.Microsecond)
	at, err := s.admit(ctx, c, "visit_time", req.GetVisitTime(), now)
	if err != nil {
		return nil, err
	}
	inmates, _, err := authz.RestrictionFrom(ctx)
	if err != nil {
		return nil, err
	}
	owners := authz.ComputeScreeningOwners(c.Directory, c.Institution, now)
	p := screenedPerson(req.GetVisitor())
	lk, err := s.Store.LookUpScreening(ctx, store.ScreeningQuery{Owners: owners.Restriction(), NIK: p.GetNik(), Name: p.GetFullName(),
		Birth: parseDate(p.GetBirthDate()), Now: now, InmateID: req.GetInmateRecordId(), Inmates: inmates})
	if err != nil {
		return nil, s.screeningError(ctx, err, nil)
	}
	if !lk.InmateHeld {
		return nil, errNotHeld
	}
	sc, err := s.screen(ctx, c, owners, lk.Hits, screened{role: sinergiv1.ScreenedRole_SCREENED_ROLE_VISITOR, person: p,
		relationship: req.GetRelationship(), inmate: req.GetInmateRecordId(), at: at}, now)
	if err != nil {
		return nil, err
	}
	return &sinergiv1.ScreenVisitorResponse{Screening: sc}, nil
}

// ScreenOfficer screens an officer before duty at a high-risk facility.
func (s *Screening) ScreenOfficer(ctx context.Context, req *sinergiv1.ScreenOfficerRequest) (*sinergiv1.ScreenOfficerResponse, error) {
	c, now := caller(ctx), s.Now().Truncate(time.Microsecond)
	at, err := s.admit(ctx, c, "duty_time", req.GetDutyTime(), now)
	if err != nil {
		return nil, err
	}
	owners := authz.ComputeScreeningOwners(c.Directory, c.Institution, now)
	p := screenedPerson(req.GetOfficer())
	lk, err := s.Store.LookUpScreening(ctx, store.ScreeningQuery{Owners: owners.Restriction(), NIK: p.GetNik(), Name: p.GetFullName(),
		Birth: parseDate(p.GetBirthDate()), Now: now, Facility: c.Institution.GetCode()})
	if err != nil {
		return nil, s.screeningError(ctx, err, nil)
	}
	if !lk.HighRisk {
		return nil, status.Error(codes.FailedPrecondition,
			"officers are screened before duty at facilities designated prone to narcotics trafficking, and this facility is not")
	}
	sc, err := s.screen(ctx, c, owners, lk.Hits, screened{role: sinergiv1.ScreenedRole_SCREENED_ROLE_OFFICER, person: p,
		officer: req.GetOfficerId(), at: at}, now)
	if err != nil {
		return nil, err
	}
	return &sinergiv1.ScreenOfficerResponse{Screening: sc}, nil
}

func parseDate(s string) time.Time {
	t, _ := time.Parse("2006-01-02", s)
	return t
}

// screen answers a screening whose lookups found hits. Its audit record
// names the screening, the person (a pseudonym) and the inmate visited,
// and every agreement under which a list was consulted, whatever the
// answer: the facility's record says no more than its answer. On REFER
// the owning units' referrals, and a record of each owning unit's (the
// entries that matched, under its agreements), commit in one transaction
// with the call's record, before the answer leaves.
func (s *Screening) screen(ctx context.Context, c *authn.Caller, owners *authz.ScreeningOwners, hits []store.ScreeningHit, w screened, now time.Time) (*sinergiv1.Screening, error) {
	code := c.Institution.GetCode()
	id := store.NewScreeningID(now)
	a := screening.Decide(hits)
	sc := &sinergiv1.Screening{Id: id, FacilityCode: code, Role: w.role, Result: a.Result, Instruction: a.Instruction, Match: a.Match,
		CallInstitutionCodes: a.Call, ScreenTime: timestamppb.New(now), VisitTime: timestamppb.New(w.at),
		ExpireTime: timestamppb.New(now.Add(screening.TokenValidity))}
	if a.Result == sinergiv1.ScreeningResult_SCREENING_RESULT_CLEAR {
		sc.Match = sinergiv1.ScreeningMatch_SCREENING_MATCH_UNSPECIFIED
	}
	tok, err := s.Keys.Seal(screening.Grant{ID: id, Facility: code, Role: w.role, Identity: s.Keys.Identity(w.person), Inmate: w.inmate,
		Result: a.Result, Instruction: a.Instruction, ScreenMicros: now.UnixMicro(), VisitMicros: w.at.UnixMicro(),
		ExpireMicros: now.Add(screening.TokenValidity).UnixMicro()})
	if err != nil {
		return nil, status.Error(codes.Internal, "internal error")
	}
	sc.Token = tok
	subjects := []string{store.ScreeningSubject(id), s.Keys.Person(w.person)}
	if w.inmate != "" {
		subjects = append(subjects, store.CustodySubject(w.inmate))
	}
	e := audit.FromContext(ctx)
	e.AddSubjects(subjects...)
	e.AddAgreements(owners.AllAgreements()...)
	if len(hits) == 0 {
		return sc, nil // the interceptor commits the call's record
	}
	refs := make([]*sinergiv1.ScreeningReferral, len(hits))
	entries := []*audit.Entry{e}
	byOwner := map[string]*audit.Entry{}
	for i, h := range hits {
		refs[i] = &sinergiv1.ScreeningReferral{Id: store.NewScreeningID(now), ScreeningId: id, EntryId: h.EntryID, OwnerCode: h.Owner,
			Match: h.Match, Instruction: a.Instruction, FacilityCode: code, Role: w.role, Person: w.person, Relationship: w.relationship,
			InmateRecordId: w.inmate, OfficerId: w.officer, VisitTime: timestamppb.New(w.at), ScreenTime: timestamppb.New(now)}
		oe := byOwner[h.Owner]
		if oe == nil {
			oe = s.Sealer.NewEntry(screening.ReferralMethod, requestid.FromContext(ctx))
			oe.SetCaller(h.Owner, "")
			oe.Allow("a screening at " + code + " matched the unit's entries: referred to it")
			oe.AddAgreements(owners.Agreements(h.Owner)...)
			oe.AddSubjects(subjects...)
			byOwner[h.Owner] = oe
			entries = append(entries, oe)
		}
		oe.AddSubjects(store.ScreeningEntrySubject(h.EntryID))
	}
	if err := s.Store.RecordReferrals(ctx, refs, func(ctx context.Context, tx pgx.Tx) error {
		return audit.WriteTxAll(ctx, tx, entries...)
	}); err != nil {
		return nil, s.screeningError(ctx, err, nil)
	}
	return sc, nil
}

type referralListPosition struct {
	Seq int64 `json:"s"`
}

// ListScreeningReferrals lists the referrals of the calling unit's entries.
func (s *Screening) ListScreeningReferrals(ctx context.Context, req *sinergiv1.ListScreeningReferralsRequest) (*sinergiv1.ListScreeningReferralsResponse, error) {
	c := caller(ctx)
	code := c.Institution.GetCode()
	reach := authz.ReferralReach(c.Directory, c.Institution, s.Now())
	query := "screening-referrals|" + code + "|" + req.GetEntryId()
	var pos *store.ReferralPosition
	if req.GetPageToken() != "" {
		var p referralListPosition
		if err := s.Tokens.Open(req.GetPageToken(), query, &p); err != nil {
			return nil, s.badToken()
		}
		pos = &store.ReferralPosition{Seq: p.Seq}
	}
	size := pageSize(req.GetPageSize())
	rows, err := s.Store.ListReferrals(ctx, reach.Restriction(), req.GetEntryId(), pos, size+1)
	if err != nil {
		return nil, s.screeningError(ctx, err, nil)
	}
	resp := &sinergiv1.ListScreeningReferralsResponse{}
	if len(rows) > size {
		rows = rows[:size]
		if resp.NextPageToken, err = s.Tokens.Seal(query, referralListPosition{Seq: rows[size-1].Pos.Seq}); err != nil {
			return nil, err
		}
	}
	e := audit.FromContext(ctx)
	for _, r := range rows {
		s.referralSubjects(e, reach, r.Referral)
		resp.Referrals = append(resp.Referrals, r.Referral)
	}
	return resp, nil
}

// referralSubjects records what telling its owner of ref discloses: the
// screening, the entry, the person and the inmate visited, under the
// agreements that let the owner be told.
func (s *Screening) referralSubjects(e *audit.Entry, reach *authz.Reach, ref *sinergiv1.ScreeningReferral) {
	authz.Attribute(e, reach, ref)
	e.AddSubjects(store.ScreeningEntrySubject(ref.GetEntryId()), s.Keys.Person(ref.GetPerson()))
	if ref.GetInmateRecordId() != "" {
		e.AddSubjects(store.CustodySubject(ref.GetInmateRecordId()))
	}
}

// RegisterVisit records a visit in the calling facility's register.
func (s *Screening) RegisterVisit(ctx context.Context, req *sinergiv1.RegisterVisitRequest) (*sinergiv1.RegisterVisitResponse, error) {
	c, now := caller(ctx), s.Now().Truncate(time.Microsecond)
	code := c.Institution.GetCode()
	in := now
	if req.GetTimeIn() != nil {
		in = req.GetTimeIn().AsTime().Truncate(time.Microsecond)
		if in.After(now.Add(screening.ClockSkew)) {
			return nil, validate.Error("time_in", "is in the future")
		}
	}
	var g *screening.Grant
	if tok := req.GetScreeningToken(); tok != "" {
		var err error
		if g, err = s.Keys.Open(tok); err != nil {
			return nil, validate.Error("screening_token", "not a screening token of this service (altered, or made up)")
		}
	}
	inmates, _, err := authz.RestrictionFrom(ctx)
	if err != nil {
		return nil, err
	}
	visitor := screenedPerson(req.GetVisitor())
	v := &sinergiv1.Visit{FacilityCode: code, Visitor: visitor, Relationship: req.GetRelationship(), InmateRecordId: req.GetInmateRecordId(),
		TimeIn: timestamppb.New(in), ItemsDeposited: req.GetItemsDeposited(), Outcome: req.GetOutcome(), OperatorId: req.GetAccess().GetOperatorId()}
	if g != nil {
		v.ScreeningId, v.ScreeningResult, v.ScreeningInstruction = g.ID, g.Result, g.Instruction
	}
	e := audit.FromContext(ctx)
	e.AddSubjects(s.Keys.Person(visitor))
	var highRisk bool
	out, err := s.Store.RegisterVisit(ctx, e, inmates, v, now, func(hr bool) error {
		highRisk = hr
		return screening.CheckVisit(hr, screening.Visit{Facility: code, Identity: s.Keys.Identity(visitor), Inmate: req.GetInmateRecordId(),
			TimeIn: in, Outcome: req.GetOutcome(), Screening: g})
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errNotHeld
	case errors.Is(err, store.ErrConflict):
		return nil, status.Error(codes.AlreadyExists, "the screening registered a visit already: screen the visitor again")
	case err != nil:
		return nil, s.screeningError(ctx, err, nil)
	}
	return &sinergiv1.RegisterVisitResponse{Visit: out, ScreeningRecommended: g == nil && !highRisk}, nil
}

// EndVisit records when a visitor left.
func (s *Screening) EndVisit(ctx context.Context, req *sinergiv1.EndVisitRequest) (*sinergiv1.EndVisitResponse, error) {
	now := s.Now().Truncate(time.Microsecond)
	out := now
	if req.GetTimeOut() != nil {
		out = req.GetTimeOut().AsTime().Truncate(time.Microsecond)
		if out.After(now.Add(screening.ClockSkew)) {
			return nil, validate.Error("time_out", "is in the future")
		}
	}
	rs, _, err := authz.RestrictionFrom(ctx)
	if err != nil {
		return nil, err
	}
	e := audit.FromContext(ctx)
	v, err := s.Store.EndVisit(ctx, e, rs, req.GetId(), out, req.GetAccess().GetOperatorId(), func(cur *sinergiv1.Visit) error {
		e.AddSubjects(s.Keys.Person(cur.GetVisitor()))
		return screening.CheckEnd(cur.GetOutcome(), cur.GetTimeIn().AsTime(), out)
	})
	if err != nil {
		return nil, s.screeningError(ctx, err, errVisitNotFound)
	}
	return &sinergiv1.EndVisitResponse{Visit: v}, nil
}

type visitListPosition struct {
	T  int64  `json:"t"`
	ID string `json:"i"`
}

// ListVisits lists the visits the caller may see.
func (s *Screening) ListVisits(ctx context.Context, req *sinergiv1.ListVisitsRequest) (*sinergiv1.ListVisitsResponse, error) {
	c := caller(ctx)
	rs, _, err := authz.RestrictionFrom(ctx)
	if err != nil {
		return nil, err
	}
	p := req.GetVisitor()
	if authz.CallerOf(c.Institution.GetKind()) == authz.PoliceUnit && req.GetInmateRecordId() == "" && p.GetNik() == "" && p.GetFullName() == "" {
		return nil, validate.Error("inmate_record_id", "a police unit consults the visits of one inmate (inmate_record_id) or of one person (visitor)")
	}
	f := store.VisitFilter{Restriction: rs, InmateID: req.GetInmateRecordId(), VisitorNIK: p.GetNik(), FacilityCode: req.GetFacilityCode()}
	if f.VisitorNIK == "" && p.GetFullName() != "" {
		f.VisitorName, f.VisitorBirth = p.GetFullName(), parseDate(p.GetBirthDate())
	}
	if req.GetStartTime() != nil {
		f.Start = req.GetStartTime().AsTime()
	}
	if req.GetEndTime() != nil {
		f.End = req.GetEndTime().AsTime()
	}
	query := custodyQuery("visits", c.Institution.GetCode(), f.InmateID, f.VisitorNIK, store.NormalizeName(f.VisitorName), p.GetBirthDate(),
		f.FacilityCode, f.Start.UnixMicro(), f.End.UnixMicro())
	if req.GetPageToken() != "" {
		var pos visitListPosition
		if err := s.Tokens.Open(req.GetPageToken(), query, &pos); err != nil {
			return nil, s.badToken()
		}
		f.BeforeMicros, f.BeforeID = pos.T, pos.ID
	}
	size := pageSize(req.GetPageSize())
	f.Limit = size + 1
	vs, err := s.Store.ListVisits(ctx, f)
	if err != nil {
		return nil, s.screeningError(ctx, err, nil)
	}
	resp := &sinergiv1.ListVisitsResponse{}
	if len(vs) > size {
		vs = vs[:size]
		last := vs[size-1]
		if resp.NextPageToken, err = s.Tokens.Seal(query, visitListPosition{T: last.GetTimeIn().AsTime().UnixMicro(), ID: last.GetId()}); err != nil {
			return nil, err
		}
	}
	e := audit.FromContext(ctx)
	for _, v := range vs {
		e.AddSubjects(s.Keys.Person(v.GetVisitor()), store.CustodySubject(v.GetInmateRecordId()))
	}
	resp.Visits = vs
	return resp, nil
}

// facilityOf returns the facility with code in the caller's directory.
func facilityOf(c *authn.Caller, code string) (*sinergiv1.Institution, error) {
	f := c.Directory.Institution(code)
	if f == nil || !directory.IsFacility(f.GetKind()) {
		return nil, validate.Error("facility_code", "not a facility of the directory")
	}
	return f, nil
}

// DesignateHighRisk marks a facility as prone to narcotics trafficking.
func (s *Screening) DesignateHighRisk(ctx context.Context, req *sinergiv1.DesignateHighRiskRequest) (*sinergiv1.DesignateHighRiskResponse, error) {
	c := caller(ctx)
	f, err := facilityOf(c, req.GetFacilityCode())
	if err != nil {
		return nil, err
	}
	d, created, err := s.Store.Designate(ctx, audit.FromContext(ctx), f.GetCode(), strings.TrimSpace(req.GetReason()), req.GetAccess().GetOperatorId(), s.Now())
	if err != nil {
		return nil, s.screeningError(ctx, err, nil)
	}
	if !created {
		audit.FromContext(ctx).AddSubjects("institution/" + f.GetCode())
	}
	return &sinergiv1.DesignateHighRiskResponse{Designation: d, Created: created}, nil
}

// LiftHighRisk ends a facility's designation.
func (s *Screening) LiftHighRisk(ctx context.Context, req *sinergiv1.LiftHighRiskRequest) (*sinergiv1.LiftHighRiskResponse, error) {
	c := caller(ctx)
	f, err := facilityOf(c, req.GetFacilityCode())
	if err != nil {
		return nil, err
	}
	d, err := s.Store.LiftDesignation(ctx, audit.FromContext(ctx), f.GetCode(), req.GetAccess().GetOperatorId(), s.Now())
	if err != nil {
		return nil, s.screeningError(ctx, err, errDesignationNotFound)
	}
	return &sinergiv1.LiftHighRiskResponse{Designation: d}, nil
}

type designationPosition struct {
	ID int64 `json:"i"`
}

// ListHighRiskDesignations lists the designations.
func (s *Screening) ListHighRiskDesignations(ctx context.Context, req *sinergiv1.ListHighRiskDesignationsRequest) (*sinergiv1.ListHighRiskDesignationsResponse, error) {
	query := "designations|" + req.GetFacilityCode() + "|" + strconv.FormatBool(req.GetIncludeLifted())
	var pos designationPosition
	if req.GetPageToken() != "" {
		if err := s.Tokens.Open(req.GetPageToken(), query, &pos); err != nil || pos.ID <= 0 {
			return nil, s.badToken()
		}
	}
	size := pageSize(req.GetPageSize())
	ds, last, err := s.Store.ListDesignations(ctx, req.GetFacilityCode(), req.GetIncludeLifted(), pos.ID, size+1)
	if err != nil {
		return nil, s.screeningError(ctx, err, nil)
	}
	resp := &sinergiv1.ListHighRiskDesignationsResponse{}
	if len(ds) > size {
		ds = ds[:size]
		// last is the id of the extra one; the page ends before it.
		if resp.NextPageToken, err = s.Tokens.Seal(query, designationPosition{ID: last + 1}); err != nil {
			return nil, err
		}
	}
	resp.Designations = ds
	return resp, nil
}
