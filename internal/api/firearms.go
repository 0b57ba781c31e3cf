package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
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
	"github.com/sinergi-id/sinergi/internal/firearms"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Firearms implements FirearmsService. The rules are internal/firearms';
// the SQL the store's; a handler reads the request, asks the one, hands
// the change to the other, and answers with the register as it then stands.
type Firearms struct {
	sinergiv1.UnimplementedFirearmsServiceServer
	*Deps
}

// firearmsClockSkew is how far in the future a facility's or an
// inspector's clock may put what happened.
const firearmsClockSkew = 5 * time.Minute

// One answer for what is missing and for what the caller may not see.
var (
	errWeaponNotFound     = status.Error(codes.NotFound, "weapon not found")
	errLicenceNotFound    = status.Error(codes.NotFound, "licence not found")
	errInspectionNotFound = status.Error(codes.NotFound, "inspection not found")
)

// firearmsCall is a register call's reaches and the one restriction its
// queries take (authz.Reaches.Firearms).
func firearmsCall(ctx context.Context) (authz.Reaches, *restrict.Restriction, error) {
	rs, err := authz.ReachesFrom(ctx)
	if err != nil {
		return rs, nil, err
	}
	return rs, rs.Firearms(), nil
}

// now is the server's clock to PostgreSQL's precision, so that what a
// handler builds reads back as stored.
func (s *Firearms) now() time.Time { return s.Now().Truncate(time.Microsecond) }

func (s *Firearms) act(ctx context.Context, ac *sinergiv1.AccessContext, now time.Time) firearms.Act {
	c := caller(ctx)
	return firearms.Act{Dir: c.Directory, Caller: c.Institution, Operator: ac.GetOperatorId(), At: now}
}

// firearmsHook commits the call's audit record with a register write,
// naming what it wrote and the agreements behind the caller's access, once
// the write is certain to happen.
type firearmsHook struct {
	e          *audit.Entry
	subjects   func() []string
	agreements func() []string
}

func (h firearmsHook) WriteTx(ctx context.Context, tx pgx.Tx) error {
	h.e.AddSubjects(h.subjects()...)
	if h.agreements != nil {
		h.e.AddAgreements(h.agreements()...)
	}
	return h.e.WriteTx(ctx, tx)
}

// hook is the audit hook of a write to facility's register (a pointer, as
// the handler may learn the facility under the row lock).
func (s *Firearms) hook(ctx context.Context, rs authz.Reaches, facility *string, subjects func() []string) firearmsHook {
	return firearmsHook{e: audit.FromContext(ctx), subjects: subjects,
		agreements: func() []string { return rs.Agreements(*facility, firearms.Scope) }}
}

func subjects(ss ...string) func() []string {
	return func() []string {
		var out []string
		for _, s := range ss {
			if !strings.HasSuffix(s, "/") {
				out = append(out, s)
			}
		}
		return out
	}
}

// firearmsError maps an error of a register write or read.
func (s *Firearms) firearmsError(ctx context.Context, err error, notFound error, what string) error {
	var rule *firearms.RuleError
	var unknown *firearms.UnknownWeapons
	switch {
	case errors.As(err, &rule):
		return status.Error(codes.FailedPrecondition, rule.Msg)
	case errors.As(err, &unknown):
		var v validate.Violations
		for _, f := range unknown.Fields {
			v.Add(f, "no weapon held by the inspected facility has this id")
		}
		return v.Err()
	case errors.Is(err, store.ErrNotFound):
		return notFound
	}
	return s.storeError(ctx, err, what)
}

// weaponView is a weapon as the register shows it at now: the licence
// that governs it, its state, its current holder, its licensing unit.
func weaponView(dir *directory.Snapshot, rec *store.WeaponRecord, now time.Time) *sinergiv1.Weapon {
	w := rec.Weapon
	cur, state := firearms.Current(rec.Licences, now)
	for _, l := range rec.Licences {
		firearms.Settle(l, now)
	}
	w.LicenceState, w.OwnershipLicence, w.CurrentAssignment = state, cur, rec.Open
	if f := dir.Institution(w.GetFacilityCode()); f != nil {
		if u := firearms.LicensingUnit(dir, f, w.GetCategory()); u != nil {
			w.LicensingCode = u.GetCode()
		}
	}
	return w
}

// weapon reads weapon id back within reach, as the register shows it.
func (s *Firearms) weapon(ctx context.Context, rr *restrict.Restriction, id string) (*sinergiv1.Weapon, []*sinergiv1.FirearmLicence, error) {
	rec, err := s.Store.GetWeapon(ctx, rr, id)
	if err != nil {
		return nil, nil, s.firearmsError(ctx, err, errWeaponNotFound, "weapon")
	}
	return weaponView(caller(ctx).Directory, rec, s.now()), rec.Licences, nil
}

