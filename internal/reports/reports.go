// Package reports owns the rules of intelligence reports that are neither
// SQL nor gRPC: which kind a report type belongs to and which agreement
// scope a kind travels under, who receives a report when it is filed
// (routing), acknowledgement deadlines by severity, how a report's status
// may move, and the escalation of recipients that miss their deadline
// (the Escalator, one for all server processes).
package reports

import (
	"sort"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/directory"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Scopes are the agreement scopes reports travel under.
var Scopes = []sinergiv1.Scope{
	sinergiv1.Scope_SCOPE_INCIDENT_REPORTS,
	sinergiv1.Scope_SCOPE_NARCOTICS_INTELLIGENCE,
	sinergiv1.Scope_SCOPE_THREAT_INTELLIGENCE,
	sinergiv1.Scope_SCOPE_FIREARMS_GOVERNANCE,
}

// KindOf returns the kind report type t belongs to (unspecified for an
// unknown type).
func KindOf(t sinergiv1.ReportType) sinergiv1.ReportKind {
	switch t {
	case sinergiv1.ReportType_REPORT_TYPE_RIOT, sinergiv1.ReportType_REPORT_TYPE_FIGHT, sinergiv1.ReportType_REPORT_TYPE_ESCAPE,
		sinergiv1.ReportType_REPORT_TYPE_SMUGGLED_PHONE, sinergiv1.ReportType_REPORT_TYPE_DRONE_SIGHTING,
		sinergiv1.ReportType_REPORT_TYPE_HOSTAGE, sinergiv1.ReportType_REPORT_TYPE_DEATH_IN_CUSTODY:
		return sinergiv1.ReportKind_REPORT_KIND_INCIDENT
	case sinergiv1.ReportType_REPORT_TYPE_NARCOTICS_SEIZURE, sinergiv1.ReportType_REPORT_TYPE_SMUGGLING_VIA_VISITOR,
		sinergiv1.ReportType_REPORT_TYPE_SMUGGLING_VIA_PARCEL, sinergiv1.ReportType_REPORT_TYPE_SMUGGLING_VIA_STAFF,
		sinergiv1.ReportType_REPORT_TYPE_TRADE_FROM_INSIDE:
		return sinergiv1.ReportKind_REPORT_KIND_NARCOTICS
	case sinergiv1.ReportType_REPORT_TYPE_PLANNED_ATTACK, sinergiv1.ReportType_REPORT_TYPE_THREAT_TO_OFFICERS,
		sinergiv1.ReportType_REPORT_TYPE_FRAUD_FROM_INSIDE:
		return sinergiv1.ReportKind_REPORT_KIND_THREAT
	case sinergiv1.ReportType_REPORT_TYPE_POLICE_SUPPORT, sinergiv1.ReportType_REPORT_TYPE_CONFLICT_HANDLING:
		return sinergiv1.ReportKind_REPORT_KIND_ASSISTANCE_REQUEST
	case sinergiv1.ReportType_REPORT_TYPE_WEAPON_LOST, sinergiv1.ReportType_REPORT_TYPE_WEAPON_STOLEN,
		sinergiv1.ReportType_REPORT_TYPE_WEAPON_DISCHARGED:
		return sinergiv1.ReportKind_REPORT_KIND_FIREARMS
	}
	return sinergiv1.ReportKind_REPORT_KIND_UNSPECIFIED
}

// ScopeOf is the agreement scope a report of kind k travels under: an
// incident or a request for assistance under incident reports (security and
// order, conflict handling), narcotics under narcotics intelligence, a
// threat under threat intelligence, a weapon lost, stolen or discharged
// under firearms governance.
func ScopeOf(k sinergiv1.ReportKind) sinergiv1.Scope {
	switch k {
	case sinergiv1.ReportKind_REPORT_KIND_INCIDENT, sinergiv1.ReportKind_REPORT_KIND_ASSISTANCE_REQUEST:
		return sinergiv1.Scope_SCOPE_INCIDENT_REPORTS
	case sinergiv1.ReportKind_REPORT_KIND_NARCOTICS:
		return sinergiv1.Scope_SCOPE_NARCOTICS_INTELLIGENCE
	case sinergiv1.ReportKind_REPORT_KIND_THREAT:
		return sinergiv1.Scope_SCOPE_THREAT_INTELLIGENCE
	case sinergiv1.ReportKind_REPORT_KIND_FIREARMS:
		return sinergiv1.Scope_SCOPE_FIREARMS_GOVERNANCE
	}
	return sinergiv1.Scope_SCOPE_UNSPECIFIED
}

// AckWindow is how long a recipient has to acknowledge a report of
// severity s, as NCIC's hit confirmation: critical 10 minutes, high an
// hour, medium a day; ok is false for low severity, which has no deadline.
func AckWindow(s sinergiv1.ReportSeverity) (d time.Duration, ok bool) {
	switch s {
	case sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL:
		return 10 * time.Minute, true
	case sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH:
		return time.Hour, true
	case sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM:
		return 24 * time.Hour, true
	}
	return 0, false
}

// deadline is the acknowledgement deadline of a recipient added at t.
func deadline(s sinergiv1.ReportSeverity, t time.Time) *timestamppb.Timestamp {
	if d, ok := AckWindow(s); ok {
		return timestamppb.New(t.Add(d))
	}
	return nil
}

// ToMabes reports whether a report of kind k and severity s also goes to
// Mabes: narcotics and threat reports of high or critical severity.
func ToMabes(k sinergiv1.ReportKind, s sinergiv1.ReportSeverity) bool {
	return (k == sinergiv1.ReportKind_REPORT_KIND_NARCOTICS || k == sinergiv1.ReportKind_REPORT_KIND_THREAT) &&
		(s == sinergiv1.ReportSeverity_REPORT_SEVERITY_HIGH || s == sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL)
}

// Routing is who receives a report when it is filed, and who could not.
type Routing struct {
	Recipients []*sinergiv1.ReportRecipient
	Misses     []*sinergiv1.ReportRoutingMiss
}

func isRegionalPolice(k sinergiv1.InstitutionKind) bool {
	switch k {
	case sinergiv1.InstitutionKind_INSTITUTION_KIND_POLSEK, sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES,
		sinergiv1.InstitutionKind_INSTITUTION_KIND_POLDA:
		return true
	}
	return false
}

// Route computes the recipients of a report of kind and severity filed by
// facility at t: the active Polsek, Polres and Polda units whose region
// contains the facility's, plus Mabes for high or critical narcotics and
// threat reports, each only where an agreement in force at t covers it and
// the facility for the kind's scope; the agreements are stored with each
// recipient. The units left out for want of an agreement are the misses,
// with the reason CheckCoverage would give, and so are suspended units.
func Route(dir *directory.Snapshot, facility *sinergiv1.Institution, kind sinergiv1.ReportKind, sev sinergiv1.ReportSeverity, t time.Time) Routing {
	return RouteTo(dir, facility, kind, sev, ToMabes(kind, sev), t)
}

// RouteTo is Route with Mabes among the candidates when toMabes is set:
// internal/firearms sends every report about a firearm to Mabes, whatever
// its severity.
func RouteTo(dir *directory.Snapshot, facility *sinergiv1.Institution, kind sinergiv1.ReportKind, sev sinergiv1.ReportSeverity, toMabes bool, t time.Time) Routing {
	scope := ScopeOf(kind)
	var candidates []*sinergiv1.Institution
	for _, in := range dir.Institutions() {
		switch {
		case isRegionalPolice(in.GetKind()) && directory.InJurisdiction(in, facility),
			in.GetKind() == sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES && toMabes:
			candidates = append(candidates, in)
		}
	}
	// Lowest units first: Polsek, Polres, Polda, Mabes.
	sort.SliceStable(candidates, func(i, j int) bool {
		if candidates[i].GetKind() != candidates[j].GetKind() {
			return candidates[i].GetKind() < candidates[j].GetKind()
		}
		return candidates[i].GetCode() < candidates[j].GetCode()
	})
	var r Routing
	for _, in := range candidates {
		cov := dir.Coverage(in, facility, scope, t)
		if in.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE {
			// A suspended unit receives nothing: a miss the facility is told of.
			m := &sinergiv1.ReportRoutingMiss{InstitutionCode: in.GetCode(), Suspended: true}
			if !cov.Covered {
				m = missOf(in.GetCode(), cov)
				m.Suspended = true
			}
			r.Misses = append(r.Misses, m)
			continue
		}
		if !cov.Covered {
			r.Misses = append(r.Misses, missOf(in.GetCode(), cov))
			continue
		}
		r.Recipients = append(r.Recipients, &sinergiv1.ReportRecipient{
			InstitutionCode:     in.GetCode(),
			AgreementIds:        cov.AgreementIDs(),
			Reason:              sinergiv1.ReportRecipientReason_REPORT_RECIPIENT_REASON_ROUTED,
			AddTime:             timestamppb.New(t),
			AcknowledgeDeadline: deadline(sev, t),
		})
	}
	return r
}

// missOf is why unit code was left out. When an agreement for the very
// scope fell short (expired, revoked, not yet in force) it names it; when
// agreements bind the two but none for this scope, or none binds them at
// all, there is no one agreement to name.
func missOf(code string, cov directory.Coverage) *sinergiv1.ReportRoutingMiss {
	m := &sinergiv1.ReportRoutingMiss{InstitutionCode: code, Gap: cov.Gap}
	if cov.Gap == sinergiv1.CoverageGap_COVERAGE_GAP_SCOPE_NOT_COVERED || cov.Gap == sinergiv1.CoverageGap_COVERAGE_GAP_NONE_EXISTS {
		return m
	}
	for _, nm := range cov.NearMisses {
		if nm.GetGap() == cov.Gap {
			m.AgreementId, m.GapTime = nm.GetAgreementId(), nm.GetGapTime()
			break
		}
	}
	return m
}
