package authz

import (
	"slices"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// reportScopes are the scopes reports travel under: incidents and requests
// for assistance under incident reports, narcotics under narcotics
// intelligence, threats under threat intelligence. Handlers take the reach
// of each report's own scope with ReachFor.
var reportScopes = []sinergiv1.Scope{
	sinergiv1.Scope_SCOPE_INCIDENT_REPORTS,
	sinergiv1.Scope_SCOPE_NARCOTICS_INTELLIGENCE,
	sinergiv1.Scope_SCOPE_THREAT_INTELLIGENCE,
}

// reportParties are the two ends of a report: facilities file and read
// their own, police units receive and read what they received. The
// ministry and regional offices are not parties to reports.
var reportParties = slices.Concat(facilities, police)

// reportPolicy covers ReportService (intelligence reports from facilities).
// Its entries live here, beside the other tables of Policy.
//
// Every method but ReportStats carries or returns people's names and NIKs,
// or records an officer's act, so it carries an AccessContext. Filing needs
// no reach (the report is the facility's own; routing asks the directory);
// the reads and changes need the reach of all three scopes.
var reportPolicy = map[string]Rule{
	sinergiv1.ReportService_SubmitReport_FullMethodName:        {Kinds: facilities, PersonalData: true, Write: true},
	sinergiv1.ReportService_GetReport_FullMethodName:           {Kinds: reportParties, Scopes: reportScopes, PersonalData: true},
	sinergiv1.ReportService_GetReportAttachment_FullMethodName: {Kinds: reportParties, Scopes: reportScopes, PersonalData: true},
	sinergiv1.ReportService_ListReports_FullMethodName:         {Kinds: reportParties, Scopes: reportScopes, PersonalData: true},
	sinergiv1.ReportService_WatchReports_FullMethodName:        {Kinds: reportParties, Scopes: reportScopes, PersonalData: true},
	sinergiv1.ReportService_ReportStats_FullMethodName:         {Kinds: reportParties, Scopes: reportScopes},
	sinergiv1.ReportService_AcknowledgeReport_FullMethodName:   {Kinds: police, Scopes: reportScopes, PersonalData: true, Write: true},
	sinergiv1.ReportService_UpdateReportStatus_FullMethodName:  {Kinds: police, Scopes: reportScopes, PersonalData: true, Write: true},
	sinergiv1.ReportService_AddReportAddendum_FullMethodName:   {Kinds: reportParties, Scopes: reportScopes, PersonalData: true, Write: true},
}
