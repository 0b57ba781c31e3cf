package authz

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Class is a class of data that may leave the service. Every field of every
// response message belongs to one (classTable, proved complete by a test);
// personal classes each need an agreement scope that covers them.
type Class uint8

// Personal classes, each covered by the scopes of classScopes.
const (
	classNone Class = iota
	// Who the person is: name, aliases, NIK, birth, parents, address, photo
	// hash, register numbers.
	ClassIdentity
	// Where and since when the person is held, and the record's status.
	ClassPlacement
	// Legal status and case.
	ClassLegal
	// Risk flags.
	ClassRisk
	// Custody events: what happened, when, where.
	ClassEvents
	// The content of an intelligence report.
	ClassReport
	// The firearms register: weapons, licences, assignments, ammunition,
	// inspections. Not about people, but exchanged only under firearms
	// governance.
	ClassFirearms
	// An officer the firearms register names: a licence holder's NIP and
	// name, the officers who acted.
	ClassOfficer
	// A screening at a facility's gate and its referral to the owning
	// police unit: who was screened, where, visiting whom, the answer.
	ClassScreening
	// A facility's visit register.
	ClassVisits
	// A police unit's screening list: no scope covers it, so only its
	// owner, whose own data it is, ever reads it.
	ClassWatchList

	// Not personal data: any authenticated institution reads the directory.
	ClassDirectory
	// The audit trail: oversight reads it.
	ClassAudit
	// The audit log's tree: sizes, hashes and signed checkpoints, which
	// name no one; every institution reads them, to check the log grows.
	ClassLog
	// About the answer itself: cursors, page tokens, counts, flags.
	ClassControl

	// nested marks a message-valued field whose own fields are classified.
	nested
)

var classNames = map[Class]string{
	ClassIdentity: "identity", ClassPlacement: "placement", ClassLegal: "legal", ClassRisk: "risk",
	ClassEvents: "events", ClassReport: "report", ClassFirearms: "firearms", ClassOfficer: "officer",
	ClassScreening: "screening", ClassVisits: "visits", ClassWatchList: "watch-list",
	ClassDirectory: "directory", ClassAudit: "audit",
	ClassLog: "log", ClassControl: "control", nested: "nested",
}

