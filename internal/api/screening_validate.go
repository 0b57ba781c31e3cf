package api

import (
	"strconv"
	"strings"
	"time"

	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Limits of screening's free text.
const (
	screeningMaxReason = 500
	visitMaxItems      = 50
	visitMaxItem       = 200
	screeningMaxToken  = 1024
)

// personUse is what a ScreenedPerson is given for.
type personUse int

const (
	// listed: a NIK, or a full name and a birth date; aliases allowed.
	listed personUse = iota
	// atGate: a full name and a birth date, and a NIK when there is one.
	atGate
	// sought: a NIK, or a full name and a birth date (a query).
	sought
)

// checkPerson checks a person given as use, fields named under p. The
// descriptions never repeat a NIK, a name or a date.
func checkPerson(v *validate.Violations, p string, person *sinergiv1.ScreenedPerson, use personUse) {
	if person == nil {
		v.Add(p, "required")
		return
	}
	id, name, birthText := person.GetNik(), person.GetFullName(), person.GetBirthDate()
	byName := name != "" || birthText != ""
	switch {
	case use == atGate:
		custodyNameQuery(v, p+".full_name", name, true)
	case id == "" && !byName:
		v.Add(p+".nik", "required: a NIK, or a full name and a birth date")
	case byName:
		custodyNameQuery(v, p+".full_name", name, true)
	}
	var birth time.Time
	if use == atGate || byName {
		birth = custodyDate(v, p+".birth_date", birthText, true)
		if !birth.IsZero() && birth.After(time.Now()) {
			v.Add(p+".birth_date", "must not be in the future")
		}
	}
	if id != "" {
		custodyNIK(v, p+".nik", id, birth, sinergiv1.Sex_SEX_UNSPECIFIED)
	}
	switch aliases := person.GetAliases(); {
	case use != listed && len(aliases) > 0:
		v.Add(p+".aliases", "only for a screening list entry")
	case len(aliases) > custodyMaxList:
		v.Add(p+".aliases", "at most %d", custodyMaxList)
	default:
		for i, a := range aliases {
			custodyNameQuery(v, p+".aliases["+strconv.Itoa(i)+"]", a, true)
		}
	}
}

// checkScreeningID checks an id of an entry, a visit or a referral's entry.
func checkScreeningID(v *validate.Violations, field, id, what string, required bool) {
	switch {
	case id == "" && required:
		v.Add(field, "required")
	case id != "" && !store.IsCustodyRecordID(id):
		v.Add(field, "not %s id", what)
	}
}

// checkOfficerID checks an officer's NIP or NRP and, when the birth date
// is known, that they agree (an NIP begins with it, an NRP with its year
// and month).
func checkOfficerID(v *validate.Violations, field, id, birth string) {
	if !authz.OperatorIDValid(id) {
		v.Add(field, "must be the officer's NIP (18 digits) or NRP (8 digits)")
		return
	}
	b, err := time.Parse("2006-01-02", birth)
	if err != nil {
		return
	}
	switch {
	case len(id) == 18 && id[:8] != b.Format("20060102"):
		v.Add(field, "an NIP begins with its holder's birth date, which is not the one given")
	case len(id) == 8 && id[:4] != b.Format("0601"):
		v.Add(field, "an NRP begins with the year and month of its holder's birth, which are not the ones given")
	}
}

func init() {
	validate.Register(func(r *sinergiv1.CreateScreeningEntryRequest, v *validate.Violations) {
		custodyEnum(v, "category", r.GetCategory(), sinergiv1.ScreeningCategory_name, true)
		checkPerson(v, "person", r.GetPerson(), listed)
		custodyText(v, "reason", r.GetReason(), screeningMaxReason, true)
		custodyEnum(v, "instruction", r.GetInstruction(), sinergiv1.HandlingInstruction_name, true)
		custodyTime(v, "expire_time", r.GetExpireTime(), r.GetExpireTime() != nil, true)
	})
	validate.Register(func(r *sinergiv1.GetScreeningEntryRequest, v *validate.Violations) {
		checkScreeningID(v, "id", r.GetId(), "a screening entry", true)
	})
	validate.Register(func(r *sinergiv1.ListScreeningEntriesRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
	})
	validate.Register(func(r *sinergiv1.RemoveScreeningEntryRequest, v *validate.Violations) {
		checkScreeningID(v, "id", r.GetId(), "a screening entry", true)
	})
	validate.Register(func(r *sinergiv1.ScreenVisitorRequest, v *validate.Violations) {
		checkPerson(v, "visitor", r.GetVisitor(), atGate)
		custodyEnum(v, "relationship", r.GetRelationship(), sinergiv1.VisitorRelationship_name, true)
		checkCustodyRecordID(v, "inmate_record_id", r.GetInmateRecordId(), true)
		custodyTime(v, "visit_time", r.GetVisitTime(), r.GetVisitTime() != nil, false)
	})
	validate.Register(func(r *sinergiv1.ScreenOfficerRequest, v *validate.Violations) {
		checkPerson(v, "officer", r.GetOfficer(), atGate)
		checkOfficerID(v, "officer_id", r.GetOfficerId(), r.GetOfficer().GetBirthDate())
		custodyTime(v, "duty_time", r.GetDutyTime(), r.GetDutyTime() != nil, false)
	})
	validate.Limit("sinergi.v1.WatchScreeningReferralsRequest.cursor", 8192)
	validate.Register(func(r *sinergiv1.WatchScreeningReferralsRequest, v *validate.Violations) {
		if len(r.GetCursor()) > 8192 {
			v.Add("cursor", "not a cursor of this stream")
		}
	})
	validate.Register(func(r *sinergiv1.ListScreeningReferralsRequest, v *validate.Violations) {
		checkScreeningID(v, "entry_id", r.GetEntryId(), "a screening entry", false)
		checkPageSize(v, r.GetPageSize())
	})
	validate.Register(func(r *sinergiv1.RegisterVisitRequest, v *validate.Violations) {
		checkPerson(v, "visitor", r.GetVisitor(), atGate)
		custodyEnum(v, "relationship", r.GetRelationship(), sinergiv1.VisitorRelationship_name, true)
		checkCustodyRecordID(v, "inmate_record_id", r.GetInmateRecordId(), true)
		custodyTime(v, "time_in", r.GetTimeIn(), r.GetTimeIn() != nil, false)
		if len(r.GetItemsDeposited()) > visitMaxItems {
			v.Add("items_deposited", "at most %d", visitMaxItems)
		} else {
			for i, it := range r.GetItemsDeposited() {
				custodyText(v, "items_deposited["+strconv.Itoa(i)+"]", it, visitMaxItem, true)
			}
		}
		custodyEnum(v, "outcome", r.GetOutcome(), sinergiv1.VisitOutcome_name, true)
		if len(r.GetScreeningToken()) > screeningMaxToken {
			v.Add("screening_token", "not a screening token of this service")
		}
	})
	validate.Register(func(r *sinergiv1.EndVisitRequest, v *validate.Violations) {
		checkScreeningID(v, "id", r.GetId(), "a visit", true)
		custodyTime(v, "time_out", r.GetTimeOut(), r.GetTimeOut() != nil, false)
	})
	validate.Register(func(r *sinergiv1.ListVisitsRequest, v *validate.Violations) {
		checkCustodyRecordID(v, "inmate_record_id", r.GetInmateRecordId(), false)
		if p := r.GetVisitor(); p != nil {
			checkPerson(v, "visitor", p, sought)
		}
		if fc := r.GetFacilityCode(); fc != "" && !validate.Code.MatchString(fc) {
			v.Add("facility_code", "not an institution code")
		}
		custodyTime(v, "start_time", r.GetStartTime(), r.GetStartTime() != nil, false)
		custodyTime(v, "end_time", r.GetEndTime(), r.GetEndTime() != nil, false)
		if r.GetStartTime() != nil && r.GetEndTime() != nil && !r.GetEndTime().AsTime().After(r.GetStartTime().AsTime()) {
			v.Add("end_time", "must be after start_time")
		}
		checkPageSize(v, r.GetPageSize())
	})
	validate.Register(func(r *sinergiv1.DesignateHighRiskRequest, v *validate.Violations) {
		checkFacilityCode(v, r.GetFacilityCode())
		custodyText(v, "reason", r.GetReason(), screeningMaxReason, true)
	})
	validate.Register(func(r *sinergiv1.LiftHighRiskRequest, v *validate.Violations) {
		checkFacilityCode(v, r.GetFacilityCode())
	})
	validate.Register(func(r *sinergiv1.ListHighRiskDesignationsRequest, v *validate.Violations) {
		if fc := r.GetFacilityCode(); fc != "" && !validate.Code.MatchString(fc) {
			v.Add("facility_code", "not an institution code")
		}
		checkPageSize(v, r.GetPageSize())
	})
}

func checkFacilityCode(v *validate.Violations, code string) {
	switch {
	case strings.TrimSpace(code) == "":
		v.Add("facility_code", "required")
	case !validate.Code.MatchString(code):
		v.Add("facility_code", "not an institution code")
	}
}
