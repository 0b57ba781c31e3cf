package authz

import (
	"slices"

	"github.com/sinergi-id/sinergi/internal/reports"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// reportScopes are the scopes reports travel under (internal/reports owns
// which kind travels under which).
var reportScopes = reports.Scopes

// reportParties are the two ends of a report: facilities file and read
// their own, police units receive and read what they received.
var reportParties = slices.Concat(facilities, police)

// reportReaders are the parties and the corrections side's oversight: the
// ministry and a regional office read the reports and statistics of their
// own units (oversight inside one side, never across).
var reportReaders = slices.Concat(reportParties, correctionsOffices)

// reportPolicy covers ReportService (intelligence reports from facilities).
// Its entries live here, beside the other tables of Policy.
//
// Every method but ReportStats carries or returns people's names and NIKs,
// or records an officer's act, so it carries an AccessContext. Filing needs
// the facility's reach for detainee data (the records its report links
// must be among); the reads and changes need the reach of all three scopes.
//
// Police units file too (warnings to facilities): filing then needs the
// unit's reach for the report's scope, which must include the facility.
// Detainee data comes first, as the restriction of a facility's links.
var reportPolicy = map[string]Rule{
	sinergiv1.ReportService_SubmitReport_FullMethodName: {Kinds: reportParties, Scopes: slices.Concat([]sinergiv1.Scope{sinergiv1.Scope_SCOPE_DETAINEE_DATA}, reportScopes),
		Purposes: reportFiling, Subjects: []string{SubjectReport}},
	sinergiv1.ReportService_GetReport_FullMethodName:           {Kinds: reportReaders, Scopes: reportScopes, Purposes: reportReads, Subjects: []string{SubjectReport}},
	sinergiv1.ReportService_GetReportAttachment_FullMethodName: {Kinds: reportReaders, Scopes: reportScopes, Purposes: reportReads, Subjects: []string{SubjectReport}},
	sinergiv1.ReportService_ListReports_FullMethodName:         {Kinds: reportReaders, Scopes: reportScopes, Purposes: reportReads, Subjects: []string{SubjectReport}},
	// A regional office watches too: it observes the police's warnings to its
	// facilities.
	sinergiv1.ReportService_WatchReports_FullMethodName: {Kinds: reportWatchers, Scopes: reportScopes, Purposes: reportWatching, Subjects: []string{SubjectReport}, Stream: RecheckAgreements},
	sinergiv1.ReportService_ReportStats_FullMethodName:  {Kinds: reportReaders, Scopes: reportScopes},
	// A facility acknowledges and acts on the warnings a police unit sends it.
	sinergiv1.ReportService_AcknowledgeReport_FullMethodName:     {Kinds: reportParties, Scopes: reportScopes, Purposes: reportActs, Subjects: []string{SubjectReport}},
	sinergiv1.ReportService_UpdateReportStatus_FullMethodName:    {Kinds: reportParties, Scopes: reportScopes, Purposes: reportActs, Subjects: []string{SubjectReport}},
	sinergiv1.ReportService_AddReportAddendum_FullMethodName:     {Kinds: reportParties, Scopes: reportScopes, Purposes: reportActs, Subjects: []string{SubjectReport}},
	sinergiv1.ReportService_PostCoordinationEntry_FullMethodName: {Kinds: reportParties, Scopes: reportScopes, Purposes: reportActs, Subjects: []string{SubjectReport}},
	// Both sides' oversight reviews every emergency override; the list
	// carries no report content, so no agreement is involved.
	sinergiv1.ReportService_ListEmergencyOverrides_FullMethodName: {Kinds: oversight, Purposes: auditReads},
}

// reportWatchers are the parties and the regional offices.
var reportWatchers = slices.Concat(reportParties, []sinergiv1.InstitutionKind{sinergiv1.InstitutionKind_INSTITUTION_KIND_KANWIL})