func (s *Firearms) licence(ctx context.Context, rr *restrict.Restriction, id string) (*sinergiv1.FirearmLicence, error) {
	l, err := s.Store.GetLicence(ctx, rr, id)
	if err != nil {
		return nil, s.firearmsError(ctx, err, errLicenceNotFound, "licence")
	}
	return firearms.Settle(l, s.now()), nil
}

// weaponWrite is what a write to a weapon names in its audit record
// besides the weapon, and the answer when the store finds a conflict.
type weaponWrite struct {
	load       store.WeaponLoad
	subjects   func() []string
	agreements func() []string
	conflict   error
}

// changeWeapon applies the change fn decides to weapon id within reach,
// with the call's audit record naming the weapon and what w adds.
func (s *Firearms) changeWeapon(ctx context.Context, id string, w weaponWrite,
	fn func(st *store.WeaponState) (*store.WeaponChange, error)) (authz.Reaches, *restrict.Restriction, store.WeaponResult, error) {
	rs, rr, err := firearmsCall(ctx)
	if err != nil {
		return rs, nil, store.WeaponResult{}, err
	}
	var facility string
	hook := s.hook(ctx, rs, &facility, func() []string {
		out := []string{"weapon/" + id}
		if w.subjects != nil {
			out = append(out, w.subjects()...)
		}
		return out
	})
	if w.agreements != nil {
		own := hook.agreements
		hook.agreements = func() []string { return append(own(), w.agreements()...) }
	}
	res, err := s.Store.UpdateWeapon(ctx, hook, rr, id, w.load, func(st *store.WeaponState) (*store.WeaponChange, error) {
		facility = st.Weapon.GetFacilityCode()
		return fn(st)
	})
	switch {
	case errors.Is(err, store.ErrConflict) && w.conflict != nil:
		return rs, rr, res, w.conflict
	case err != nil:
		return rs, rr, res, s.firearmsError(ctx, err, errWeaponNotFound, "weapon")
	}
	return rs, rr, res, nil
}

// RegisterWeapon adds a weapon to the caller's register.
func (s *Firearms) RegisterWeapon(ctx context.Context, req *sinergiv1.RegisterWeaponRequest) (*sinergiv1.RegisterWeaponResponse, error) {
	rs, rr, err := firearmsCall(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var acq *sinergiv1.WeaponAcquisition
	if a := req.GetAcquisition(); a != nil {
		acq = &sinergiv1.WeaponAcquisition{Source: a.GetSource(), Document: a.GetDocument()}
		if t := a.GetAcquireTime(); t != nil {
			if t.AsTime().After(now.Add(firearmsClockSkew)) {
				return nil, validate.Error("acquisition.acquire_time", "is in the future")
			}
			acq.AcquireTime = timestamppb.New(t.AsTime().Truncate(time.Microsecond))
		}
	}
	facility := caller(ctx).Institution.GetCode()
	w := &sinergiv1.Weapon{Id: store.NewFirearmsID(now), FacilityCode: facility, Category: req.GetCategory(),
		Make: strings.TrimSpace(req.GetMake()), Model: strings.TrimSpace(req.GetModel()), Calibre: strings.TrimSpace(req.GetCalibre()),
		SerialNumber: strings.TrimSpace(req.GetSerialNumber()), Acquisition: acq, Armoury: strings.TrimSpace(req.GetArmoury())}
	ev := firearms.Register(s.act(ctx, req.GetAccess(), now), w)
	keys := store.WeaponKeys{Make: firearms.MakeKey(w.GetMake()), Serial: firearms.SerialKey(w.GetSerialNumber()), Calibre: firearms.CalibreKey(w.GetCalibre())}
	err = s.Store.RegisterWeapon(ctx, s.hook(ctx, rs, &facility, subjects("weapon/"+w.GetId())), w, keys, ev)
	if errors.Is(err, store.ErrConflict) {
		return nil, status.Error(codes.AlreadyExists, "a weapon of this make with this serial number is in a register already")
	}
	if err != nil {
		return nil, s.firearmsError(ctx, err, errWeaponNotFound, "weapon")
	}
	s.Log.InfoContext(ctx, "weapon registered", "weapon_id", w.GetId(), "facility", facility, "category", w.GetCategory().String())
	out, _, err := s.weapon(ctx, rr, w.GetId())
	if err != nil {
		return nil, err
	}
	return &sinergiv1.RegisterWeaponResponse{Weapon: out}, nil
}

// UpdateWeaponStatus changes a weapon's status or armoury.
func (s *Firearms) UpdateWeaponStatus(ctx context.Context, req *sinergiv1.UpdateWeaponStatusRequest) (*sinergiv1.UpdateWeaponStatusResponse, error) {
	c := caller(ctx)
	if cp := req.GetCounterpartCode(); cp != "" && c.Directory.Institution(cp) == nil {
		return nil, validate.Error("counterpart_code", "not an institution of the directory")
	}
	a := s.act(ctx, req.GetAccess(), s.now())
	_, rr, _, err := s.changeWeapon(ctx, req.GetId(), weaponWrite{}, func(st *store.WeaponState) (*store.WeaponChange, error) {
		return firearms.ChangeStatus(a, st, req.GetStatus(), strings.TrimSpace(req.GetArmoury()), req.GetCounterpartCode(), req.GetNote())
	})
	if err != nil {
		return nil, err
	}
	w, _, err := s.weapon(ctx, rr, req.GetId())
	if err != nil {
		return nil, err
	}
	return &sinergiv1.UpdateWeaponStatusResponse{Weapon: w}, nil
}

// incidentHash identifies an incident report's content, as
// reportContentHash does a submission's.
func incidentHash(req *sinergiv1.ReportWeaponIncidentRequest) ([]byte, error) {
	c := proto.Clone(req).(*sinergiv1.ReportWeaponIncidentRequest)
	c.IdempotencyKey = ""
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("sinergi.v1.ReportWeaponIncidentRequest\x00"), b...))
	return sum[:], nil
}

