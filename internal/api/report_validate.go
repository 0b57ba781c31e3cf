package api

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/nik"
	"github.com/sinergi-id/sinergi/internal/reports"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Limits of a report submission. A gRPC request is at most 16 MiB (the
// server's maximum receive size), so the attachments of one submission
// together stay below it with room for the rest of the report.
const (
	reportMaxAttachmentBytes = 10 << 20
	reportMaxAttachmentTotal = 15 << 20
	reportMaxAttachments     = 20
	reportMaxPeople          = 100
	reportMaxItems           = 100
	reportMaxNarrative       = 20000
	reportMaxPlace           = 200
	reportMaxName            = 120
	reportMaxDescription     = 500
	reportMaxFilename        = 255
	reportMaxOutcomes        = 10
	reportMaxJustification   = 2000
)

var (
	reportKeyPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,128}$`)
	reportPhone      = regexp.MustCompile(`^(\+62|0)[1-9][0-9]{7,12}$`)
	reportMediaType  = regexp.MustCompile(`^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$`)
	reportHexDigest  = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

func init() {
	// Reports in responses are data subjects of the audit trail, owned by
	// the facility that filed them.
	authz.RegisterSubject("sinergi.v1.Report", "report", "id", "facility_code")

	validate.Register(checkSubmitReport)
	// Free text of up to reportMaxNarrative characters, UTF-8.
	validate.Limit("sinergi.v1.SubmitReportRequest.narrative", 4*reportMaxNarrative)
	validate.Limit("sinergi.v1.AddReportAddendumRequest.text", 4*reportMaxNarrative)
	validate.Limit("sinergi.v1.ReportAttachment.content", reportMaxAttachmentBytes)
	validate.Register(func(r *sinergiv1.GetReportRequest, v *validate.Violations) {
		checkReportID(v, "id", r.GetId())
	})
	validate.Register(func(r *sinergiv1.GetReportAttachmentRequest, v *validate.Violations) {
		checkReportID(v, "report_id", r.GetReportId())
		v.Check(r.GetNumber() >= 1, "number", "must be an attachment number, from 1")
	})
	validate.Register(func(r *sinergiv1.ListReportsRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
		checkReportFilter(v, r.GetKind(), r.GetType(), r.GetSeverity(), r.GetStatus())
		reportCheckFacility(v, r.GetFacilityCode())
		reportCheckRange(v, r.GetStartTime(), r.GetEndTime())
	})
	validate.Register(func(r *sinergiv1.WatchReportsRequest, v *validate.Violations) {
		v.Check(len(r.GetCursor()) <= 1024, "cursor", "not a cursor of this watch")
		if r.GetReportId() != "" {
			checkReportID(v, "report_id", r.GetReportId())
		}
	})
	validate.Register(checkPostCoordination)
	validate.Register(func(r *sinergiv1.ListEmergencyOverridesRequest, v *validate.Violations) {
		checkPageSize(v, r.GetPageSize())
		reportCheckRange(v, r.GetStartTime(), r.GetEndTime())
	})
	validate.Limit("sinergi.v1.PostCoordinationEntryRequest.text", 4*reportMaxNarrative)
	validate.Register(func(r *sinergiv1.ReportStatsRequest, v *validate.Violations) {
		reportCheckFacility(v, r.GetFacilityCode())
		reportCheckRange(v, r.GetStartTime(), r.GetEndTime())
	})
	validate.Register(func(r *sinergiv1.AcknowledgeReportRequest, v *validate.Violations) {
		checkReportID(v, "id", r.GetId())
	})
	validate.Register(func(r *sinergiv1.UpdateReportStatusRequest, v *validate.Violations) {
		checkReportID(v, "id", r.GetId())
		switch r.GetStatus() {
		case sinergiv1.ReportStatus_REPORT_STATUS_IN_ACTION:
			v.Check(r.GetOutcome() == sinergiv1.ReportOutcome_REPORT_OUTCOME_UNSPECIFIED, "outcome", "only when closing (status CLOSED)")
		case sinergiv1.ReportStatus_REPORT_STATUS_CLOSED:
			reportCheckEnum(v, "outcome", sinergiv1.ReportOutcome_name, int32(r.GetOutcome()), true, "required to close a report")
		default:
			v.Add("status", "must be REPORT_STATUS_IN_ACTION or REPORT_STATUS_CLOSED")
		}
	})
	validate.Register(func(r *sinergiv1.AddReportAddendumRequest, v *validate.Violations) {
		checkReportID(v, "id", r.GetId())
		reportCheckText(v, "text", r.GetText(), reportMaxNarrative, true, true)
		v.Check(len(r.GetOutcomes()) <= reportMaxOutcomes, "outcomes", "at most %d", reportMaxOutcomes)
		seen := map[sinergiv1.ReportOutcome]bool{}
		for i, o := range r.GetOutcomes() {
			f := fmt.Sprintf("outcomes[%d]", i)
			reportCheckEnum(v, f, sinergiv1.ReportOutcome_name, int32(o), true, "required")
			if seen[o] {
				v.Add(f, "given twice")
			}
			seen[o] = true
		}
	})
}

func checkReportID(v *validate.Violations, field, id string) {
	switch {
	case id == "":
		v.Add(field, "required")
	case !store.IsReportID(id):
		v.Add(field, "must be a report id (a lower-case UUID)")
	}
}

// reportCheckEnum checks an enum value is known and, when required, set.
func reportCheckEnum(v *validate.Violations, field string, names map[int32]string, val int32, required bool, missing string) {
	switch {
	case names[val] == "":
		v.Add(field, "unknown value %d", val)
	case required && val == 0:
		v.Add(field, "%s", missing)
	}
}

func checkReportFilter(v *validate.Violations, kind sinergiv1.ReportKind, typ sinergiv1.ReportType, sev sinergiv1.ReportSeverity, st sinergiv1.ReportStatus) {
	reportCheckEnum(v, "kind", sinergiv1.ReportKind_name, int32(kind), false, "")
	reportCheckEnum(v, "type", sinergiv1.ReportType_name, int32(typ), false, "")
	reportCheckEnum(v, "severity", sinergiv1.ReportSeverity_name, int32(sev), false, "")
	reportCheckEnum(v, "status", sinergiv1.ReportStatus_name, int32(st), false, "")
	if kind != sinergiv1.ReportKind_REPORT_KIND_UNSPECIFIED && typ != sinergiv1.ReportType_REPORT_TYPE_UNSPECIFIED &&
		sinergiv1.ReportType_name[int32(typ)] != "" && reports.KindOf(typ) != kind {
		v.Add("type", "%s is not a type of %s", typ, kind)
	}
}

func reportCheckFacility(v *validate.Violations, code string) {
	if code != "" && !validate.Code.MatchString(code) {
		v.Add("facility_code", "not an institution code")
	}
}

func reportCheckRange(v *validate.Violations, start, end *timestamppb.Timestamp) {
	okStart, okEnd := start == nil || start.CheckValid() == nil, end == nil || end.CheckValid() == nil
	v.Check(okStart, "start_time", "not a valid time")
	v.Check(okEnd, "end_time", "not a valid time")
	if okStart && okEnd && start != nil && end != nil && !end.AsTime().After(start.AsTime()) {
		v.Add("end_time", "must be after start_time")
	}
}

// reportCheckText checks free text: required or not, at most max characters,
// printable (multiline allows line breaks and tabs).
func reportCheckText(v *validate.Violations, field, s string, max int, required, multiline bool) {
	switch {
	case s == "" && required:
		v.Add(field, "required")
	case utf8.RuneCountInString(s) > max:
		v.Add(field, "at most %d characters", max)
	case strings.TrimSpace(s) == "" && required:
		v.Add(field, "required (not only blanks)")
	default:
		for _, r := range s {
			if !unicode.IsPrint(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
				v.Add(field, "must be printable text")
				return
			}
		}
	}
}

// reportIMEIValid reports whether s is a 15-digit IMEI with a valid Luhn check digit.
func reportIMEIValid(s string) bool {
	if len(s) != 15 {
		return false
	}
	sum := 0
	for i := range 15 {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func checkSubmitReport(r *sinergiv1.SubmitReportRequest, v *validate.Violations) {
	if !reportKeyPattern.MatchString(r.GetIdempotencyKey()) {
		if r.GetIdempotencyKey() == "" {
			v.Add("idempotency_key", "required: a key of your choosing, reused when you retry this submission")
		} else {
			v.Add("idempotency_key", "must be 8 to 128 characters of A-Z a-z 0-9 . _ : -")
		}
	}
	reportCheckEnum(v, "kind", sinergiv1.ReportKind_name, int32(r.GetKind()), true, "required")
	reportCheckEnum(v, "type", sinergiv1.ReportType_name, int32(r.GetType()), true, "required")
	if r.GetKind() == sinergiv1.ReportKind_REPORT_KIND_FIREARMS {
		// The weapon's identity comes from the register, not from the report.
		v.Add("kind", "a weapon lost, stolen or discharged is reported with FirearmsService.ReportWeaponIncident, which attaches the weapon from the register")
	}
	if k, t := r.GetKind(), r.GetType(); k != 0 && t != 0 && sinergiv1.ReportKind_name[int32(k)] != "" &&
		sinergiv1.ReportType_name[int32(t)] != "" && reports.KindOf(t) != k {
		v.Add("type", "%s is not a type of %s", t, k)
	}
	reportCheckEnum(v, "severity", sinergiv1.ReportSeverity_name, int32(r.GetSeverity()), true, "required")
	reportCheckEnum(v, "classification", sinergiv1.ReportClassification_name, int32(r.GetClassification()), true, "required")
	switch ot := r.GetOccurTime(); {
	case ot == nil:
		v.Add("occur_time", "required")
	case ot.CheckValid() != nil:
		v.Add("occur_time", "not a valid time")
	case ot.AsTime().Year() < 2000:
		v.Add("occur_time", "before 2000")
	}
	reportCheckText(v, "place", r.GetPlace(), reportMaxPlace, true, false)
	reportCheckText(v, "narrative", r.GetNarrative(), reportMaxNarrative, true, true)

	v.Check(len(r.GetPeople()) <= reportMaxPeople, "people", "at most %d", reportMaxPeople)
	for i, p := range r.GetPeople() {
		f := fmt.Sprintf("people[%d]", i)
		switch who := p.GetPerson().(type) {
		case *sinergiv1.ReportPerson_CustodyRecordId:
			if !store.IsCustodyRecordID(who.CustodyRecordId) {
				v.Add(f+".custody_record_id", "must be a custody record id (a lower-case UUID) of the reporting facility")
			}
		case *sinergiv1.ReportPerson_Outsider:
			o := who.Outsider
			reportCheckText(v, f+".outsider.name", o.GetName(), reportMaxName, true, false)
			if o.GetNik() != "" {
				// The parser's error names the wrong part, never the number.
				if _, err := nik.Parse(o.GetNik()); err != nil {
					v.Add(f+".outsider.nik", "not a plausible NIK: %s", err.Error())
				}
			}
			if o.GetPhone() != "" && !reportPhone.MatchString(o.GetPhone()) {
				v.Add(f+".outsider.phone", "must be an Indonesian number, +62… or 0…, digits only")
			}
		default:
			v.Add(f, "either custody_record_id (someone in custody) or outsider (name, NIK, phone)")
		}
		reportCheckEnum(v, f+".role", sinergiv1.ReportPersonRole_name, int32(p.GetRole()), true, "required")
	}

	v.Check(len(r.GetItems()) <= reportMaxItems, "items", "at most %d", reportMaxItems)
	for i, it := range r.GetItems() {
		f := fmt.Sprintf("items[%d]", i)
		switch item := it.GetItem().(type) {
		case *sinergiv1.ReportItem_Substance:
			sb := item.Substance
			reportCheckEnum(v, f+".substance.substance", sinergiv1.ReportSubstance_name, int32(sb.GetSubstance()), true, "required")
			if q := sb.GetQuantity(); !(q > 0) || math.IsInf(q, 0) || q > 1e9 {
				v.Add(f+".substance.quantity", "must be a positive number (at most 1e9)")
			}
			reportCheckEnum(v, f+".substance.unit", sinergiv1.ReportQuantityUnit_name, int32(sb.GetUnit()), true, "required")
			if sb.GetSubstance() == sinergiv1.ReportSubstance_REPORT_SUBSTANCE_OTHER && strings.TrimSpace(it.GetDescription()) == "" {
				v.Add(f+".description", "required for another substance: say which")
			}
		case *sinergiv1.ReportItem_Phone:
			if !reportIMEIValid(item.Phone.GetImei()) {
				v.Add(f+".phone.imei", "must be a 15-digit IMEI with a valid check digit")
			}
		case *sinergiv1.ReportItem_Weapon:
			v.Add(f+".weapon", "weapons are attached by FirearmsService.ReportWeaponIncident, from the register")
		default:
			if strings.TrimSpace(it.GetDescription()) == "" {
				v.Add(f+".description", "required when the item is neither a substance nor a phone")
			}
		}
		reportCheckText(v, f+".description", it.GetDescription(), reportMaxDescription, false, false)
	}

	v.Check(len(r.GetAttachments()) <= reportMaxAttachments, "attachments", "at most %d", reportMaxAttachments)
	total := 0
	for i, a := range r.GetAttachments() {
		f := fmt.Sprintf("attachments[%d]", i)
		name := a.GetFilename()
		switch {
		case name == "":
			v.Add(f+".filename", "required")
		case utf8.RuneCountInString(name) > reportMaxFilename:
			v.Add(f+".filename", "at most %d characters", reportMaxFilename)
		case strings.ContainsAny(name, `/\`) || name == "." || name == "..":
			v.Add(f+".filename", "a file name, without directories")
		default:
			reportCheckText(v, f+".filename", name, reportMaxFilename, true, false)
		}
		if !reportMediaType.MatchString(a.GetMediaType()) {
			v.Add(f+".media_type", "must be a lower-case media type such as image/jpeg")
		}
		n := len(a.GetContent())
		total += n
		switch {
		case n == 0:
			v.Add(f+".content", "required (an empty file)")
		case n > reportMaxAttachmentBytes:
			v.Add(f+".content", "at most 10 MiB per attachment (got %d bytes)", n)
		}
		if d := a.GetSha256(); d != "" {
			sum := sha256.Sum256(a.GetContent())
			switch {
			case !reportHexDigest.MatchString(d):
				v.Add(f+".sha256", "must be 64 hexadecimal digits")
			case !strings.EqualFold(d, hex.EncodeToString(sum[:])):
				v.Add(f+".sha256", "does not match the content (damaged in transit?)")
			}
		}
		v.Check(a.GetNumber() == 0, f+".number", "assigned by the server: leave unset")
		v.Check(a.GetSizeBytes() == 0 || a.GetSizeBytes() == int64(n), f+".size_bytes", "does not match the content")
	}
	if j := r.GetEmergencyJustification(); j != "" {
		reportCheckText(v, "emergency_justification", j, reportMaxJustification, true, true)
		switch {
		case !reports.IsEmergency(r.GetKind(), r.GetType(), r.GetSeverity()):
			v.Add("emergency_justification", "only for an emergency: a critical assistance request, or a critical riot, fight, hostage taking or escape")
		case r.GetClassification() == sinergiv1.ReportClassification_REPORT_CLASSIFICATION_RAHASIA:
			v.Add("emergency_justification", "a RAHASIA report travels under agreements only: classify the emergency BIASA or TERBATAS")
		}
	}
	if total > reportMaxAttachmentTotal {
		v.Add("attachments", "at most 15 MiB together (a request is at most 16 MiB); send more files in another report")
	}
}

// Limits of a coordination entry.
const (
	coordinationMaxUnits     = 20
	coordinationMaxUnitName  = 120
	coordinationMaxPersonnel = 10000
	coordinationMaxField     = 120
)

func checkPostCoordination(r *sinergiv1.PostCoordinationEntryRequest, v *validate.Violations) {
	checkReportID(v, "id", r.GetId())
	kind := r.GetKind()
	reportCheckEnum(v, "kind", sinergiv1.CoordinationKind_name, int32(kind), true, "required")
	needsText := kind == sinergiv1.CoordinationKind_COORDINATION_KIND_MESSAGE || kind == sinergiv1.CoordinationKind_COORDINATION_KIND_AFTER_ACTION
	reportCheckText(v, "text", r.GetText(), reportMaxNarrative, needsText, true)
	d := r.GetDispatch()
	switch {
	case kind != sinergiv1.CoordinationKind_COORDINATION_KIND_DISPATCH:
		v.Check(d == nil, "dispatch", "only for COORDINATION_KIND_DISPATCH")
	case d == nil:
		v.Add("dispatch", "required: the units sent, how many officers, when they arrive, who commands and how to reach them")
	default:
		switch n := len(d.GetUnits()); {
		case n == 0:
			v.Add("dispatch.units", "required: at least one unit or team")
		case n > coordinationMaxUnits:
			v.Add("dispatch.units", "at most %d", coordinationMaxUnits)
		}
		for i, u := range d.GetUnits() {
			reportCheckText(v, fmt.Sprintf("dispatch.units[%d]", i), u, coordinationMaxUnitName, true, false)
		}
		if n := d.GetPersonnelCount(); n < 1 || n > coordinationMaxPersonnel {
			v.Add("dispatch.personnel_count", "must be 1 to %d", coordinationMaxPersonnel)
		}
		switch eta := d.GetEstimatedArrivalTime(); {
		case eta == nil:
			v.Add("dispatch.estimated_arrival_time", "required")
		case eta.CheckValid() != nil || eta.AsTime().Year() < 2000:
			v.Add("dispatch.estimated_arrival_time", "not a valid time")
		}
		reportCheckText(v, "dispatch.commander", d.GetCommander(), coordinationMaxField, true, false)
		reportCheckText(v, "dispatch.contact_channel", d.GetContactChannel(), coordinationMaxField, true, false)
	}
	if kind == sinergiv1.CoordinationKind_COORDINATION_KIND_AFTER_ACTION {
		reportCheckEnum(v, "outcome", sinergiv1.ReportOutcome_name, int32(r.GetOutcome()), true, "required: what came of it")
	} else {
		v.Check(r.GetOutcome() == sinergiv1.ReportOutcome_REPORT_OUTCOME_UNSPECIFIED, "outcome", "only for COORDINATION_KIND_AFTER_ACTION")
	}
}
