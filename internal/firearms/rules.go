package firearms

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/reports"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Act is who makes a change, and when: the calling institution and its
// officer, against the directory as it stands.
type Act struct {
	Dir      *directory.Snapshot
	Caller   *sinergiv1.Institution
	Operator string
	At       time.Time
}

func (a Act) event(kind sinergiv1.FirearmEventKind, facility string) *sinergiv1.FirearmEvent {
	return &sinergiv1.FirearmEvent{Kind: kind, Time: timestamppb.New(a.At), FacilityCode: facility,
		ActorCode: a.Caller.GetCode(), OperatorId: a.Operator}
}

func (a Act) facility(code string) *sinergiv1.Institution {
	if in := a.Dir.Institution(code); in != nil {
		return in
	}
	return &sinergiv1.Institution{Code: code}
}

// Register is the weapon w (identity, armoury, ids and times set) entering
// its facility's register: in service, with its first event.
func Register(a Act, w *sinergiv1.Weapon) store.FirearmEventRow {
	w.Status = sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE
	w.RegisterTime, w.UpdateTime, w.RegisterOperatorId = timestamppb.New(a.At), timestamppb.New(a.At), a.Operator
	ev := a.event(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_WEAPON_REGISTERED, w.GetFacilityCode())
	ev.WeaponId, ev.Status, ev.Note = w.GetId(), w.GetStatus(), w.GetArmoury()
	return store.FirearmEventRow{Event: ev, Audience: weaponAudience(a.Dir, a.facility(w.GetFacilityCode()), w.GetCategory())}
}

// ChangeStatus moves weapon st to status to (unspecified: unchanged) and,
// when armoury is set, to that armoury. Loss and theft are incidents
// (Incident), not status changes. A weapon out with an officer leaves
// service only once returned.
func ChangeStatus(a Act, st *store.WeaponState, to sinergiv1.WeaponStatus, armoury, counterpart, note string) (*store.WeaponChange, error) {
	w := st.Weapon
	if !Held(w.GetStatus()) {
		return nil, refuse("%s is %s: it is no longer in the register", describe(w), statusWord(w.GetStatus()))
	}
	ch := &store.WeaponChange{At: a.At, Armoury: armoury}
	if to != sinergiv1.WeaponStatus_WEAPON_STATUS_UNSPECIFIED {
		switch {
		case to == w.GetStatus():
			return nil, refuse("%s is %s already", describe(w), statusWord(to))
		case !CanMove(w.GetStatus(), to):
			return nil, refuse("%s is %s: it cannot become %s", describe(w), statusWord(w.GetStatus()), statusWord(to))
		case st.Open != nil && to != sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE:
			return nil, refuse("%s is out with an officer (assignment %s): return it first", describe(w), st.Open.GetId())
		case to == sinergiv1.WeaponStatus_WEAPON_STATUS_TRANSFERRED && counterpart == w.GetFacilityCode():
			return nil, refuse("%s cannot be transferred to the facility that holds it", describe(w))
		}
		ch.Status, ch.Counterpart = to, counterpart
	} else if armoury == w.GetArmoury() {
		return nil, refuse("%s is in %q already", describe(w), armoury)
	}
	after := w.GetStatus()
	if ch.Status != sinergiv1.WeaponStatus_WEAPON_STATUS_UNSPECIFIED {
		after = ch.Status
	}
	ev := a.event(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_WEAPON_STATUS_CHANGED, w.GetFacilityCode())
	ev.WeaponId, ev.Status, ev.Note = w.GetId(), after, note
	ch.Events = []store.FirearmEventRow{{Event: ev, Audience: weaponAudience(a.Dir, a.facility(w.GetFacilityCode()), w.GetCategory())}}
	return ch, nil
}

// IncidentSeverity is how urgently the police must acknowledge a weapon
// incident: a firearm lost or stolen is critical (10 minutes), other
// equipment lost or stolen and a firearm discharged high (an hour), other
// equipment discharged medium (a day).
func IncidentSeverity(i sinergiv1.WeaponIncident, c sinergiv1.WeaponCategory) sinergiv1.ReportSeverity {
	gone := i == sinergiv1.WeaponIncident_WEAPON_INCIDENT_LOSS || i == sinergiv1.WeaponIncident_WEAPON_INCIDENT_THEFT
	switch {
	case gone && National(c):
		return sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL
	case gone || National(c):
		return sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH
	}
	return sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM
}

