package reports

import (
	"sort"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/directory"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// PoliceMayWarn reports whether a police unit may file a report of kind k
// to a facility: narcotics and threat intelligence. Incidents and requests
// for assistance happen inside a facility: the facility files them.
func PoliceMayWarn(k sinergiv1.ReportKind) bool {
	return k == sinergiv1.ReportKind_REPORT_KIND_NARCOTICS || k == sinergiv1.ReportKind_REPORT_KIND_THREAT
}

// KanwilOf is the active regional office (KANWIL) whose province holds
// facility, or nil when the directory has none.
func KanwilOf(dir *directory.Snapshot, facility *sinergiv1.Institution) *sinergiv1.Institution {
	var found []*sinergiv1.Institution
	for _, in := range dir.Institutions() {
		if in.GetKind() == sinergiv1.InstitutionKind_INSTITUTION_KIND_KANWIL &&
			in.GetStatus() == sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE &&
			in.GetRegionCode() != "" && directory.RegionWithin(facility.GetRegionCode(), in.GetRegionCode()) {
			found = append(found, in)
		}
	}
	if len(found) == 0 {
		return nil
	}
	sort.Slice(found, func(i, j int) bool { return found[i].GetCode() < found[j].GetCode() })
	return found[0]
}

// Warning is who receives a police unit's warning to a facility filed at t:
// the facility, under agreements (those in force that let the unit reach it
// for the kind's scope), acknowledging within the severity's deadline; and
// its regional office, told of every event as an observer.
type Warning struct {
	Recipients []*sinergiv1.ReportRecipient
	Observers  []string
}

// RouteWarning computes a warning's delivery (see Warning).
func RouteWarning(dir *directory.Snapshot, facility *sinergiv1.Institution, agreements []string, sev sinergiv1.ReportSeverity, t time.Time) Warning {
	w := Warning{Recipients: []*sinergiv1.ReportRecipient{{
		InstitutionCode:     facility.GetCode(),
		AgreementIds:        agreements,
		Reason:              sinergiv1.ReportRecipientReason_REPORT_RECIPIENT_REASON_ROUTED,
		AddTime:             timestamppb.New(t),
		AcknowledgeDeadline: deadline(sev, t),
	}}}
	if k := KanwilOf(dir, facility); k != nil {
		w.Observers = []string{k.GetCode()}
	}
	return w
}

// IsWarning reports whether the report in st is a police unit's warning to
// its facility.
func IsWarning(author, facility string) bool { return author != "" && author != facility }
