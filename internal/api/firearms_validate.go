package api

import (
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/firearms"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Limits of the firearms register's fields.
const (
	firearmsMaxName        = 100
	firearmsMaxCalibre     = 32
	firearmsMaxSerial      = 64
	firearmsMaxPlace       = 200
	firearmsMaxNote        = 1000
	firearmsMaxLong        = 2000
	firearmsMaxNumber      = 64
	firearmsMaxRounds      = 1000
	firearmsMaxStock       = 10_000_000
	firearmsMaxChecks      = 500
	firearmsMaxActions     = 50
	firearmsMaxInspectors  = 20
	firearmsMaxHolderName  = 120
	firearmsMaxWithinDays  = 366
	firearmsMaxCheckNote   = 500
	firearmsMaxAcquisition = 200
)

func init() {
	// The register's messages in responses are audit subjects, owned by
	// the facility whose register they are: a weapon (also through its
	// assignments and events), a licence, an inspection.
	authz.RegisterSubject("sinergi.v1.Weapon", authz.SubjectWeapon, "id", "facility_code")
	authz.RegisterSubject("sinergi.v1.WeaponAssignment", authz.SubjectWeapon, "weapon_id", "facility_code")
	authz.RegisterSubject("sinergi.v1.FirearmEvent", authz.SubjectWeapon, "weapon_id", "facility_code")
	authz.RegisterSubject("sinergi.v1.FirearmLicence", authz.SubjectLicence, "id", "facility_code")
	authz.RegisterSubject("sinergi.v1.Inspection", authz.SubjectInspection, "id", "facility_code")

	validate.Limit("sinergi.v1.ReportWeaponIncidentRequest.narrative", 4*reportMaxNarrative)

	validate.Register(func(r *sinergiv1.RegisterWeaponRequest, v *validate.Violations) {
		firearmsCheckCategory(v, "category", r.GetCategory(), true)
		reportCheckText(v, "make", r.GetMake(), firearmsMaxName, true, false)
		reportCheckText(v, "model", r.GetModel(), firearmsMaxName, true, false)
		reportCheckText(v, "calibre", r.GetCalibre(), firearmsMaxCalibre, firearms.NeedsCalibre(r.GetCategory()), false)
		reportCheckText(v, "serial_number", r.GetSerialNumber(), firearmsMaxSerial, true, false)
		if r.GetSerialNumber() != "" && firearms.SerialKey(r.GetSerialNumber()) == "" {
			v.Add("serial_number", "must contain letters or digits")
		}
		if r.GetMake() != "" && firearms.MakeKey(r.GetMake()) == "" {
			v.Add("make", "must contain letters or digits")
		}
		if a := r.GetAcquisition(); a != nil {
			firearmsCheckTime(v, "acquisition.acquire_time", a.GetAcquireTime(), false)
			reportCheckText(v, "acquisition.source", a.GetSource(), firearmsMaxAcquisition, false, false)
			reportCheckText(v, "acquisition.document", a.GetDocument(), firearmsMaxAcquisition, false, false)
		}
		reportCheckText(v, "armoury", r.GetArmoury(), firearmsMaxPlace, true, false)
	})
	validate.Register(func(r *sinergiv1.UpdateWeaponStatusRequest, v *validate.Violations) {
		firearmsCheckID(v, "id", r.GetId(), true)
		reportCheckEnum(v, "status", sinergiv1.WeaponStatus_name, int32(r.GetStatus()), false, "")
		switch r.GetStatus() {
		case sinergiv1.WeaponStatus_WEAPON_STATUS_LOST, sinergiv1.WeaponStatus_WEAPON_STATUS_STOLEN:
			v.Add("status", "a loss or theft is reported with ReportWeaponIncident, which tells the police")
		case sinergiv1.WeaponStatus_WEAPON_STATUS_UNSPECIFIED:
			if r.GetArmoury() == "" {
				v.Add("status", "give a new status, a new armoury, or both")
			}
		}
		reportCheckText(v, "armoury", r.GetArmoury(), firearmsMaxPlace, false, false)
		if r.GetStatus() == sinergiv1.WeaponStatus_WEAPON_STATUS_TRANSFERRED {
			if !validate.Code.MatchString(r.GetCounterpartCode()) {
				v.Add("counterpart_code", "required for a transfer: the code of the institution it goes to")
			}
		} else if r.GetCounterpartCode() != "" {
			v.Add("counterpart_code", "only for a transfer (status WEAPON_STATUS_TRANSFERRED)")
		}
		reportCheckText(v, "note", r.GetNote(), firearmsMaxNote, true, true)
	})
	validate.Register(func(r *sinergiv1.ReportWeaponIncidentRequest, v *validate.Violations) {
		if !reportKeyPattern.MatchString(r.GetIdempotencyKey()) {
			v.Add("idempotency_key", "required: 8 to 128 characters of A-Z a-z 0-9 . _ : -, reused when you retry this report")
		}
		firearmsCheckID(v, "weapon_id", r.GetWeaponId(), true)
		reportCheckEnum(v, "incident", sinergiv1.WeaponIncident_name, int32(r.GetIncident()), true, "required: loss, theft or discharge")
		firearmsCheckTime(v, "occur_time", r.GetOccurTime(), true)
		reportCheckText(v, "place", r.GetPlace(), reportMaxPlace, true, false)
		reportCheckText(v, "narrative", r.GetNarrative(), reportMaxNarrative, true, true)
		if r.GetIncident() == sinergiv1.WeaponIncident_WEAPON_INCIDENT_DISCHARGE {
			v.Check(r.GetRoundsDischarged() >= 1 && r.GetRoundsDischarged() <= firearmsMaxRounds, "rounds_discharged",
				"a discharge fires 1 to %d rounds", firearmsMaxRounds)
		} else {
			v.Check(r.GetRoundsDischarged() == 0, "rounds_discharged", "only for a discharge")
		}
	})
	validate.Register(func(r *sinergiv1.RecordAmmunitionRequest, v *validate.Violations) {
		reportCheckText(v, "calibre", r.GetCalibre(), firearmsMaxCalibre, true, false)
		if r.GetCalibre() != "" && firearms.CalibreKey(r.GetCalibre()) == "" {
			v.Add("calibre", "required")
		}
		reportCheckEnum(v, "change", sinergiv1.AmmunitionChange_name, int32(r.GetChange()), true, "required")
		min := int64(1)
		if r.GetChange() == sinergiv1.AmmunitionChange_AMMUNITION_CHANGE_COUNTED {
			min = 0
		}
		v.Check(r.GetRounds() >= min && r.GetRounds() <= firearmsMaxStock, "rounds", "must be %d to %d", min, firearmsMaxStock)
		reportCheckText(v, "note", r.GetNote(), firearmsMaxNote, false, true)
	})
	validate.Register(func(r *sinergiv1.ApplyForLicenceRequest, v *validate.Violations) {
		reportCheckEnum(v, "kind", sinergiv1.LicenceKind_name, int32(r.GetKind()), true, "required: ownership (a weapon) or holder (an officer)")
		switch r.GetKind() {
		case sinergiv1.LicenceKind_LICENCE_KIND_OWNERSHIP:
			firearmsCheckID(v, "weapon_id", r.GetWeaponId(), true)
			v.Check(r.GetHolderNip() == "", "holder_nip", "only for a holder licence")
			v.Check(r.GetHolderName() == "", "holder_name", "only for a holder licence")
			v.Check(r.GetCategory() == sinergiv1.WeaponCategory_WEAPON_CATEGORY_UNSPECIFIED, "category", "an ownership licence takes its weapon's category: leave unset")
		case sinergiv1.LicenceKind_LICENCE_KIND_HOLDER:
			v.Check(r.GetWeaponId() == "", "weapon_id", "only for an ownership licence")
			firearmsCheckNIP(v, "holder_nip", r.GetHolderNip(), true)
			reportCheckText(v, "holder_name", r.GetHolderName(), firearmsMaxHolderName, true, false)
			firearmsCheckCategory(v, "category", r.GetCategory(), true)
		}
		reportCheckText(v, "justification", r.GetJustification(), firearmsMaxNote, false, true)
	})
	validate.Register(func(r *sinergiv1.ApproveLicenceRequest, v *validate.Violations) {
		firearmsCheckID(v, "id", r.GetId(), true)
		reportCheckText(v, "number", r.GetNumber(), firearmsMaxNumber, true, false)
		firearmsCheckTime(v, "effective_time", r.GetEffectiveTime(), false)
		firearmsCheckTime(v, "expire_time", r.GetExpireTime(), true)
		reportCheckText(v, "conditions", r.GetConditions(), firearmsMaxLong, false, true)
	})
	validate.Register(func(r *sinergiv1.RefuseLicenceRequest, v *validate.Violations) {
		firearmsCheckID(v, "id", r.GetId(), true)
		reportCheckText(v, "reason", r.GetReason(), firearmsMaxNote, true, true)
	})
	validate.Register(func(r *sinergiv1.RenewLicenceRequest, v *validate.Violations) {
		firearmsCheckID(v, "id", r.GetId(), true)
		firearmsCheckTime(v, "expire_time", r.GetExpireTime(), true)
		reportCheckText(v, "number", r.GetNumber(), firearmsMaxNumber, false, false)
		reportCheckText(v, "conditions", r.GetConditions(), firearmsMaxLong, false, true)
	})
	validate.Register(func(r *sinergiv1.RevokeLicenceRequest, v *validate.Violations) {
		firearmsCheckID(v, "id", r.GetId(), true)
		reportCheckText(v, "reason", r.GetReason(), firearmsMaxNote, true, true)
	})
	validate.Register(func(r *sinergiv1.IssueWeaponRequest, v *validate.Violations) {
		firearmsCheckID(v, "weapon_id", r.GetWeaponId(), true)
		firearmsCheckNIP(v, "holder_nip", r.GetHolderNip(), true)
		reportCheckText(v, "duty", r.GetDuty(), firearmsMaxPlace, true, false)
		v.Check(r.GetRounds() >= 0 && r.GetRounds() <= firearmsMaxRounds, "rounds", "must be 0 to %d", firearmsMaxRounds)
	})
	validate.Register(func(r *sinergiv1.ReturnWeaponRequest, v *validate.Violations) {
		firearmsCheckID(v, "weapon_id", r.GetWeaponId(), true)
		v.Check(r.GetRoundsReturned() >= 0 && r.GetRoundsReturned() <= firearmsMaxRounds, "rounds_returned", "must be 0 to %d", firearmsMaxRounds)
		reportCheckText(v, "note", r.GetNote(), firearmsMaxNote, false, true)
	})
	validate.Register(checkRecordInspection)
	validate.Register(func(r *sinergiv1.ResolveFindingRequest, v *validate.Violations) {
		firearmsCheckID(v, "inspection_id", r.GetInspectionId(), true)
		v.Check(r.GetNumber() >= 1, "number", "must be a finding's number, from 1")
		reportCheckText(v, "resolution", r.GetResolution(), firearmsMaxLong, true, true)
	})
	validate.Register(func(r *sinergiv1.GetWeaponRequest, v *validate.Violations) {
		firearmsCheckID(v, "id", r.GetId(), true)
	})
	validate.Register(func(r *sinergiv1.ListWeaponsRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
		reportCheckFacility(v, r.GetFacilityCode())
		firearmsCheckCategory(v, "category", r.GetCategory(), false)
		reportCheckEnum(v, "status", sinergiv1.WeaponStatus_name, int32(r.GetStatus()), false, "")
		reportCheckText(v, "serial_number", r.GetSerialNumber(), firearmsMaxSerial, false, false)
	})
	validate.Register(func(r *sinergiv1.GetLicenceRequest, v *validate.Violations) {
		firearmsCheckID(v, "id", r.GetId(), true)
	})
	validate.Register(func(r *sinergiv1.ListLicencesRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
		reportCheckFacility(v, r.GetFacilityCode())
		reportCheckEnum(v, "kind", sinergiv1.LicenceKind_name, int32(r.GetKind()), false, "")
		reportCheckEnum(v, "state", sinergiv1.LicenceState_name, int32(r.GetState()), false, "")
		v.Check(r.GetState() != sinergiv1.LicenceState_LICENCE_STATE_NONE, "state", "a licence is never in state NONE (a weapon without one is)")
		v.Check(r.GetExpiringWithinDays() >= 0 && r.GetExpiringWithinDays() <= firearmsMaxWithinDays, "expiring_within_days",
			"must be 1 to %d, or 0 for any", firearmsMaxWithinDays)
		firearmsCheckID(v, "weapon_id", r.GetWeaponId(), false)
		firearmsCheckNIP(v, "holder_nip", r.GetHolderNip(), false)
	})
	validate.Register(func(r *sinergiv1.ListAssignmentsRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
		reportCheckFacility(v, r.GetFacilityCode())
		firearmsCheckID(v, "weapon_id", r.GetWeaponId(), false)
		firearmsCheckNIP(v, "holder_nip", r.GetHolderNip(), false)
	})
	validate.Register(func(r *sinergiv1.ListAmmunitionRequest, v *validate.Violations) {
		reportCheckFacility(v, r.GetFacilityCode())
	})
	validate.Register(func(r *sinergiv1.GetInspectionRequest, v *validate.Violations) {
		firearmsCheckID(v, "id", r.GetId(), true)
	})
	validate.Register(func(r *sinergiv1.ListInspectionsRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
		reportCheckFacility(v, r.GetFacilityCode())
	})
	validate.Register(func(r *sinergiv1.ListFirearmEventsRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
		reportCheckFacility(v, r.GetFacilityCode())
		firearmsCheckID(v, "weapon_id", r.GetWeaponId(), false)
		firearmsCheckID(v, "licence_id", r.GetLicenceId(), false)
		reportCheckEnum(v, "kind", sinergiv1.FirearmEventKind_name, int32(r.GetKind()), false, "")
	})
	validate.Register(func(r *sinergiv1.WatchFirearmsRequest, v *validate.Violations) {
		v.Check(len(r.GetCursor()) <= 1024, "cursor", "not a cursor of this watch")
	})
	validate.Register(func(r *sinergiv1.FirearmsStatsRequest, v *validate.Violations) {
		reportCheckFacility(v, r.GetFacilityCode())
		v.Check(r.GetRegionPrefix() == "" || validate.RegionCode.MatchString(r.GetRegionPrefix()), "region_prefix",
			"must be a region code such as 33 or 64.02")
	})
}

func checkRecordInspection(r *sinergiv1.RecordInspectionRequest, v *validate.Violations) {
	if !validate.Code.MatchString(r.GetFacilityCode()) {
		v.Add("facility_code", "required: the code of the facility inspected")
	}
	firearmsCheckTime(v, "inspect_time", r.GetInspectTime(), true)
	ids := r.GetInspectorIds()
	switch {
	case len(ids) == 0:
		v.Add("inspector_ids", "required: the inspectors' NRPs")
	case len(ids) > firearmsMaxInspectors:
		v.Add("inspector_ids", "at most %d", firearmsMaxInspectors)
	}
	seenNRP := map[string]bool{}
	for i, id := range ids {
		f := fmt.Sprintf("inspector_ids[%d]", i)
		switch {
		case len(id) != 8 || !authz.OperatorIDValid(id):
			v.Add(f, "must be a police officer's NRP (8 digits)")
		case seenNRP[id]:
			v.Add(f, "given twice")
		}
		seenNRP[id] = true
	}
	switch {
	case len(r.GetChecks()) == 0:
		v.Add("checks", "required: the weapons checked")
	case len(r.GetChecks()) > firearmsMaxChecks:
		v.Add("checks", "at most %d", firearmsMaxChecks)
	}
	seen := map[string]bool{}
	for i, c := range r.GetChecks() {
		f := fmt.Sprintf("checks[%d]", i)
		firearmsCheckID(v, f+".weapon_id", c.GetWeaponId(), true)
		if seen[c.GetWeaponId()] && c.GetWeaponId() != "" {
			v.Add(f+".weapon_id", "checked twice")
		}
		seen[c.GetWeaponId()] = true
		reportCheckEnum(v, f+".result", sinergiv1.CheckResult_name, int32(c.GetResult()), true, "required: present, serial mismatch or missing")
		reportCheckEnum(v, f+".condition", sinergiv1.WeaponCondition_name, int32(c.GetCondition()), false, "")
		switch {
		case c.GetResult() == sinergiv1.CheckResult_CHECK_RESULT_MISSING && c.GetCondition() != sinergiv1.WeaponCondition_WEAPON_CONDITION_UNSPECIFIED:
			v.Add(f+".condition", "a missing weapon has no condition")
		case c.GetResult() != sinergiv1.CheckResult_CHECK_RESULT_MISSING && c.GetResult() != sinergiv1.CheckResult_CHECK_RESULT_UNSPECIFIED &&
			c.GetCondition() == sinergiv1.WeaponCondition_WEAPON_CONDITION_UNSPECIFIED:
			v.Add(f+".condition", "required for a weapon present")
		}
		reportCheckText(v, f+".note", c.GetNote(), firearmsMaxCheckNote, false, false)
	}
	v.Check(len(r.GetActions()) <= firearmsMaxActions, "actions", "at most %d", firearmsMaxActions)
	for i, a := range r.GetActions() {
		f := fmt.Sprintf("actions[%d]", i)
		reportCheckText(v, f+".description", a.GetDescription(), firearmsMaxNote, true, true)
		firearmsCheckTime(v, f+".due_time", a.GetDueTime(), true)
		firearmsCheckID(v, f+".weapon_id", a.GetWeaponId(), false)
	}
	firearmsCheckTime(v, "resolve_by_time", r.GetResolveByTime(), false)
	reportCheckText(v, "note", r.GetNote(), firearmsMaxLong, false, true)
}

func firearmsCheckID(v *validate.Violations, field, id string, required bool) {
	switch {
	case id == "" && required:
		v.Add(field, "required")
	case id != "" && !store.IsFirearmsID(id):
		v.Add(field, "must be an id of the register (a lower-case UUID)")
	}
}

func firearmsCheckCategory(v *validate.Violations, field string, c sinergiv1.WeaponCategory, required bool) {
	reportCheckEnum(v, field, sinergiv1.WeaponCategory_name, int32(c), required, "required: firearm, gas, air, rubber-bullet, electric-shock or other")
}

// firearmsCheckNIP: an officer of a facility by NIP (18 digits). The
// message never repeats the number: it reaches the logs of failed calls.
func firearmsCheckNIP(v *validate.Violations, field, nip string, required bool) {
	switch {
	case nip == "" && required:
		v.Add(field, "required: the officer's NIP (18 digits)")
	case nip != "" && (len(nip) != 18 || !authz.OperatorIDValid(nip)):
		v.Add(field, "must be an officer's NIP (18 digits: birth date, appointment, sex, serial)")
	}
}

func firearmsCheckTime(v *validate.Violations, field string, t *timestamppb.Timestamp, required bool) {
	switch {
	case t == nil && required:
		v.Add(field, "required")
	case t == nil:
	case t.CheckValid() != nil:
		v.Add(field, "not a valid time")
	case t.AsTime().Year() < 1950 || t.AsTime().Year() > 2200:
		v.Add(field, "out of range (1950 to 2200)")
	}
}