// IncidentType is the report type of a weapon incident.
func IncidentType(i sinergiv1.WeaponIncident) sinergiv1.ReportType {
	switch i {
	case sinergiv1.WeaponIncident_WEAPON_INCIDENT_LOSS:
		return sinergiv1.ReportType_REPORT_TYPE_WEAPON_LOST
	case sinergiv1.WeaponIncident_WEAPON_INCIDENT_THEFT:
		return sinergiv1.ReportType_REPORT_TYPE_WEAPON_STOLEN
	}
	return sinergiv1.ReportType_REPORT_TYPE_WEAPON_DISCHARGED
}

// IncidentReport is what a weapon incident files to the police: a
// firearms report with the weapon's identity attached, routed as reports
// are (internal/reports) to the Polsek, Polres and Polda whose region
// holds the facility, and to Mabes Polri for a firearm, each where an
// agreement in force covers firearms governance. r carries the report's id,
// times, place, narrative and officer; its kind, type, severity,
// classification, items and routing are set here.
func IncidentReport(dir *directory.Snapshot, facility *sinergiv1.Institution, w *sinergiv1.Weapon, i sinergiv1.WeaponIncident,
	rounds int32, r *sinergiv1.Report) *store.ReportFiling {
	r.Kind, r.Type = sinergiv1.ReportKind_REPORT_KIND_FIREARMS, IncidentType(i)
	r.Severity = IncidentSeverity(i, w.GetCategory())
	r.Classification = sinergiv1.ReportClassification_REPORT_CLASSIFICATION_TERBATAS
	r.Status = sinergiv1.ReportStatus_REPORT_STATUS_SUBMITTED
	r.AuthorCode = r.GetFacilityCode()
	r.Items = []*sinergiv1.ReportItem{{Item: &sinergiv1.ReportItem_Weapon{Weapon: &sinergiv1.ReportWeaponItem{
		WeaponId: w.GetId(), Category: w.GetCategory(), Make: w.GetMake(), Model: w.GetModel(), Calibre: w.GetCalibre(),
		SerialNumber: w.GetSerialNumber(), RoundsDischarged: rounds}}}}
	routing := reports.RouteTo(dir, facility, r.GetKind(), r.GetSeverity(), National(w.GetCategory()), r.GetSubmitTime().AsTime())
	r.Recipients, r.RoutingMisses = routing.Recipients, routing.Misses
	if len(routing.Misses) > 0 {
		// As any report some unit could not receive: the facility's
		// regional office is alerted and observes it.
		if k := reports.KanwilOf(dir, facility); k != nil {
			r.ObserverCodes = []string{k.GetCode()}
		}
	}
	return &store.ReportFiling{Report: r, Scope: reports.ScopeOf(r.GetKind())}
}