// ReportWeaponIncident files a loss, theft or discharge to the police.
func (s *Firearms) ReportWeaponIncident(ctx context.Context, req *sinergiv1.ReportWeaponIncidentRequest) (*sinergiv1.ReportWeaponIncidentResponse, error) {
	now := s.now()
	if req.GetOccurTime().AsTime().After(now.Add(firearmsClockSkew)) {
		return nil, validate.Error("occur_time", "is in the future")
	}
	hash, err := incidentHash(req)
	if err != nil {
		return nil, status.Error(codes.Internal, "internal error")
	}
	c := caller(ctx)
	a := s.act(ctx, req.GetAccess(), now)
	rep := &sinergiv1.Report{Id: store.NewReportID(now), FacilityCode: c.Institution.GetCode(),
		OccurTime: timestamppb.New(req.GetOccurTime().AsTime().Truncate(time.Microsecond)), Place: req.GetPlace(), Narrative: req.GetNarrative(),
		OperatorId: req.GetAccess().GetOperatorId(), SubmitTime: timestamppb.New(now)}
	var filing *store.ReportFiling
	write := weaponWrite{
		load:     store.WeaponLoad{ReportKey: req.GetIdempotencyKey(), ReportHash: hash},
		subjects: subjects("report/" + rep.GetId()),
		// The report discloses the weapon to each recipient, under the
		// agreements it travels by.
		agreements: func() []string {
			var ids []string
			for _, r := range filing.Report.GetRecipients() {
				ids = append(ids, r.GetAgreementIds()...)
			}
			return ids
		},
		conflict: status.Error(codes.AlreadyExists, "idempotency_key was used for a report with other content: choose a new key for a new report"),
	}
	rs, rr, res, err := s.changeWeapon(ctx, req.GetWeaponId(), write, func(st *store.WeaponState) (*store.WeaponChange, error) {
		filing = firearms.IncidentReport(c.Directory, c.Institution, st.Weapon, req.GetIncident(), req.GetRoundsDischarged(), rep)
		return firearms.Incident(a, st, req.GetIncident(), req.GetRoundsDischarged(), filing)
	})
	if err != nil {
		return nil, err
	}
	id := rep.GetId()
	if res.Replayed != "" {
		id = res.Replayed
	} else {
		s.Log.InfoContext(ctx, "weapon incident reported", "weapon_id", req.GetWeaponId(), "report_id", id, "facility", c.Institution.GetCode(),
			"incident", req.GetIncident().String(), "recipients", len(filing.Report.GetRecipients()))
	}
	w, _, err := s.weapon(ctx, rr, req.GetWeaponId())
	if err != nil {
		return nil, err
	}
	r, err := s.Store.GetReport(ctx, rs.Reports(), id)
	if err != nil {
		return nil, s.firearmsError(ctx, err, errReportNotFound, "report")
	}
	return &sinergiv1.ReportWeaponIncidentResponse{Weapon: w, Report: r, Replayed: res.Replayed != ""}, nil
}

