package firearms

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// ResolveWithin is how long a facility has to resolve an inspection's
// discrepancies when the inspectors set no deadline.
const ResolveWithin = 30 * 24 * time.Hour

// UnknownWeapons is an inspection naming weapons its facility does not
// hold: the request's fields, each answered as one answer (a weapon of
// another facility reads as none).
type UnknownWeapons struct{ Fields []string }

func (e *UnknownWeapons) Error() string {
	return "no weapon held by the inspected facility has the id of " + strings.Join(e.Fields, ", ")
}

// Inspect decides what inspection insp (its checks set) raises, given the
// facility's weapons it names (held, as read under lock), the follow-up
// actions and the deadline for discrepancies (zero: ResolveWithin after the
// inspection): a finding for each weapon missing, each serial number that
// does not match and each weapon in service found unfit, and one for each
// action; with their events, told to the facility, the inspecting unit
// and the regional unit.
func Inspect(a Act, insp *sinergiv1.Inspection, weapons store.InspectionWeapons, actions []*sinergiv1.FollowUpAction, resolveBy time.Time) ([]*sinergiv1.InspectionFinding, []store.FirearmEventRow, error) {
	var unknown []string
	held := func(id string) *sinergiv1.Weapon {
		if w := weapons[id]; w != nil && Held(w.GetStatus()) {
			return w
		}
		return nil
	}
	for i, c := range insp.GetChecks() {
		if held(c.GetWeaponId()) == nil {
			unknown = append(unknown, fmt.Sprintf("checks[%d].weapon_id", i))
		}
	}
	for i, ac := range actions {
		if ac.GetWeaponId() != "" && held(ac.GetWeaponId()) == nil {
			unknown = append(unknown, fmt.Sprintf("actions[%d].weapon_id", i))
		}
	}
	if len(unknown) > 0 {
		return nil, nil, &UnknownWeapons{Fields: unknown}
	}
	if resolveBy.IsZero() {
		resolveBy = insp.GetInspectTime().AsTime().Add(ResolveWithin)
	}
	var findings []*sinergiv1.InspectionFinding
	raise := func(weapon string, kind sinergiv1.FindingKind, desc string, due time.Time) {
		findings = append(findings, &sinergiv1.InspectionFinding{Number: int32(len(findings) + 1), WeaponId: weapon, Kind: kind,
			Description: desc, DueTime: timestamppb.New(due), Status: sinergiv1.FindingStatus_FINDING_STATUS_OPEN})
	}
	for _, c := range insp.GetChecks() {
		w := held(c.GetWeaponId())
		switch {
		case c.GetResult() == sinergiv1.CheckResult_CHECK_RESULT_MISSING:
			raise(w.GetId(), sinergiv1.FindingKind_FINDING_KIND_MISSING, describe(w)+" was not found"+notes(c.GetNote()), resolveBy)
		case c.GetResult() == sinergiv1.CheckResult_CHECK_RESULT_SERIAL_MISMATCH:
			raise(w.GetId(), sinergiv1.FindingKind_FINDING_KIND_SERIAL_MISMATCH, describe(w)+": the serial number on the weapon does not match the register"+notes(c.GetNote()), resolveBy)
		case w.GetStatus() == sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE && (c.GetCondition() == sinergiv1.WeaponCondition_WEAPON_CONDITION_NEEDS_REPAIR ||
			c.GetCondition() == sinergiv1.WeaponCondition_WEAPON_CONDITION_UNSERVICEABLE):
			word := "needs repair"
			if c.GetCondition() == sinergiv1.WeaponCondition_WEAPON_CONDITION_UNSERVICEABLE {
				word = "is unserviceable"
			}
			raise(w.GetId(), sinergiv1.FindingKind_FINDING_KIND_CONDITION, describe(w)+" is in service but "+word+notes(c.GetNote()), resolveBy)
		}
	}
	for _, ac := range actions {
		raise(ac.GetWeaponId(), sinergiv1.FindingKind_FINDING_KIND_FOLLOW_UP, ac.GetDescription(), ac.GetDueTime().AsTime())
	}
	audience := inspectionAudience(a, insp)
	ev := a.event(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_INSPECTION_RECORDED, insp.GetFacilityCode())
	ev.InspectionId = insp.GetId()
	ev.Note = fmt.Sprintf("%d weapons checked, %d findings", len(insp.GetChecks()), len(findings))
	events := []store.FirearmEventRow{{Event: ev, Audience: audience}}
	for _, f := range findings {
		fe := a.event(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_FINDING_RAISED, insp.GetFacilityCode())
		fe.InspectionId, fe.FindingNumber, fe.WeaponId, fe.Note = insp.GetId(), f.GetNumber(), f.GetWeaponId(), f.GetDescription()
		events = append(events, store.FirearmEventRow{Event: fe, Audience: audience})
	}
	return findings, events, nil
}

func notes(n string) string {
	if n == "" {
		return ""
	}
	return " (" + n + ")"
}

// Resolve is the inspected facility resolving finding f of insp with resolution.
func Resolve(a Act, insp *sinergiv1.Inspection, f *sinergiv1.InspectionFinding, resolution string) (*store.FindingChange, error) {
	switch {
	case a.Caller.GetCode() != insp.GetFacilityCode():
		return nil, refuse("finding %d of inspection %s is resolved by the inspected facility, %s", f.GetNumber(), insp.GetId(), insp.GetFacilityCode())
	case f.GetStatus() == sinergiv1.FindingStatus_FINDING_STATUS_RESOLVED:
		return nil, refuse("finding %d of inspection %s was resolved on %s", f.GetNumber(), insp.GetId(), day(f.GetResolveTime().AsTime()))
	}
	ev := a.event(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_FINDING_RESOLVED, insp.GetFacilityCode())
	ev.InspectionId, ev.FindingNumber, ev.WeaponId, ev.Note = insp.GetId(), f.GetNumber(), f.GetWeaponId(), resolution
	return &store.FindingChange{Resolution: resolution, Operator: a.Operator, At: a.At,
		Events: []store.FirearmEventRow{{Event: ev, Audience: inspectionAudience(a, insp)}}}, nil
}

// inspectionAudience: an inspection, its findings and their resolution are
// told to the facility, the inspecting unit and the regional unit (the
// Polda that licenses the facility's security equipment).
func inspectionAudience(a Act, insp *sinergiv1.Inspection) []string {
	return Audience(insp.GetFacilityCode(), insp.GetInspectorCode(), codeOf(RegionalUnit(a.Dir, a.facility(insp.GetFacilityCode()))))
}
