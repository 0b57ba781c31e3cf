package reports

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/directory"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// IsEmergency reports whether a report may invoke the emergency override:
// critical, and a request for assistance or an incident that threatens
// life (a riot, a fight, a hostage taking, an escape).
func IsEmergency(k sinergiv1.ReportKind, t sinergiv1.ReportType, s sinergiv1.ReportSeverity) bool {
	if s != sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL {
		return false
	}
	switch {
	case k == sinergiv1.ReportKind_REPORT_KIND_ASSISTANCE_REQUEST:
		return true
	case k == sinergiv1.ReportKind_REPORT_KIND_INCIDENT:
		switch t {
		case sinergiv1.ReportType_REPORT_TYPE_RIOT, sinergiv1.ReportType_REPORT_TYPE_FIGHT,
			sinergiv1.ReportType_REPORT_TYPE_HOSTAGE, sinergiv1.ReportType_REPORT_TYPE_ESCAPE:
			return true
		}
	}
	return false
}

// Override completes the routing r of an emergency filed by facility at t:
// for each of the Polsek, Polres and Polda levels that no agreement let
// the report reach, the nearest active unit of that level routing missed
// (the one whose region is the most precise that still holds the
// facility's) receives it, with reason EMERGENCY_OVERRIDE, no agreement,
// and the severity's deadline. The misses stay as they are: the facility
// and oversight see why each unit was not covered.
func Override(dir *directory.Snapshot, facility *sinergiv1.Institution, r Routing, sev sinergiv1.ReportSeverity, t time.Time) Routing {
	reached := map[sinergiv1.InstitutionKind]bool{}
	for _, rc := range r.Recipients {
		if in := dir.Institution(rc.GetInstitutionCode()); in != nil {
			reached[in.GetKind()] = true
		}
	}
	nearest := map[sinergiv1.InstitutionKind]*sinergiv1.Institution{}
	for _, m := range r.Misses {
		in := dir.Institution(m.GetInstitutionCode())
		if m.GetSuspended() || in == nil || !isRegionalPolice(in.GetKind()) || reached[in.GetKind()] ||
			in.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE {
			continue
		}
		if cur := nearest[in.GetKind()]; cur == nil || len(in.GetRegionCode()) > len(cur.GetRegionCode()) {
			nearest[in.GetKind()] = in // misses come in code order: the first of the most precise region wins
		}
	}
	for _, k := range []sinergiv1.InstitutionKind{sinergiv1.InstitutionKind_INSTITUTION_KIND_POLSEK,
		sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES, sinergiv1.InstitutionKind_INSTITUTION_KIND_POLDA} {
		if in := nearest[k]; in != nil {
			r.Recipients = append(r.Recipients, &sinergiv1.ReportRecipient{
				InstitutionCode:     in.GetCode(),
				Reason:              sinergiv1.ReportRecipientReason_REPORT_RECIPIENT_REASON_EMERGENCY_OVERRIDE,
				AddTime:             timestamppb.New(t),
				AcknowledgeDeadline: deadline(sev, t),
			})
		}
	}
	return r
}

// Overridden reports whether code received report r by the emergency
// override.
func Overridden(r *sinergiv1.Report, code string) bool {
	for _, rc := range r.GetRecipients() {
		if rc.GetInstitutionCode() == code && rc.GetReason() == sinergiv1.ReportRecipientReason_REPORT_RECIPIENT_REASON_EMERGENCY_OVERRIDE {
			return true
		}
	}
	return false
}