// Incident is a loss, theft or discharge of weapon st, reported with
// report (IncidentReport). A lost or stolen weapon leaves service, and an
// assignment open at the time closes with nothing returned; a discharge
// counts its rounds against the open assignment, or the armoury's stock
// when the weapon was not out.
func Incident(a Act, st *store.WeaponState, i sinergiv1.WeaponIncident, rounds int32, report *store.ReportFiling) (*store.WeaponChange, error) {
	w := st.Weapon
	if !Held(w.GetStatus()) {
		return nil, refuse("%s is %s: it is no longer in the register", describe(w), statusWord(w.GetStatus()))
	}
	ch := &store.WeaponChange{At: a.At, Report: report}
	ev := a.event(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_WEAPON_INCIDENT_REPORTED, w.GetFacilityCode())
	ev.WeaponId, ev.ReportId, ev.Status = w.GetId(), report.Report.GetId(), w.GetStatus()
	switch i {
	case sinergiv1.WeaponIncident_WEAPON_INCIDENT_LOSS, sinergiv1.WeaponIncident_WEAPON_INCIDENT_THEFT:
		to := sinergiv1.WeaponStatus_WEAPON_STATUS_LOST
		ev.Note = "lost"
		if i == sinergiv1.WeaponIncident_WEAPON_INCIDENT_THEFT {
			to, ev.Note = sinergiv1.WeaponStatus_WEAPON_STATUS_STOLEN, "stolen"
		}
		if w.GetStatus() == sinergiv1.WeaponStatus_WEAPON_STATUS_LOST || w.GetStatus() == sinergiv1.WeaponStatus_WEAPON_STATUS_STOLEN {
			return nil, refuse("%s is reported %s already", describe(w), statusWord(w.GetStatus()))
		}
		ch.Status, ev.Status = to, to
		if st.Open != nil {
			ch.Return = &sinergiv1.WeaponAssignment{ReturnOperatorId: a.Operator, ReturnNote: "not returned: " + ev.Note + " (report " + report.Report.GetId() + ")"}
			ev.AssignmentId = st.Open.GetId()
		}
	case sinergiv1.WeaponIncident_WEAPON_INCIDENT_DISCHARGE:
		if w.GetStatus() == sinergiv1.WeaponStatus_WEAPON_STATUS_LOST || w.GetStatus() == sinergiv1.WeaponStatus_WEAPON_STATUS_STOLEN {
			return nil, refuse("%s is %s: report its recovery (UpdateWeaponStatus) before a discharge", describe(w), statusWord(w.GetStatus()))
		}
		ev.Note, ev.Calibre, ev.Rounds = "discharged", w.GetCalibre(), -int64(rounds)
		if o := st.Open; o != nil {
			if left := o.GetRoundsIssued() - o.GetRoundsDischarged(); rounds > left {
				return nil, refuse("%s was issued with %d rounds of which %d are unaccounted for: %d cannot have been fired",
					describe(w), o.GetRoundsIssued(), left, rounds)
			}
			ch.Discharged, ev.AssignmentId = rounds, o.GetId()
		} else {
			if int64(rounds) > st.Stock {
				return nil, refuse("%s was in the armoury, which holds %d rounds of %s: %d cannot have been fired", describe(w), st.Stock, w.GetCalibre(), rounds)
			}
			left := st.Stock - int64(rounds)
			ch.Stock, ev.Stock = &left, left
		}
	}
	ch.Events = []store.FirearmEventRow{{Event: ev, Audience: weaponAudience(a.Dir, a.facility(w.GetFacilityCode()), w.GetCategory())}}
	return ch, nil
}

// Issue is weapon st issued to the officer holderNIP for duty, with rounds
// of its calibre, as assignment id. It needs the weapon in service and in
// the armoury, an ownership licence in force, a holder licence in force for
// the officer and the weapon's category at its facility (st.Holder), and
// the rounds in stock; each refusal names what is missing.
func Issue(a Act, st *store.WeaponState, id, holderNIP, duty string, rounds int32) (*store.WeaponChange, error) {
	w := st.Weapon
	switch {
	case w.GetStatus() != sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE:
		return nil, refuse("%s is %s: only a weapon in service is issued", describe(w), statusWord(w.GetStatus()))
	case st.Open != nil:
		return nil, refuse("%s is out with an officer since %s (assignment %s): it must be returned first",
			describe(w), day(st.Open.GetIssueTime().AsTime()), st.Open.GetId())
	}
	own, ownState := Current(st.Licences, a.At)
	if !InForce(ownState) {
		return nil, refuse("%s has no valid ownership licence: %s", describe(w), whyNotInForce(own, ownState))
	}
	var forCategory []*sinergiv1.FirearmLicence
	for _, l := range st.Holder {
		if l.GetHolderNip() == holderNIP && l.GetCategory() == w.GetCategory() {
			forCategory = append(forCategory, l)
		}
	}
	holder, holderState := Current(forCategory, a.At)
	if !InForce(holderState) {
		return nil, refuse("the officer (holder_nip) has no valid holder licence for a %s at %s: %s",
			CategoryName(w.GetCategory()), w.GetFacilityCode(), whyNotInForce(holder, holderState))
	}
	ch := &store.WeaponChange{At: a.At}
	ev := a.event(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_WEAPON_ISSUED, w.GetFacilityCode())
	ev.WeaponId, ev.AssignmentId, ev.Status, ev.LicenceId = w.GetId(), id, w.GetStatus(), own.GetId()
	if rounds > 0 {
		switch {
		case w.GetCalibre() == "":
			return nil, refuse("%s takes no ammunition", describe(w))
		case int64(rounds) > st.Stock:
			return nil, refuse("the armoury holds %d rounds of %s: %d cannot be issued", st.Stock, w.GetCalibre(), rounds)
		}
		left := st.Stock - int64(rounds)
		ch.Stock = &left
		ev.Calibre, ev.Rounds, ev.Stock = w.GetCalibre(), -int64(rounds), left
	}
	ch.Issue = &sinergiv1.WeaponAssignment{Id: id, WeaponId: w.GetId(), FacilityCode: w.GetFacilityCode(), HolderNip: holderNIP,
		HolderName: holder.GetHolderName(), HolderLicenceId: holder.GetId(), OwnershipLicenceId: own.GetId(), Duty: duty,
		Calibre: w.GetCalibre(), RoundsIssued: rounds, IssueTime: timestamppb.New(a.At), IssueOperatorId: a.Operator}
	ch.Events = []store.FirearmEventRow{{Event: ev, Audience: Audience(w.GetFacilityCode())}}
	return ch, nil
}

