package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sinergi-id/sinergi/internal/nik"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// The checks of record fields are written out rather than regular
// expressions: a roster upload runs them hundreds of thousands of times.

// registerNumberOK: 1 to 64 letters, digits, spaces and . / _ ( ) -,
// starting with a letter or digit.
func registerNumberOK(s string) bool {
	n := 0
	for i, r := range s {
		n++
		switch {
		case r == utf8.RuneError || n > 64:
			return false
		case unicode.IsLetter(r) || unicode.IsDigit(r):
		case i > 0 && strings.ContainsRune(" ./_()-", r):
		default:
			return false
		}
	}
	return n > 0
}

// allIn reports whether s has between min and max bytes, each in set.
func allIn(s string, min, max int, set func(byte) bool) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !set(s[i]) {
			return false
		}
	}
	return true
}

func upper(c byte) bool    { return c >= 'A' && c <= 'Z' }
func hexLower(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
func upperOrDigit(c byte) bool {
	return upper(c) || c >= '0' && c <= '9'
}

// Limits of free text, so that one record cannot bloat a roster or a log.
const (
	custodyMaxName    = 200
	custodyMaxShort   = 100
	custodyMaxAddress = 500
	custodyMaxList    = 20
	custodyMaxNote    = 500
)

// custodyText checks a free-text field: at most max characters, printable,
// and required when required.
func custodyText(v *validate.Violations, field, s string, max int, required bool) {
	switch {
	case required && strings.TrimSpace(s) == "":
		v.Add(field, "required")
	case !utf8.ValidString(s):
		v.Add(field, "must be UTF-8 text")
	case utf8.RuneCountInString(s) > max:
		v.Add(field, "at most %d characters", max)
	default:
		for _, r := range s {
			if !unicode.IsPrint(r) {
				v.Add(field, "must be printable text on one line")
				return
			}
		}
	}
}

// custodyDate checks a YYYY-MM-DD date; it returns the date, zero when empty or bad.
func custodyDate(v *validate.Violations, field, s string, required bool) time.Time {
	if s == "" {
		if required {
			v.Add(field, "required, as YYYY-MM-DD")
		}
		return time.Time{}
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil || t.Year() < 1900 || t.Year() > 2200 {
		v.Add(field, "must be a date as YYYY-MM-DD")
		return time.Time{}
	}
	return t
}

func custodyTime(v *validate.Violations, field string, ts interface {
	CheckValid() error
}, present, required bool) {
	switch {
	case !present && required:
		v.Add(field, "required")
	case present && ts.CheckValid() != nil:
		v.Add(field, "not a valid time")
	}
}

func custodyEnum[E ~int32](v *validate.Violations, field string, e E, names map[int32]string, required bool) {
	switch {
	case names[int32(e)] == "":
		v.Add(field, "unknown value %d", e)
	case required && e == 0:
		v.Add(field, "required")
	}
}

// custodyNIK checks a NIK's plausibility and its consistency with a birth
// date and sex when those are known. The description never repeats it.
func custodyNIK(v *validate.Violations, field, s string, birth time.Time, sex sinergiv1.Sex) {
	want := nik.SexUnknown
	switch sex {
	case sinergiv1.Sex_SEX_MALE:
		want = nik.Male
	case sinergiv1.Sex_SEX_FEMALE:
		want = nik.Female
	}
	if err := nik.Check(s, birth, want); err != nil {
		v.Add(field, "%s", err.Error())
	}
}

func checkCustodyIdentity(v *validate.Violations, p string, id *sinergiv1.Identity) {
	if id == nil {
		v.Add(p, "required")
		return
	}
	custodyText(v, p+".full_name", id.GetFullName(), custodyMaxName, true)
	if len(id.GetAliases()) > custodyMaxList {
		v.Add(p+".aliases", "at most %d", custodyMaxList)
	}
	for i, a := range id.GetAliases() {
		custodyText(v, p+".aliases["+strconv.Itoa(i)+"]", a, custodyMaxName, true)
	}
	birth := custodyDate(v, p+".birth_date", id.GetBirthDate(), false)
	if !birth.IsZero() && birth.After(time.Now()) {
		v.Add(p+".birth_date", "must not be in the future")
	}
	custodyEnum(v, p+".sex", id.GetSex(), sinergiv1.Sex_name, false)
	if id.GetNik() != "" {
		custodyNIK(v, p+".nik", id.GetNik(), birth, id.GetSex())
	}
	custodyText(v, p+".birth_place", id.GetBirthPlace(), custodyMaxShort, false)
	if n := id.GetNationality(); n != "" && !allIn(n, 3, 3, upper) {
		v.Add(p+".nationality", "must be an ISO 3166-1 alpha-3 code such as IDN")
	}
	if pp := id.GetPassportNumber(); pp != "" && !allIn(pp, 5, 20, upperOrDigit) {
		v.Add(p+".passport_number", "must be 5 to 20 capital letters and digits")
	}
	custodyText(v, p+".address", id.GetAddress(), custodyMaxAddress, false)
	custodyText(v, p+".father_name", id.GetFatherName(), custodyMaxName, false)
	custodyText(v, p+".mother_name", id.GetMotherName(), custodyMaxName, false)
}

func checkCustodyLegalStatus(v *validate.Violations, p string, ls *sinergiv1.LegalStatus) {
	if ls == nil {
		v.Add(p, "required")
		return
	}
	custodyEnum(v, p+".kind", ls.GetKind(), sinergiv1.LegalStatusKind_name, true)
	custodyText(v, p+".detaining_authority", ls.GetDetainingAuthority(), custodyMaxShort, ls.GetKind() == sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_PRE_TRIAL_DETAINEE)
	custodyDate(v, p+".detention_end_date", ls.GetDetentionEndDate(), ls.GetKind() == sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_PRE_TRIAL_DETAINEE)
	switch {
	case ls.GetSentenceMonths() < 0 || ls.GetSentenceMonths() > 1200:
		v.Add(p+".sentence_months", "must be 0 to 1200")
	case ls.GetKind() == sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CONVICTED && ls.GetSentenceMonths() == 0 && !ls.GetLifeSentence():
		v.Add(p+".sentence_months", "required for a convicted person (or life_sentence)")
	case ls.GetLifeSentence() && ls.GetSentenceMonths() != 0:
		v.Add(p+".sentence_months", "must be 0 with life_sentence")
	}
	custodyDate(v, p+".expected_release_date", ls.GetExpectedReleaseDate(),
		ls.GetKind() == sinergiv1.LegalStatusKind_LEGAL_STATUS_KIND_CONVICTED && !ls.GetLifeSentence())
}

// checkCustodyRecord checks a record as a facility sends it, fields named under p.
func checkCustodyRecord(v *validate.Violations, p string, rec *sinergiv1.CustodyRecord) {
	if rec == nil {
		v.Add(p, "required")
		return
	}
	if rn := rec.GetRegisterNumber(); !registerNumberOK(rn) {
		v.Add(p+".register_number", "required: 1 to 64 letters, digits, spaces and . / _ ( ) -, starting with a letter or digit")
	}
	checkCustodyIdentity(v, p+".identity", rec.GetIdentity())
	checkCustodyLegalStatus(v, p+".legal_status", rec.GetLegalStatus())
	if len(rec.GetOffenceArticles()) > custodyMaxList {
		v.Add(p+".offence_articles", "at most %d", custodyMaxList)
	}
	for i, a := range rec.GetOffenceArticles() {
		custodyText(v, p+".offence_articles["+strconv.Itoa(i)+"]", a, custodyMaxName, true)
	}
	seen := map[sinergiv1.RiskFlag]bool{}
	for i, f := range rec.GetRiskFlags() {
		field := p + ".risk_flags[" + strconv.Itoa(i) + "]"
		switch {
		case sinergiv1.RiskFlag_name[int32(f)] == "" || f == sinergiv1.RiskFlag_RISK_FLAG_UNSPECIFIED:
			v.Add(field, "unknown risk flag %d", f)
		case seen[f]:
			v.Add(field, "repeated")
		}
		seen[f] = true
	}
	if h := rec.GetPhotoSha256(); h != "" && !allIn(h, 64, 64, hexLower) {
		v.Add(p+".photo_sha256", "must be a SHA-256 in lower-case hexadecimal (64 digits)")
	}
	if fc := rec.GetFacilityCode(); fc != "" && !validate.Code.MatchString(fc) {
		v.Add(p+".facility_code", "not an institution code")
	}
	custodyTime(v, p+".held_since", rec.GetHeldSince(), rec.GetHeldSince() != nil, false)
}

func checkCustodyRecordID(v *validate.Violations, field, id string, required bool) {
	switch {
	case id == "" && required:
		v.Add(field, "required")
	case id != "" && !store.IsCustodyRecordID(id):
		v.Add(field, "not a custody record id")
	}
}

func checkCustodyEvent(v *validate.Violations, p string, ev *sinergiv1.CustodyEvent) {
	if ev == nil {
		v.Add(p, "required")
		return
	}
	custodyEnum(v, p+".type", ev.GetType(), sinergiv1.CustodyEventType_name, true)
	custodyTime(v, p+".effective_time", ev.GetEffectiveTime(), ev.GetEffectiveTime() != nil, true)
	release := ev.GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RELEASE
	switch {
	case release:
		custodyEnum(v, p+".release_reason", ev.GetReleaseReason(), sinergiv1.ReleaseReason_name, true)
		custodyText(v, p+".release_note", ev.GetReleaseNote(), custodyMaxNote, ev.GetReleaseReason() == sinergiv1.ReleaseReason_RELEASE_REASON_OTHER)
	case ev.GetReleaseReason() != sinergiv1.ReleaseReason_RELEASE_REASON_UNSPECIFIED:
		v.Add(p+".release_reason", "only for a RELEASE")
	case ev.GetReleaseNote() != "":
		v.Add(p+".release_note", "only for a RELEASE")
	}
	out := ev.GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_OUT
	in := ev.GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_IN
	switch cf := ev.GetCounterpartFacilityCode(); {
	case (out || in) && cf == "":
		v.Add(p+".counterpart_facility_code", "required for a transfer")
	case (out || in) && !validate.Code.MatchString(cf):
		v.Add(p+".counterpart_facility_code", "not an institution code")
	case !out && !in && cf != "":
		v.Add(p+".counterpart_facility_code", "only for a transfer")
	}
	switch rn := ev.GetCounterpartRegisterNumber(); {
	case in && !registerNumberOK(rn):
		v.Add(p+".counterpart_register_number", "required for a transfer in: the register number at the facility of origin")
	case !in && rn != "":
		v.Add(p+".counterpart_register_number", "only for a transfer in")
	}
	switch es := ev.GetEscortCodes(); {
	case len(es) > 0 && !out:
		v.Add(p+".escort_codes", "only for a transfer out")
	case len(es) > 10:
		v.Add(p+".escort_codes", "at most 10")
	default:
		for i, c := range es {
			if !validate.Code.MatchString(c) {
				v.Add(fmt.Sprintf("%s.escort_codes[%d]", p, i), "not an institution code")
			}
		}
	}
	corr := ev.GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_CORRECTION
	switch {
	case corr && ev.GetCorrectsEventId() <= 0:
		v.Add(p+".corrects_event_id", "required for a correction: the id of the event it voids")
	case !corr && ev.GetCorrectsEventId() != 0:
		v.Add(p+".corrects_event_id", "only for a CORRECTION")
	}
	switch {
	case corr:
		custodyText(v, p+".correction_reason", ev.GetCorrectionReason(), custodyMaxNote, true)
	case ev.GetCorrectionReason() != "":
		v.Add(p+".correction_reason", "only for a CORRECTION")
	}
}

func custodyNameQuery(v *validate.Violations, field, s string, required bool) {
	switch n := utf8.RuneCountInString(strings.TrimSpace(s)); {
	case n == 0 && required:
		v.Add(field, "required")
	case n == 0:
	case n < 3:
		v.Add(field, "at least 3 characters")
	default:
		custodyText(v, field, s, custodyMaxName, false)
	}
}

func init() {
	validate.Register(func(r *sinergiv1.UpsertCustodyRecordRequest, v *validate.Violations) {
		checkCustodyRecord(v, "record", r.GetRecord())
	})
	validate.Register(func(r *sinergiv1.RecordCustodyEventRequest, v *validate.Violations) {
		switch {
		case r.GetRecordId() == "" && r.GetRegisterNumber() == "":
			v.Add("record_id", "required: record_id or register_number")
		case r.GetRecordId() != "" && r.GetRegisterNumber() != "":
			v.Add("register_number", "give record_id or register_number, not both")
		case r.GetRecordId() != "":
			checkCustodyRecordID(v, "record_id", r.GetRecordId(), true)
		default:
			if !registerNumberOK(r.GetRegisterNumber()) {
				v.Add("register_number", "not a register number")
			}
		}
		checkCustodyEvent(v, "event", r.GetEvent())
		if k := r.GetIdempotencyKey(); k != "" && !reportKeyPattern.MatchString(k) {
			v.Add("idempotency_key", "must be 8 to 128 characters of A-Z a-z 0-9 . _ : -")
		}
	})
	// A roster upload is checked message by message by its handler, with
	// this validator: a bad record is rejected alone.
	validate.Register(func(r *sinergiv1.SyncRosterRequest, v *validate.Violations) {
		switch item := r.GetItem().(type) {
		case *sinergiv1.SyncRosterRequest_Header:
			custodyTime(v, "header.roster_time", item.Header.GetRosterTime(), item.Header.GetRosterTime() != nil, false)
		case *sinergiv1.SyncRosterRequest_Record:
			checkCustodyRecord(v, "record", item.Record)
		default:
			v.Add("item", "required: a header or a record")
		}
	})
	validate.Register(func(r *sinergiv1.CheckPresenceRequest, v *validate.Violations) {
		switch {
		case r.GetNik() != "":
			custodyNIK(v, "nik", r.GetNik(), time.Time{}, sinergiv1.Sex_SEX_UNSPECIFIED)
			if r.GetFullName() != "" || r.GetBirthDate() != "" {
				v.Add("full_name", "ask by NIK, or by full name and birth date, not both")
			}
		case r.GetFullName() == "" && r.GetBirthDate() == "":
			v.Add("nik", "required: a NIK, or a full name and a birth date")
		default:
			custodyNameQuery(v, "full_name", r.GetFullName(), true)
			custodyDate(v, "birth_date", r.GetBirthDate(), true)
		}
	})
	validate.Register(func(r *sinergiv1.GetCustodyRecordRequest, v *validate.Violations) {
		checkCustodyRecordID(v, "id", r.GetId(), true)
	})
	validate.Register(func(r *sinergiv1.SearchCustodyRecordsRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
		if r.GetNik() == "" && r.GetRegisterNumber() == "" && strings.TrimSpace(r.GetName()) == "" && r.GetBirthDate() == "" && r.GetFacilityCode() == "" &&
			r.GetPassportNumber() == "" {
			v.Add("name", "at least one of nik, register_number, name, birth_date, facility_code, passport_number is required")
		}
		if p := store.NormalizePassport(r.GetPassportNumber()); r.GetPassportNumber() != "" && !allIn(p, 5, 20, upperOrDigit) {
			v.Add("passport_number", "not a passport number (5 to 20 letters and digits)")
		}
		if r.GetNik() != "" {
			custodyNIK(v, "nik", r.GetNik(), time.Time{}, sinergiv1.Sex_SEX_UNSPECIFIED)
		}
		if rn := r.GetRegisterNumber(); rn != "" && !registerNumberOK(rn) {
			v.Add("register_number", "not a register number")
		}
		custodyNameQuery(v, "name", r.GetName(), false)
		custodyDate(v, "birth_date", r.GetBirthDate(), false)
		switch t := r.GetBirthDateToleranceDays(); {
		case t < 0 || t > 366:
			v.Add("birth_date_tolerance_days", "must be 0 to 366")
		case t > 0 && r.GetBirthDate() == "":
			v.Add("birth_date_tolerance_days", "only with birth_date")
		}
		if fc := r.GetFacilityCode(); fc != "" && !validate.Code.MatchString(fc) {
			v.Add("facility_code", "not an institution code")
		}
		custodyEnum(v, "status", r.GetStatus(), sinergiv1.CustodyStatus_name, false)
		custodyEnum(v, "legal_status", r.GetLegalStatus(), sinergiv1.LegalStatusKind_name, false)
	})
	validate.Register(func(r *sinergiv1.ListCustodyEventsRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
		checkCustodyRecordID(v, "record_id", r.GetRecordId(), true)
	})
	validate.Limit("sinergi.v1.WatchCustodyEventsRequest.cursor", 8192)
	validate.Register(func(r *sinergiv1.WatchCustodyEventsRequest, v *validate.Violations) {
		if len(r.GetCursor()) > 8192 {
			v.Add("cursor", "not a cursor of this stream")
		}
	})
	validate.Register(func(r *sinergiv1.AddWatchRequest, v *validate.Violations) {
		switch {
		case r.GetNik() == "" && r.GetRecordId() == "":
			v.Add("nik", "required: nik or record_id")
		case r.GetNik() != "" && r.GetRecordId() != "":
			v.Add("record_id", "give nik or record_id, not both")
		case r.GetNik() != "":
			custodyNIK(v, "nik", r.GetNik(), time.Time{}, sinergiv1.Sex_SEX_UNSPECIFIED)
		default:
			checkCustodyRecordID(v, "record_id", r.GetRecordId(), true)
		}
		custodyText(v, "reason", r.GetReason(), custodyMaxNote, true)
		custodyTime(v, "expire_time", r.GetExpireTime(), r.GetExpireTime() != nil, true)
	})
	validate.Register(func(r *sinergiv1.RemoveWatchRequest, v *validate.Violations) {
		if !store.IsCustodyRecordID(r.GetId()) {
			v.Add("id", "required: a watch id")
		}
	})
	validate.Register(func(r *sinergiv1.ListIncomingTransfersRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
	})
	validate.Register(func(r *sinergiv1.ListWatchesRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
	})
}