// RecordAmmunition records a change to one of the caller's stocks.
func (s *Firearms) RecordAmmunition(ctx context.Context, req *sinergiv1.RecordAmmunitionRequest) (*sinergiv1.RecordAmmunitionResponse, error) {
	rs, rr, err := firearmsCall(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	a := s.act(ctx, req.GetAccess(), now)
	facility := a.Caller.GetCode()
	calibre := strings.TrimSpace(req.GetCalibre())
	_, err = s.Store.RecordAmmunition(ctx, s.hook(ctx, rs, &facility, subjects()), facility, firearms.CalibreKey(calibre), calibre, now,
		func(current int64, shown string) (int64, store.FirearmEventRow, error) {
			return firearms.Ammunition(a, facility, shown, current, req.GetChange(), req.GetRounds(), req.GetNote())
		})
	if err != nil {
		return nil, s.firearmsError(ctx, err, status.Error(codes.NotFound, "ammunition not found"), "ammunition")
	}
	stocks, err := s.Store.ListAmmunition(ctx, rr, facility)
	if err != nil {
		return nil, s.firearmsError(ctx, err, nil, "ammunition")
	}
	key := firearms.CalibreKey(calibre)
	for _, m := range stocks {
		if firearms.CalibreKey(m.GetCalibre()) == key {
			return &sinergiv1.RecordAmmunitionResponse{Stock: m}, nil
		}
	}
	return nil, status.Error(codes.Internal, "internal error")
}

// ApplyForLicence files an application with the licensing unit.
func (s *Firearms) ApplyForLicence(ctx context.Context, req *sinergiv1.ApplyForLicenceRequest) (*sinergiv1.ApplyForLicenceResponse, error) {
	now := s.now()
	a := s.act(ctx, req.GetAccess(), now)
	id := store.NewFirearmsID(now)
	var rr *restrict.Restriction
	if req.GetKind() == sinergiv1.LicenceKind_LICENCE_KIND_OWNERSHIP {
		var err error
		write := weaponWrite{subjects: subjects("licence/" + id),
			conflict: status.Error(codes.FailedPrecondition, "an application for this weapon is pending already")}
		_, rr, _, err = s.changeWeapon(ctx, req.GetWeaponId(), write, func(st *store.WeaponState) (*store.WeaponChange, error) {
			return firearms.ApplyOwnership(a, st, id, req.GetJustification())
		})
		if err != nil {
			return nil, err
		}
	} else {
		rs, r, err := firearmsCall(ctx)
		if err != nil {
			return nil, err
		}
		rr = r
		l, ev, err := firearms.ApplyHolder(a, id, req.GetHolderNip(), strings.TrimSpace(req.GetHolderName()), req.GetCategory(), req.GetJustification())
		if err != nil {
			return nil, s.firearmsError(ctx, err, errLicenceNotFound, "licence")
		}
		facility := a.Caller.GetCode()
		err = s.Store.CreateLicence(ctx, s.hook(ctx, rs, &facility, subjects("licence/"+id)), l, ev)
		if errors.Is(err, store.ErrConflict) {
			return nil, status.Error(codes.FailedPrecondition, "an application for this officer (holder_nip) and category is pending already")
		}
		if err != nil {
			return nil, s.firearmsError(ctx, err, errLicenceNotFound, "licence")
		}
	}
	l, err := s.licence(ctx, rr, id)
	if err != nil {
		return nil, err
	}
	s.Log.InfoContext(ctx, "licence applied for", "licence_id", id, "kind", l.GetKind().String(), "licensing", l.GetLicensingCode())
	return &sinergiv1.ApplyForLicenceResponse{Licence: l}, nil
}

// decide applies a licensing unit's decision fn to licence id within reach.
func (s *Firearms) decide(ctx context.Context, id string, fn func(st *store.LicenceState) (*store.LicenceChange, error)) (*sinergiv1.FirearmLicence, error) {
	rs, rr, err := firearmsCall(ctx)
	if err != nil {
		return nil, err
	}
	var facility, weapon string
	named := func() []string { return subjects("licence/"+id, "weapon/"+weapon)() }
	_, err = s.Store.UpdateLicence(ctx, nil, s.hook(ctx, rs, &facility, named), rr, id, func(st *store.LicenceState) (*store.LicenceChange, error) {
		facility, weapon = st.Licence.GetFacilityCode(), st.Licence.GetWeaponId()
		return fn(st)
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, status.Error(codes.AlreadyExists, "number: the licensing unit gave this number to another licence")
	}
	if err != nil {
		return nil, s.firearmsError(ctx, err, errLicenceNotFound, "licence")
	}
	return s.licence(ctx, rr, id)
}

func optionalTime(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime().Truncate(time.Microsecond)
}

// ApproveLicence approves an application.
func (s *Firearms) ApproveLicence(ctx context.Context, req *sinergiv1.ApproveLicenceRequest) (*sinergiv1.ApproveLicenceResponse, error) {
	a := s.act(ctx, req.GetAccess(), s.now())
	l, err := s.decide(ctx, req.GetId(), func(st *store.LicenceState) (*store.LicenceChange, error) {
		return firearms.Approve(a, st, strings.TrimSpace(req.GetNumber()), optionalTime(req.GetEffectiveTime()), optionalTime(req.GetExpireTime()), req.GetConditions())
	})
	if err != nil {
		return nil, err
	}
	return &sinergiv1.ApproveLicenceResponse{Licence: l}, nil
}

// RefuseLicence refuses an application.
func (s *Firearms) RefuseLicence(ctx context.Context, req *sinergiv1.RefuseLicenceRequest) (*sinergiv1.RefuseLicenceResponse, error) {
	a := s.act(ctx, req.GetAccess(), s.now())
	l, err := s.decide(ctx, req.GetId(), func(st *store.LicenceState) (*store.LicenceChange, error) {
		return firearms.Refuse(a, st, req.GetReason())
	})
	if err != nil {
		return nil, err
	}
	return &sinergiv1.RefuseLicenceResponse{Licence: l}, nil
}

// RenewLicence extends an approved licence.
func (s *Firearms) RenewLicence(ctx context.Context, req *sinergiv1.RenewLicenceRequest) (*sinergiv1.RenewLicenceResponse, error) {
	a := s.act(ctx, req.GetAccess(), s.now())
	l, err := s.decide(ctx, req.GetId(), func(st *store.LicenceState) (*store.LicenceChange, error) {
		return firearms.Renew(a, st, optionalTime(req.GetExpireTime()), strings.TrimSpace(req.GetNumber()), req.GetConditions())
	})
	if err != nil {
		return nil, err
	}
	return &sinergiv1.RenewLicenceResponse{Licence: l}, nil
}

// RevokeLicence revokes an approved licence.
func (s *Firearms) RevokeLicence(ctx context.Context, req *sinergiv1.RevokeLicenceRequest) (*sinergiv1.RevokeLicenceResponse, error) {
	a := s.act(ctx, req.GetAccess(), s.now())
	l, err := s.decide(ctx, req.GetId(), func(st *store.LicenceState) (*store.LicenceChange, error) {
		return firearms.Revoke(a, st, req.GetReason())
	})
	if err != nil {
		return nil, err
	}
	return &sinergiv1.RevokeLicenceResponse{Licence: l}, nil
}

// lastAssignment is weapon id's newest assignment within reach.
func (s *Firearms) lastAssignment(ctx context.Context, rr *restrict.Restriction, id string) (*sinergiv1.WeaponAssignment, error) {
	list, err := s.Store.ListAssignments(ctx, rr, store.AssignmentFilter{WeaponID: id, Limit: 1})
	if err != nil {
		return nil, s.firearmsError(ctx, err, errWeaponNotFound, "assignment")
	}
	if len(list) == 0 {
		return nil, errWeaponNotFound
	}
	return list[0], nil
}

// IssueWeapon issues a weapon to an officer on duty.
func (s *Firearms) IssueWeapon(ctx context.Context, req *sinergiv1.IssueWeaponRequest) (*sinergiv1.IssueWeaponResponse, error) {
	now := s.now()
	a := s.act(ctx, req.GetAccess(), now)
	id := store.NewFirearmsID(now)
	write := weaponWrite{load: store.WeaponLoad{HolderNIP: req.GetHolderNip()},
		conflict: status.Error(codes.FailedPrecondition, "the weapon was issued to another officer meanwhile: it must be returned first")}
	_, rr, _, err := s.changeWeapon(ctx, req.GetWeaponId(), write, func(st *store.WeaponState) (*store.WeaponChange, error) {
		return firearms.Issue(a, st, id, req.GetHolderNip(), strings.TrimSpace(req.GetDuty()), req.GetRounds())
	})
	if err != nil {
		return nil, err
	}
	as, err := s.lastAssignment(ctx, rr, req.GetWeaponId())
	if err != nil {
		return nil, err
	}
	return &sinergiv1.IssueWeaponResponse{Assignment: as}, nil
}

// ReturnWeapon takes a weapon back into the armoury.
func (s *Firearms) ReturnWeapon(ctx context.Context, req *sinergiv1.ReturnWeaponRequest) (*sinergiv1.ReturnWeaponResponse, error) {
	a := s.act(ctx, req.GetAccess(), s.now())
	_, rr, _, err := s.changeWeapon(ctx, req.GetWeaponId(), weaponWrite{}, func(st *store.WeaponState) (*store.WeaponChange, error) {
		return firearms.Return(a, st, req.GetRoundsReturned(), req.GetNote())
	})
	if err != nil {
		return nil, err
	}
	as, err := s.lastAssignment(ctx, rr, req.GetWeaponId())
	if err != nil {
		return nil, err
	}
	return &sinergiv1.ReturnWeaponResponse{Assignment: as}, nil
}

// RecordInspection records a police inspection of a facility's armoury.
func (s *Firearms) RecordInspection(ctx context.Context, req *sinergiv1.RecordInspectionRequest) (*sinergiv1.RecordInspectionResponse, error) {
	rs, rr, err := firearmsCall(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if req.GetInspectTime().AsTime().After(now.Add(firearmsClockSkew)) {
		return nil, validate.Error("inspect_time", "is in the future")
	}
	a := s.act(ctx, req.GetAccess(), now)
	insp := &sinergiv1.Inspection{Id: store.NewFirearmsID(now), FacilityCode: req.GetFacilityCode(), InspectorCode: a.Caller.GetCode(),
		InspectTime: timestamppb.New(req.GetInspectTime().AsTime().Truncate(time.Microsecond)), InspectorIds: req.GetInspectorIds(),
		Checks: req.GetChecks(), Note: req.GetNote(), OperatorId: a.Operator, RecordTime: timestamppb.New(now)}
	var ids []string
	for _, c := range req.GetChecks() {
		ids = append(ids, c.GetWeaponId())
	}
	for _, ac := range req.GetActions() {
		if ac.GetWeaponId() != "" {
			ids = append(ids, ac.GetWeaponId())
		}
	}
	facility := req.GetFacilityCode()
	named := func() []string {
		out := []string{"inspection/" + insp.GetId()}
		for _, id := range ids {
			if !slices.Contains(out, "weapon/"+id) {
				out = append(out, "weapon/"+id)
			}
		}
		return out
	}
	err = s.Store.CreateInspection(ctx, s.hook(ctx, rs, &facility, named), rr, insp, ids,
		func(weapons store.InspectionWeapons) ([]*sinergiv1.InspectionFinding, []store.FirearmEventRow, error) {
			return firearms.Inspect(a, insp, weapons, req.GetActions(), optionalTime(req.GetResolveByTime()))
		})
	if err != nil {
		return nil, s.firearmsError(ctx, err, status.Error(codes.NotFound, "facility not found"), "inspection")
	}
	s.Log.InfoContext(ctx, "inspection recorded", "inspection_id", insp.GetId(), "facility", facility, "inspector", a.Caller.GetCode(),
		"findings", len(insp.GetFindings()))
	out, err := s.Store.GetInspection(ctx, rr, insp.GetId())
	if err != nil {
		return nil, s.firearmsError(ctx, err, errInspectionNotFound, "inspection")
	}
	return &sinergiv1.RecordInspectionResponse{Inspection: out}, nil
}

// ResolveFinding records how the facility resolved a finding.
func (s *Firearms) ResolveFinding(ctx context.Context, req *sinergiv1.ResolveFindingRequest) (*sinergiv1.ResolveFindingResponse, error) {
	rs, rr, err := firearmsCall(ctx)
	if err != nil {
		return nil, err
	}
	a := s.act(ctx, req.GetAccess(), s.now())
	facility := a.Caller.GetCode()
	err = s.Store.ResolveFinding(ctx, s.hook(ctx, rs, &facility, subjects("inspection/"+req.GetInspectionId())), rr, req.GetInspectionId(), req.GetNumber(),
		func(insp *sinergiv1.Inspection, f *sinergiv1.InspectionFinding) (*store.FindingChange, error) {
			return firearms.Resolve(a, insp, f, req.GetResolution())
		})
	if err != nil {
		return nil, s.firearmsError(ctx, err, status.Error(codes.NotFound, "finding not found"), "finding")
	}
	out, err := s.Store.GetInspection(ctx, rr, req.GetInspectionId())
	if err != nil {
		return nil, s.firearmsError(ctx, err, errInspectionNotFound, "inspection")
	}
	return &sinergiv1.ResolveFindingResponse{Inspection: out}, nil
}

// GetWeapon returns one weapon with its licences.
func (s *Firearms) GetWeapon(ctx context.Context, req *sinergiv1.GetWeaponRequest) (*sinergiv1.GetWeaponResponse, error) {
	_, rr, err := firearmsCall(ctx)
	if err != nil {
		return nil, err
	}
	w, licences, err := s.weapon(ctx, rr, req.GetId())
	if err != nil {
		return nil, err
	}
	return &sinergiv1.GetWeaponResponse{Weapon: w, Licences: licences}, nil
}

// nipDigest stands for an officer's NIP in the query a page token names:
// a token carries its query, and a token is no place for an NIP.
func nipDigest(nip string) string {
	if nip == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("sinergi page token nip\x00" + nip))
	return hex.EncodeToString(sum[:12])
}

type firearmsPosition struct {
	ID  string `json:"i,omitempty"`
	Seq int64  `json:"e,omitempty"`
}

// page opens a page token of query, or starts from the first page.
func (s *Firearms) page(tok, query string) (firearmsPosition, error) {
	var pos firearmsPosition
	if tok == "" {
		return pos, nil
	}
	if err := s.Tokens.Open(tok, query, &pos); err != nil || (pos.ID != "" && !store.IsFirearmsID(pos.ID)) {
		return pos, s.badToken()
	}
	return pos, nil
}

func (s *Firearms) nextPage(query string, more bool, pos firearmsPosition) (string, error) {
	if !more {
		return "", nil
	}
	return s.Tokens.Seal(query, pos)
}

// ListWeapons lists the register within reach, newest first.
func (s *Firearms) ListWeapons(ctx context.Context, req *sinergiv1.ListWeaponsRequest) (*sinergiv1.ListWeaponsResponse, error) {
	_, rr, err := firearmsCall(ctx)
	if err != nil {
		return nil, err
	}
	c := caller(ctx)
	f := store.WeaponFilter{Facility: req.GetFacilityCode(), Category: req.GetCategory(), Status: req.GetStatus()}
	if sn := req.GetSerialNumber(); sn != "" {
		if f.SerialKey = firearms.SerialKey(sn); f.SerialKey == "" {
			return &sinergiv1.ListWeaponsResponse{}, nil
		}
	}
	query := fmt.Sprintf("weapons|%s|%s|%d|%d|%s", c.Institution.GetCode(), f.Facility, f.Category, f.Status, f.SerialKey)
	pos, err := s.page(req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	size := pageSize(req.GetPageSize())
	f.Before, f.Limit = pos.ID, size+1
	list, err := s.Store.ListWeapons(ctx, rr, f)
	if err != nil {
		return nil, s.firearmsError(ctx, err, nil, "weapon")
	}
	resp := &sinergiv1.ListWeaponsResponse{}
	more := len(list) > size
	if more {
		list = list[:size]
	}
	now := s.now()
	for _, rec := range list {
		resp.Weapons = append(resp.Weapons, weaponView(c.Directory, rec, now))
	}
	if more {
		if resp.NextPageToken, err = s.nextPage(query, true, firearmsPosition{ID: list[size-1].Weapon.GetId()}); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// GetLicence returns one licence.
func (s *Firearms) GetLicence(ctx context.Context, req *sinergiv1.GetLicenceRequest) (*sinergiv1.GetLicenceResponse, error) {
	_, rr, err := firearmsCall(ctx)
	if err != nil {
		return nil, err
	}
	l, err := s.licence(ctx, rr, req.GetId())
	if err != nil {
		return nil, err
	}
	return &sinergiv1.GetLicenceResponse{Licence: l}, nil
}

// ListLicences lists licences within reach, newest first.
func (s *Firearms) ListLicences(ctx context.Context, req *sinergiv1.ListLicencesRequest) (*sinergiv1.ListLicencesResponse, error) {
	_, rr, err := firearmsCall(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	f := store.LicenceFilter{Facility: req.GetFacilityCode(), Kind: req.GetKind(), State: req.GetState(), WeaponID: req.GetWeaponId(),
		HolderNIP: req.GetHolderNip(), ExpiringWithin: time.Duration(req.GetExpiringWithinDays()) * 24 * time.Hour, Now: now,
		Window: firearms.ExpiringWindow}
	query := fmt.Sprintf("licences|%s|%s|%d|%d|%d|%s|%s", caller(ctx).Institution.GetCode(), f.Facility, f.Kind, f.State,
		req.GetExpiringWithinDays(), f.WeaponID, nipDigest(f.HolderNIP))
	pos, err := s.page(req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	size := pageSize(req.GetPageSize())
	f.Before, f.Limit = pos.ID, size+1
	list, err := s.Store.ListLicences(ctx, rr, f)
	if err != nil {
		return nil, s.firearmsError(ctx, err, nil, "licence")
	}
	resp := &sinergiv1.ListLicencesResponse{}
	more := len(list) > size
	if more {
		list = list[:size]
		if resp.NextPageToken, err = s.nextPage(query, true, firearmsPosition{ID: list[size-1].GetId()}); err != nil {
			return nil, err
		}
	}
	for _, l := range list {
		resp.Licences = append(resp.Licences, firearms.Settle(l, now))
	}
	return resp, nil
}

// ListAssignments lists assignments within reach, newest first.
func (s *Firearms) ListAssignments(ctx context.Context, req *sinergiv1.ListAssignmentsRequest) (*sinergiv1.ListAssignmentsResponse, error) {
	_, rr, err := firearmsCall(ctx)
	if err != nil {
		return nil, err
	}
	f := store.AssignmentFilter{Facility: req.GetFacilityCode(), WeaponID: req.GetWeaponId(), HolderNIP: req.GetHolderNip(), OpenOnly: req.GetOpenOnly()}
	query := fmt.Sprintf("assignments|%s|%s|%s|%s|%v", caller(ctx).Institution.GetCode(), f.Facility, f.WeaponID, nipDigest(f.HolderNIP), f.OpenOnly)
	pos, err := s.page(req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	size := pageSize(req.GetPageSize())
	f.Before, f.Limit = pos.ID, size+1
	list, err := s.Store.ListAssignments(ctx, rr, f)
	if err != nil {
		return nil, s.firearmsError(ctx, err, nil, "assignment")
	}
	resp := &sinergiv1.ListAssignmentsResponse{}
	if len(list) > size {
		list = list[:size]
		if resp.NextPageToken, err = s.nextPage(query, true, firearmsPosition{ID: list[size-1].GetId()}); err != nil {
			return nil, err
		}
	}
	resp.Assignments = list
	return resp, nil
}

// ListAmmunition lists the stocks within reach.
func (s *Firearms) ListAmmunition(ctx context.Context, req *sinergiv1.ListAmmunitionRequest) (*sinergiv1.ListAmmunitionResponse, error) {
	_, rr, err := firearmsCall(ctx)
	if err != nil {
		return nil, err
	}
	list, err := s.Store.ListAmmunition(ctx, rr, req.GetFacilityCode())
	if err != nil {
		return nil, s.firearmsError(ctx, err, nil, "ammunition")
	}
	return &sinergiv1.ListAmmunitionResponse{Stocks: list}, nil
}

// GetInspection returns one inspection.
func (s *Firearms) GetInspection(ctx context.Context, req *sinergiv1.GetInspectionRequest) (*sinergiv1.GetInspectionResponse, error) {
	_, rr, err := firearmsCall(ctx)
	if err != nil {
		return nil, err
	}
	in, err := s.Store.GetInspection(ctx, rr, req.GetId())
	if err != nil {
		return nil, s.firearmsError(ctx, err, errInspectionNotFound, "inspection")
	}
	return &sinergiv1.GetInspectionResponse{Inspection: in}, nil
}

// ListInspections lists inspections within reach, newest first.
func (s *Firearms) ListInspections(ctx context.Context, req *sinergiv1.ListInspectionsRequest) (*sinergiv1.ListInspectionsResponse, error) {
	_, rr, err := firearmsCall(ctx)
	if err != nil {
		return nil, err
	}
	f := store.InspectionFilter{Facility: req.GetFacilityCode(), OpenFindings: req.GetOpenFindingsOnly()}
	query := fmt.Sprintf("inspections|%s|%s|%v", caller(ctx).Institution.GetCode(), f.Facility, f.OpenFindings)
	pos, err := s.page(req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	size := pageSize(req.GetPageSize())
	f.Before, f.Limit = pos.ID, size+1
	list, err := s.Store.ListInspections(ctx, rr, f)
	if err != nil {
		return nil, s.firearmsError(ctx, err, nil, "inspection")
	}
	resp := &sinergiv1.ListInspectionsResponse{}
	if len(list) > size {
		list = list[:size]
		if resp.NextPageToken, err = s.nextPage(query, true, firearmsPosition{ID: list[size-1].GetId()}); err != nil {
			return nil, err
		}
	}
	resp.Inspections = list
	return resp, nil
}

// ListFirearmEvents lists the register's history within reach, newest first.
func (s *Firearms) ListFirearmEvents(ctx context.Context, req *sinergiv1.ListFirearmEventsRequest) (*sinergiv1.ListFirearmEventsResponse, error) {
	_, rr, err := firearmsCall(ctx)
	if err != nil {
		return nil, err
	}
	f := store.FirearmEventFilter{Facility: req.GetFacilityCode(), WeaponID: req.GetWeaponId(), LicenceID: req.GetLicenceId(), Kind: req.GetKind()}
	query := fmt.Sprintf("firearm-events|%s|%s|%s|%s|%d", caller(ctx).Institution.GetCode(), f.Facility, f.WeaponID, f.LicenceID, f.Kind)
	pos, err := s.page(req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	size := pageSize(req.GetPageSize())
	f.Before, f.Limit = pos.Seq, size+1
	list, err := s.Store.ListFirearmEvents(ctx, rr, f)
	if err != nil {
		return nil, s.firearmsError(ctx, err, nil, "event")
	}
	resp := &sinergiv1.ListFirearmEventsResponse{}
	if len(list) > size {
		list = list[:size]
		if resp.NextPageToken, err = s.nextPage(query, true, firearmsPosition{Seq: list[size-1].GetId()}); err != nil {
			return nil, err
		}
	}
	resp.Events = list
	return resp, nil
}

// FirearmsStats counts the register within reach.
func (s *Firearms) FirearmsStats(ctx context.Context, req *sinergiv1.FirearmsStatsRequest) (*sinergiv1.FirearmsStatsResponse, error) {
	_, rr, err := firearmsCall(ctx)
	if err != nil {
		return nil, err
	}
	dir := caller(ctx).Directory
	var facilities []string
	if p := req.GetRegionPrefix(); p != "" {
		facilities = []string{}
		for _, f := range dir.Facilities() {
			if directory.RegionWithin(f.GetRegionCode(), p) {
				facilities = append(facilities, f.GetCode())
			}
		}
	}
	weapons, licences, err := s.Store.FirearmsStatRows(ctx, rr, req.GetFacilityCode(), facilities)
	if err != nil {
		return nil, s.firearmsError(ctx, err, nil, "statistics")
	}
	return firearms.Stats(dir, weapons, licences, s.now()), nil
}