// Return is weapon st coming back to the armoury with returned rounds:
// every round issued comes back or was reported discharged.
func Return(a Act, st *store.WeaponState, returned int32, note string) (*store.WeaponChange, error) {
	w, o := st.Weapon, st.Open
	if o == nil {
		return nil, refuse("%s is in the armoury: it was not issued", describe(w))
	}
	switch out := o.GetRoundsIssued() - o.GetRoundsDischarged(); {
	case returned > out:
		return nil, refuse("%s was issued with %d rounds, %d reported discharged: %d cannot come back", describe(w),
			o.GetRoundsIssued(), o.GetRoundsDischarged(), returned)
	case returned < out:
		return nil, refuse("%d of the %d rounds issued with %s are unaccounted for: report their discharge (ReportWeaponIncident) before the return",
			out-returned, o.GetRoundsIssued(), describe(w))
	}
	ch := &store.WeaponChange{At: a.At, Return: &sinergiv1.WeaponAssignment{ReturnOperatorId: a.Operator, RoundsReturned: returned, ReturnNote: note}}
	ev := a.event(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_WEAPON_RETURNED, w.GetFacilityCode())
	ev.WeaponId, ev.AssignmentId, ev.Status, ev.Note = w.GetId(), o.GetId(), w.GetStatus(), note
	if returned > 0 {
		total := st.Stock + int64(returned)
		ch.Stock = &total
		ev.Calibre, ev.Rounds, ev.Stock = w.GetCalibre(), int64(returned), total
	}
	ch.Events = []store.FirearmEventRow{{Event: ev, Audience: Audience(w.GetFacilityCode())}}
	return ch, nil
}

// Ammunition is a stock of current rounds after change by rounds; the
// event's calibre is the stock's as shown.
func Ammunition(a Act, facility, shown string, current int64, change sinergiv1.AmmunitionChange, rounds int64, note string) (int64, store.FirearmEventRow, error) {
	after := current
	switch change {
	case sinergiv1.AmmunitionChange_AMMUNITION_CHANGE_RECEIVED:
		after = current + rounds
	case sinergiv1.AmmunitionChange_AMMUNITION_CHANGE_EXPENDED, sinergiv1.AmmunitionChange_AMMUNITION_CHANGE_DISPOSED:
		if rounds > current {
			return 0, store.FirearmEventRow{}, refuse("the armoury holds %d rounds of %s: %d cannot leave it", current, shown, rounds)
		}
		after = current - rounds
	case sinergiv1.AmmunitionChange_AMMUNITION_CHANGE_COUNTED:
		after = rounds
	}
	ev := a.event(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_AMMUNITION_RECORDED, facility)
	ev.Calibre, ev.Rounds, ev.Stock = shown, after-current, after
	ev.Note = fmt.Sprintf("%s: %s", changeWord(change), note)
	return after, store.FirearmEventRow{Event: ev, Audience: Audience(facility, codeOf(RegionalUnit(a.Dir, a.facility(facility))))}, nil
}

func changeWord(c sinergiv1.AmmunitionChange) string {
	switch c {
	case sinergiv1.AmmunitionChange_AMMUNITION_CHANGE_RECEIVED:
		return "received"
	case sinergiv1.AmmunitionChange_AMMUNITION_CHANGE_EXPENDED:
		return "expended"
	case sinergiv1.AmmunitionChange_AMMUNITION_CHANGE_DISPOSED:
		return "disposed of"
	}
	return "counted"
}