func (c Class) String() string {
	if n, ok := classNames[c]; ok {
		return n
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Nested reports whether c marks a message whose own fields are classified.
func (c Class) Nested() bool { return c == nested }

// Personal reports whether data of class c needs an agreement scope (the
// firearms register, not about people itself, does too; a screening list
// needs one no scope gives).
func (c Class) Personal() bool { return c >= ClassIdentity && c <= ClassWatchList }

// Proto is the class as the API names it in withheld_classes.
func (c Class) Proto() sinergiv1.DataClass {
	switch c {
	case ClassIdentity:
		return sinergiv1.DataClass_DATA_CLASS_IDENTITY
	case ClassPlacement:
		return sinergiv1.DataClass_DATA_CLASS_PLACEMENT
	case ClassLegal:
		return sinergiv1.DataClass_DATA_CLASS_LEGAL
	case ClassRisk:
		return sinergiv1.DataClass_DATA_CLASS_RISK
	case ClassEvents:
		return sinergiv1.DataClass_DATA_CLASS_EVENTS
	case ClassReport:
		return sinergiv1.DataClass_DATA_CLASS_REPORT
	case ClassFirearms:
		return sinergiv1.DataClass_DATA_CLASS_FIREARMS
	case ClassOfficer:
		return sinergiv1.DataClass_DATA_CLASS_OFFICER
	case ClassScreening:
		return sinergiv1.DataClass_DATA_CLASS_SCREENING
	case ClassVisits:
		return sinergiv1.DataClass_DATA_CLASS_VISITS
	case ClassWatchList:
		return sinergiv1.DataClass_DATA_CLASS_WATCH_LIST
	}
	return sinergiv1.DataClass_DATA_CLASS_UNSPECIFIED
}

// ClassSet is a set of classes.
type ClassSet uint16

// Of is the set of cs.
func Of(cs ...Class) ClassSet {
	var s ClassSet
	for _, c := range cs {
		s |= 1 << c
	}
	return s
}

// Has reports whether c is in s.
func (s ClassSet) Has(c Class) bool { return s&(1<<c) != 0 }

// Covers reports whether every class of o is in s.
func (s ClassSet) Covers(o ClassSet) bool { return s&o == o }

// Classes lists the set, in class order.
func (s ClassSet) Classes() []Class {
	var out []Class
	for c := ClassIdentity; c < nested; c++ {
		if s.Has(c) {
			out = append(out, c)
		}
	}
	return out
}

// Proto lists the set's personal classes as the API names them.
func (s ClassSet) Proto() []sinergiv1.DataClass {
	var out []sinergiv1.DataClass
	for _, c := range s.Classes() {
		if c.Personal() {
			out = append(out, c.Proto())
		}
	}
	return out
}

// CustodyClasses are the classes of custody data.
var CustodyClasses = Of(ClassIdentity, ClassPlacement, ClassLegal, ClassRisk, ClassEvents)

// allClasses is what one's own data shows.
var allClasses = CustodyClasses | Of(ClassReport, ClassFirearms, ClassOfficer) | ScreeningClasses | Of(ClassWatchList)

// ScreeningClasses are the classes visitor screening covers.
var ScreeningClasses = Of(ClassScreening, ClassVisits)

// classScopes says which scopes cover each personal class: an agreement
// covering any of them, for the two institutions, covers the class. A
// child's identity needs children's data besides (Grant.Children).
var classScopes = map[Class][]sinergiv1.Scope{
	ClassIdentity:  {sinergiv1.Scope_SCOPE_DETAINEE_DATA},
	ClassLegal:     {sinergiv1.Scope_SCOPE_DETAINEE_DATA},
	ClassRisk:      {sinergiv1.Scope_SCOPE_DETAINEE_DATA},
	ClassPlacement: {sinergiv1.Scope_SCOPE_DETAINEE_DATA, sinergiv1.Scope_SCOPE_CUSTODY_EVENTS},
	ClassEvents:    {sinergiv1.Scope_SCOPE_DETAINEE_DATA, sinergiv1.Scope_SCOPE_CUSTODY_EVENTS},
	ClassReport:    reportScopes,
	ClassFirearms:  firearmsScopes,
	ClassOfficer:   firearmsScopes,
	ClassScreening: {sinergiv1.Scope_SCOPE_VISITOR_SCREENING},
	ClassVisits:    {sinergiv1.Scope_SCOPE_VISITOR_SCREENING},
	// ClassWatchList: no scope. A screening list is never exchanged.
}

// classesOfScopes is the set of classes the scopes cover.
func classesOfScopes(scopes ...sinergiv1.Scope) ClassSet {
	var s ClassSet
	for c, covering := range classScopes {
		for _, sc := range scopes {
			if slices.Contains(covering, sc) {
				s |= Of(c)
			}
		}
	}
	return s
}

// messageClasses classifies the fields of one message type: each field by
// name, or every field at once (all) for a message whose every part is of
// one class by nature (an identity is identity through and through).
// Message-valued fields whose type is itself classified default to nested.
type messageClasses struct {
	all    Class
	fields map[protoreflect.Name]Class
}

func fields(kv ...any) messageClasses {
	m := messageClasses{fields: map[protoreflect.Name]Class{}}
	for i := 0; i < len(kv); i += 2 {
		m.fields[protoreflect.Name(kv[i].(string))] = kv[i+1].(Class)
	}
	return m
}

func whole(c Class) messageClasses { return messageClasses{all: c} }

// classTable classifies every message a response can carry. A test walks
// every method's response and fails on a message or field missing here.
var classTable = map[protoreflect.FullName]messageClasses{
	// Directory.
	"sinergi.v1.Institution":                  whole(ClassDirectory),
	"sinergi.v1.Agreement":                    whole(ClassDirectory),
	"sinergi.v1.Party":                        whole(ClassDirectory),
	"sinergi.v1.NearMiss":                     whole(ClassDirectory),
	"sinergi.v1.GetInstitutionResponse":       fields("institution", nested),
	"sinergi.v1.ListInstitutionsResponse":     fields("institutions", nested, "next_page_token", ClassControl),
	"sinergi.v1.CreateInstitutionResponse":    fields("institution", nested),
	"sinergi.v1.SetInstitutionStatusResponse": fields("institution", nested),
	"sinergi.v1.GetAgreementResponse":         fields("agreement", nested),
	"sinergi.v1.ListAgreementsResponse":       fields("agreements", nested, "next_page_token", ClassControl),
	"sinergi.v1.CheckCoverageResponse": fields("covered", ClassDirectory, "agreements", nested, "gap", ClassDirectory,
		"near_misses", nested),
	"sinergi.v1.CreateAgreementResponse":  fields("agreement", nested),
	"sinergi.v1.ConfirmAgreementResponse": fields("agreement", nested),
	"sinergi.v1.RevokeAgreementResponse":  fields("agreement", nested, "cascaded_ids", ClassDirectory),

	// Audit trail.
	"sinergi.v1.AuditRecord":               whole(ClassAudit),
	"sinergi.v1.SubjectAccess":             whole(ClassAudit),
	"sinergi.v1.Checkpoint":                whole(ClassLog),
	"sinergi.v1.Cosignature":               whole(ClassLog),
	"sinergi.v1.ListAuditRecordsResponse":  fields("records", nested, "next_page_token", ClassControl),
	"sinergi.v1.ListSubjectAccessResponse": fields("accesses", nested, "next_page_token", ClassControl),
	"sinergi.v1.GetCheckpointResponse":     fields("checkpoint", nested, "witnessed", nested),
	// An inclusion proof carries its record and the record's leaf, which
	// are the audit trail's; the proof's hashes and sizes are the log's.
	"sinergi.v1.GetInclusionProofResponse": fields("leaf_index", ClassLog, "tree_size", ClassLog, "hashes", ClassLog,
		"leaf", ClassAudit, "checkpoint", nested, "record", nested),
	"sinergi.v1.GetConsistencyProofResponse": fields("first_tree_size", ClassLog, "second_tree_size", ClassLog,
		"hashes", ClassLog, "checkpoint", nested),
	"sinergi.v1.AddCosignatureResponse": fields("cosignature", nested),

	// Custody.
	"sinergi.v1.Identity":    whole(ClassIdentity),
	"sinergi.v1.LegalStatus": whole(ClassLegal),
	"sinergi.v1.CustodyRecord": fields(
		"id", ClassPlacement, "facility_code", ClassPlacement, "register_number", ClassIdentity,
		"identity", ClassIdentity, "legal_status", ClassLegal, "offence_articles", ClassLegal,
		"risk_flags", ClassRisk, "photo_sha256", ClassIdentity, "status", ClassPlacement,
		"held_since", ClassPlacement, "status_time", ClassPlacement, "child", ClassLegal,
		"identity_masked", ClassControl, "create_time", ClassPlacement, "update_time", ClassPlacement,
		"withheld_classes", ClassControl),
	"sinergi.v1.CustodyEvent": fields(
		"id", ClassEvents, "record_id", ClassEvents, "facility_code", ClassEvents, "register_number", ClassIdentity,
		"type", ClassEvents, "effective_time", ClassEvents, "release_reason", ClassEvents, "release_note", ClassLegal,
		"counterpart_facility_code", ClassPlacement, "counterpart_register_number", ClassIdentity,
		"status_after", ClassPlacement, "record_time", ClassEvents,
		"corrects_event_id", ClassEvents, "correction_reason", ClassLegal, "corrected_by_event_id", ClassEvents,
		"escort_codes", ClassEvents),
	"sinergi.v1.Placement": whole(ClassPlacement),
	"sinergi.v1.Watch": fields(
		"id", ClassControl, "institution_code", ClassDirectory, "nik", ClassIdentity, "record_id", ClassPlacement,
		"reason", ClassControl, "expire_time", ClassControl, "create_time", ClassControl, "remove_time", ClassControl,
		"operator_id", ClassAudit, "purpose", ClassAudit, "case_reference", ClassAudit,
		"agreement_ids", ClassDirectory, "agreement_ended", ClassDirectory),
	"sinergi.v1.RosterRejection":             fields("position", ClassControl, "register_number", ClassIdentity, "violations", nested),
	"sinergi.v1.RosterViolation":             whole(ClassControl),
	"sinergi.v1.RosterDiscrepancy":           fields("record_id", ClassPlacement, "register_number", ClassIdentity, "status", ClassPlacement),
	"sinergi.v1.UpsertCustodyRecordResponse": fields("record", nested, "created", ClassControl),
	"sinergi.v1.RecordCustodyEventResponse":  fields("event", nested, "record", nested, "replayed", ClassControl),
	"sinergi.v1.SyncRosterResponse": fields("received", ClassControl, "inserted", ClassControl, "updated", ClassControl,
		"unchanged", ClassControl, "rejected", ClassControl, "rejections", nested, "missing", nested,
		"missing_count", ClassControl, "not_held", nested, "not_held_count", ClassControl, "reconciliation_items_opened", ClassControl),
	"sinergi.v1.CheckPresenceResponse":        fields("held", ClassPlacement, "placements", nested, "remote_hits", nested),
	"sinergi.v1.GetCustodyRecordResponse":     fields("record", nested),
	"sinergi.v1.SearchCustodyRecordsResponse": fields("records", nested, "next_page_token", ClassControl),
	"sinergi.v1.ListCustodyEventsResponse":    fields("events", nested, "next_page_token", ClassControl),
	"sinergi.v1.WatchCustodyEventsResponse": fields("cursor", ClassControl, "event", nested, "subject", ClassIdentity,
		"identity_masked", ClassControl, "reason", ClassControl, "watch_id", ClassControl, "withheld_classes", ClassControl),
	"sinergi.v1.IncomingTransfer":              fields("record", nested, "transfer_out", nested),
	"sinergi.v1.ListIncomingTransfersResponse": fields("transfers", nested, "next_page_token", ClassControl),
	"sinergi.v1.AddWatchResponse":              fields("watch", nested),
	"sinergi.v1.RemoveWatchResponse":           fields("watch", nested),
	"sinergi.v1.ListWatchesResponse":           fields("watches", nested, "next_page_token", ClassControl),
	// National hit / no-hit: a remote hit says the province alone; a
	// request and its notices name the record, its facility and who asks.
	"sinergi.v1.RemoteHit": fields("province_code", ClassPlacement, "province_name", ClassPlacement, "hit_reference", ClassControl,
		"expire_time", ClassControl),
	"sinergi.v1.HitRequest": fields("id", ClassControl, "state", ClassControl, "urgency", ClassControl, "requester_code", ClassDirectory,
		"operator_id", ClassAudit, "purpose", ClassAudit, "case_reference", ClassAudit, "reason", ClassAudit,
		"province_code", ClassPlacement, "facility_code", ClassPlacement, "record_id", ClassPlacement, "request_time", ClassControl,
		"due_time", ClassControl, "escalate_time", ClassControl, "escalated_to_code", ClassDirectory, "answer_time", ClassControl,
		"answered_by_code", ClassDirectory, "answer_operator_id", ClassAudit, "deny_reason", ClassControl, "record", nested),
	"sinergi.v1.HitNotice": fields("kind", ClassControl, "time", ClassControl, "facility_code", ClassPlacement, "record_id", ClassPlacement,
		"requester_code", ClassDirectory, "operator_id", ClassAudit, "purpose", ClassAudit, "case_reference", ClassAudit,
		"hit_request_id", ClassControl, "urgency", ClassControl, "due_time", ClassControl, "state", ClassControl,
		"expected_release_date", ClassLegal, "days_left", ClassLegal, "reconciliation_item_id", ClassControl),
	"sinergi.v1.ReconciliationItem": fields("id", ClassControl, "facility_code", ClassPlacement, "record_id", ClassPlacement,
		"register_number", ClassIdentity, "open_time", ClassControl, "due_time", ClassControl, "resolution", ClassPlacement,
		"note", ClassPlacement, "resolve_time", ClassControl, "resolve_operator_id", ClassAudit, "escalate_time", ClassControl,
		"escalated_to_code", ClassDirectory),
	"sinergi.v1.ListReconciliationItemsResponse":   fields("items", nested, "next_page_token", ClassControl),
	"sinergi.v1.ResolveReconciliationItemResponse": fields("item", nested),
	"sinergi.v1.RequestHitRecordResponse":          fields("request", nested, "replayed", ClassControl),
	"sinergi.v1.GetHitRequestResponse":             fields("request", nested),
	"sinergi.v1.AnswerHitRequestResponse":          fields("request", nested),
	"sinergi.v1.WatchHitNoticesResponse":           fields("cursor", ClassControl, "notice", nested),

	// Reports: every part of a report is report content, under its kind's scope.
	"sinergi.v1.Report":                      whole(ClassReport),
	"sinergi.v1.ReportPerson":                whole(ClassReport),
	"sinergi.v1.ReportOutsider":              whole(ClassReport),
	"sinergi.v1.ReportItem":                  whole(ClassReport),
	"sinergi.v1.ReportSubstanceItem":         whole(ClassReport),
	"sinergi.v1.ReportPhoneItem":             whole(ClassReport),
	"sinergi.v1.ReportAttachment":            whole(ClassReport),
	"sinergi.v1.ReportRecipient":             whole(ClassReport),
	"sinergi.v1.ReportRoutingMiss":           whole(ClassReport),
	"sinergi.v1.ReportAddendum":              whole(ClassReport),
	"sinergi.v1.ReportEvent":                 whole(ClassReport),
	"sinergi.v1.ReportCount":                 whole(ClassReport),
	"sinergi.v1.ReportSeizedTotal":           whole(ClassReport),
	"sinergi.v1.SubmitReportResponse":        fields("report", nested, "replayed", ClassControl),
	"sinergi.v1.GetReportResponse":           fields("report", nested),
	"sinergi.v1.GetReportAttachmentResponse": fields("attachment", nested),
	"sinergi.v1.ListReportsResponse":         fields("reports", nested, "next_page_token", ClassControl),
	"sinergi.v1.WatchReportsResponse":        fields("cursor", ClassControl, "event", nested, "report", nested),
	"sinergi.v1.ReportStatsResponse": fields("counts", nested, "seized", nested, "phones_seized", ClassReport,
		"total", ClassReport, "units", nested),
	"sinergi.v1.ReportUnitStats":            whole(ClassReport),
	"sinergi.v1.AcknowledgeReportResponse":  fields("report", nested),
	"sinergi.v1.UpdateReportStatusResponse": fields("report", nested),
	"sinergi.v1.AddReportAddendumResponse":  fields("report", nested),
	"sinergi.v1.ReportWeaponItem":           whole(ClassReport),
	// An assistance request's coordination thread is report content too.
	"sinergi.v1.CoordinationEntry":             whole(ClassReport),
	"sinergi.v1.Dispatch":                      whole(ClassReport),
	"sinergi.v1.PostCoordinationEntryResponse": fields("report", nested),
	// An override as oversight reviews it: who invoked it, why, whom it
	// reached; no report content.
	"sinergi.v1.EmergencyOverride":              whole(ClassAudit),
	"sinergi.v1.ListEmergencyOverridesResponse": fields("overrides", nested, "next_page_token", ClassControl),

	// The firearms register: what it holds is the register's; the officers
	// it names (holders by NIP and name, who acted) are officers' data.
	"sinergi.v1.Weapon": fields(
		"id", ClassFirearms, "facility_code", ClassFirearms, "category", ClassFirearms, "make", ClassFirearms,
		"model", ClassFirearms, "calibre", ClassFirearms, "serial_number", ClassFirearms, "acquisition", nested,
		"armoury", ClassFirearms, "status", ClassFirearms, "counterpart_code", ClassFirearms, "licence_state", ClassFirearms,
		"ownership_licence", nested, "current_assignment", nested, "licensing_code", ClassFirearms,
		"register_time", ClassFirearms, "register_operator_id", ClassOfficer, "update_time", ClassFirearms),
	"sinergi.v1.WeaponAcquisition": whole(ClassFirearms),
	"sinergi.v1.FirearmLicence": fields(
		"id", ClassFirearms, "facility_code", ClassFirearms, "kind", ClassFirearms, "weapon_id", ClassFirearms,
		"holder_nip", ClassOfficer, "holder_name", ClassOfficer, "category", ClassFirearms, "licensing_code", ClassFirearms,
		"state", ClassFirearms, "number", ClassFirearms, "effective_time", ClassFirearms, "expire_time", ClassFirearms,
		"conditions", ClassFirearms, "reason", ClassFirearms, "justification", ClassFirearms, "apply_time", ClassFirearms,
		"apply_operator_id", ClassOfficer, "decide_time", ClassFirearms, "decide_operator_id", ClassOfficer,
		"revoke_time", ClassFirearms, "revoke_operator_id", ClassOfficer, "renewals", ClassFirearms),
	"sinergi.v1.WeaponAssignment": fields(
		"id", ClassFirearms, "weapon_id", ClassFirearms, "facility_code", ClassFirearms, "holder_nip", ClassOfficer,
		"holder_name", ClassOfficer, "holder_licence_id", ClassFirearms, "ownership_licence_id", ClassFirearms,
		"duty", ClassFirearms, "calibre", ClassFirearms, "rounds_issued", ClassFirearms, "issue_time", ClassFirearms,
		"issue_operator_id", ClassOfficer, "return_time", ClassFirearms, "return_operator_id", ClassOfficer,
		"rounds_returned", ClassFirearms, "rounds_discharged", ClassFirearms, "return_note", ClassFirearms),
	"sinergi.v1.AmmunitionStock": whole(ClassFirearms),
	"sinergi.v1.InspectionCheck": whole(ClassFirearms),
	"sinergi.v1.InspectionFinding": fields(
		"number", ClassFirearms, "weapon_id", ClassFirearms, "kind", ClassFirearms, "description", ClassFirearms,
		"due_time", ClassFirearms, "status", ClassFirearms, "resolution", ClassFirearms, "resolve_time", ClassFirearms,
		"resolve_operator_id", ClassOfficer),
	"sinergi.v1.Inspection": fields(
		"id", ClassFirearms, "facility_code", ClassFirearms, "inspector_code", ClassFirearms, "inspect_time", ClassFirearms,
		"inspector_ids", ClassOfficer, "checks", nested, "findings", nested, "note", ClassFirearms,
		"operator_id", ClassOfficer, "record_time", ClassFirearms),
	"sinergi.v1.FirearmEvent": fields(
		"id", ClassFirearms, "kind", ClassFirearms, "time", ClassFirearms, "facility_code", ClassFirearms,
		"actor_code", ClassFirearms, "operator_id", ClassOfficer, "weapon_id", ClassFirearms, "licence_id", ClassFirearms,
		"assignment_id", ClassFirearms, "inspection_id", ClassFirearms, "finding_number", ClassFirearms,
		"report_id", ClassFirearms, "status", ClassFirearms, "calibre", ClassFirearms, "rounds", ClassFirearms,
		"stock", ClassFirearms, "days_left", ClassFirearms, "licence_kind", ClassFirearms, "expire_time", ClassFirearms,
		"note", ClassFirearms),
	"sinergi.v1.WeaponCount":                  whole(ClassFirearms),
	"sinergi.v1.LicenceCount":                 whole(ClassFirearms),
	"sinergi.v1.RegisterWeaponResponse":       fields("weapon", nested),
	"sinergi.v1.UpdateWeaponStatusResponse":   fields("weapon", nested),
	"sinergi.v1.ReportWeaponIncidentResponse": fields("weapon", nested, "report", nested, "replayed", ClassControl),
	"sinergi.v1.RecordAmmunitionResponse":     fields("stock", nested),
	"sinergi.v1.ApplyForLicenceResponse":      fields("licence", nested),
	"sinergi.v1.ApproveLicenceResponse":       fields("licence", nested),
	"sinergi.v1.RefuseLicenceResponse":        fields("licence", nested),
	"sinergi.v1.RenewLicenceResponse":         fields("licence", nested),
	"sinergi.v1.RevokeLicenceResponse":        fields("licence", nested),
	"sinergi.v1.IssueWeaponResponse":          fields("assignment", nested),
	"sinergi.v1.ReturnWeaponResponse":         fields("assignment", nested),
	"sinergi.v1.RecordInspectionResponse":     fields("inspection", nested),
	"sinergi.v1.ResolveFindingResponse":       fields("inspection", nested),
	"sinergi.v1.GetWeaponResponse":            fields("weapon", nested, "licences", nested),
	"sinergi.v1.ListWeaponsResponse":          fields("weapons", nested, "next_page_token", ClassControl),
	"sinergi.v1.GetLicenceResponse":           fields("licence", nested),
	"sinergi.v1.ListLicencesResponse":         fields("licences", nested, "next_page_token", ClassControl),
	"sinergi.v1.ListAssignmentsResponse":      fields("assignments", nested, "next_page_token", ClassControl),
	"sinergi.v1.ListAmmunitionResponse":       fields("stocks", nested),
	"sinergi.v1.GetInspectionResponse":        fields("inspection", nested),
	"sinergi.v1.ListInspectionsResponse":      fields("inspections", nested, "next_page_token", ClassControl),
	"sinergi.v1.ListFirearmEventsResponse":    fields("events", nested, "next_page_token", ClassControl),
	"sinergi.v1.WatchFirearmsResponse":        fields("cursor", ClassControl, "event", nested),
	"sinergi.v1.FirearmsStatsResponse":        fields("weapons", nested, "licences", nested, "total_weapons", ClassFirearms),

	// Screening. A person screened, listed or visiting (ScreenedPerson)
	// takes the class of what holds it.
	"sinergi.v1.ScreeningEntry":                   whole(ClassWatchList),
	"sinergi.v1.Screening":                        whole(ClassScreening),
	"sinergi.v1.ScreeningReferral":                whole(ClassScreening),
	"sinergi.v1.Visit":                            whole(ClassVisits),
	"sinergi.v1.HighRiskDesignation":              whole(ClassDirectory),
	"sinergi.v1.CreateScreeningEntryResponse":     fields("entry", nested),
	"sinergi.v1.GetScreeningEntryResponse":        fields("entry", nested),
	"sinergi.v1.ListScreeningEntriesResponse":     fields("entries", nested, "next_page_token", ClassControl),
	"sinergi.v1.RemoveScreeningEntryResponse":     fields("entry", nested),
	"sinergi.v1.ScreenVisitorResponse":            fields("screening", nested),
	"sinergi.v1.ScreenOfficerResponse":            fields("screening", nested),
	"sinergi.v1.WatchScreeningReferralsResponse":  fields("cursor", ClassControl, "referral", nested),
	"sinergi.v1.ListScreeningReferralsResponse":   fields("referrals", nested, "next_page_token", ClassControl),
	"sinergi.v1.RegisterVisitResponse":            fields("visit", nested, "screening_recommended", ClassControl),
	"sinergi.v1.EndVisitResponse":                 fields("visit", nested),
	"sinergi.v1.ListVisitsResponse":               fields("visits", nested, "next_page_token", ClassControl),
	"sinergi.v1.DesignateHighRiskResponse":        fields("designation", nested, "created", ClassControl),
	"sinergi.v1.LiftHighRiskResponse":             fields("designation", nested),
	"sinergi.v1.ListHighRiskDesignationsResponse": fields("designations", nested, "next_page_token", ClassControl),
}

// ClassOf returns the class of field fd; ok is false when the table does
// not classify it (a message missing from the table, or a field missing
// from its entry). A message-valued field of a whole-class message takes
// the message's class only if its type is unclassified; otherwise nested.
func ClassOf(fd protoreflect.FieldDescriptor) (Class, bool) {
	mc, ok := classTable[fd.ContainingMessage().FullName()]
	if !ok {
		return classNone, false
	}
	if c, ok := mc.fields[fd.Name()]; ok {
		return c, true
	}
	if mc.all != classNone {
		if md := fieldMessage(fd); md != nil {
			if _, classified := classTable[md.FullName()]; classified {
				return nested, true
			}
		}
		return mc.all, true
	}
	return classNone, false
}

// fieldMessage is the message type of fd's values, if they are messages.
func fieldMessage(fd protoreflect.FieldDescriptor) protoreflect.MessageDescriptor {
	if fd.IsMap() {
		return fd.MapValue().Message()
	}
	return fd.Message()
}

// ClassesOf lists the personal classes a message of type md can carry,
// through its nested fields.
func ClassesOf(md protoreflect.MessageDescriptor) ClassSet {
	var s ClassSet
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		fs := md.Fields()
		for i := range fs.Len() {
			c, ok := ClassOf(fs.Get(i))
			switch {
			case !ok:
			case c == nested:
				walk(fieldMessage(fs.Get(i)))
			case c.Personal():
				s |= Of(c)
			}
		}
	}
	walk(md)
	return s
}

// Mask clears, in m, every field of a personal class that covered lacks,
// and returns the classes it withheld. Only messages walked through nested
// fields are looked into; an unclassified field is cleared (fail closed).
func Mask(m proto.Message, covered ClassSet) ClassSet {
	if m == nil {
		return 0
	}
	return mask(m.ProtoReflect(), covered)
}

func mask(m protoreflect.Message, covered ClassSet) ClassSet {
	var withheld ClassSet
	var clear []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		c, ok := ClassOf(fd)
		switch {
		case !ok:
			clear = append(clear, fd)
		case c == nested:
			switch {
			case fd.IsList():
				l := v.List()
				for i := range l.Len() {
					withheld |= mask(l.Get(i).Message(), covered)
				}
			case fd.IsMap():
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					withheld |= mask(mv.Message(), covered)
					return true
				})
			default:
				withheld |= mask(v.Message(), covered)
			}
		case c.Personal() && !covered.Has(c):
			clear = append(clear, fd)
			withheld |= Of(c)
		}
		return true
	})
	for _, fd := range clear {
		m.Clear(fd)
	}
	return withheld
}

// describeClasses renders a set for messages and docs: "identity, legal".
func describeClasses(s ClassSet) string {
	var names []string
	for _, c := range s.Classes() {
		names = append(names, c.String())
	}
	return strings.Join(names, ", ")
}
