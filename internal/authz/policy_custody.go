package authz

import (
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// custodyPolicy covers CustodyService (custody records, events, presence,
// watch lists). Its entries live here, beside the other tables of Policy.
//
//   - Writes (records, events, roster uploads) are the facilities' own: a
//     facility is the only writer of its records, the facility being the
//     caller and never a field of the request.
//   - Reads need an agreement scope, and see only the reach it gives:
//     presence (hit / no-hit) needs custody events, the first step of a
//     two-step query as in Prüm; records and their events need detainee
//     data and a justified request (AccessContext).
//   - What a response shows of a record is what the agreements behind the
//     grant cover (classes.go): under custody events alone a delivery says
//     what happened where, not to whom.
//   - Readers are the police units, the facilities (their own records), and
//     the corrections side's oversight: the ministry headquarters (every
//     facility) and the regional offices (the facilities of their province)
//     read their own units' data as their own (reach.go), with children's
//     identities; like everyone, only through the read methods, with a
//     justified request, and audited.
//   - The event stream and watch lists are for police units: they are told
//     of events within the agreements' reach (their jurisdiction, or the
//     people they watch anywhere). Every delivery carries personal data, so
//     the stream carries an AccessContext and each delivery is audited.
//
// incomingTransfers: a facility prepares a reception for its security or
// the escort.
var incomingTransfers = Purposes{Facility: {sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION, sinergiv1.Purpose_PURPOSE_TRANSFER_ESCORT}}

// reconciling: a facility settles its register for its security.
var reconciling = Purposes{Facility: {sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}}

var custodyPolicy = map[string]Rule{
	sinergiv1.CustodyService_UpsertCustodyRecord_FullMethodName: {Kinds: facilities, Subjects: []string{SubjectCustody}},
	sinergiv1.CustodyService_RecordCustodyEvent_FullMethodName:  {Kinds: facilities, Subjects: []string{SubjectCustody}},
	sinergiv1.CustodyService_SyncRoster_FullMethodName:          {Kinds: facilities, Subjects: []string{SubjectCustody}, Stream: RecheckInstitution},
	// A facility sees the people transferred out to it before it receives
	// them: the corrections side's own data, handed over within it.
	sinergiv1.CustodyService_ListIncomingTransfers_FullMethodName: {Kinds: facilities, Purposes: incomingTransfers, Subjects: []string{SubjectCustody}},
	// A facility's reconciliation items are its own; a regional office
	// reads those escalated to it (corrections oversight).
	sinergiv1.CustodyService_ListReconciliationItems_FullMethodName:   {Kinds: answerers, Purposes: hitAnswering, Subjects: []string{SubjectCustody}},
	sinergiv1.CustodyService_ResolveReconciliationItem_FullMethodName: {Kinds: facilities, Purposes: reconciling, Subjects: []string{SubjectCustody}},

	sinergiv1.CustodyService_CheckPresence_FullMethodName: {Kinds: dataReaders,
		Scopes: []sinergiv1.Scope{sinergiv1.Scope_SCOPE_CUSTODY_EVENTS}, Purposes: custodyReads, Subjects: []string{SubjectCustody}},
	sinergiv1.CustodyService_GetCustodyRecord_FullMethodName: {Kinds: dataReaders,
		Scopes: []sinergiv1.Scope{sinergiv1.Scope_SCOPE_DETAINEE_DATA}, Purposes: custodyReads, Subjects: []string{SubjectCustody}},
	sinergiv1.CustodyService_SearchCustodyRecords_FullMethodName: {Kinds: dataReaders,
		Scopes: []sinergiv1.Scope{sinergiv1.Scope_SCOPE_DETAINEE_DATA}, Purposes: custodyReads, Subjects: []string{SubjectCustody}},
	sinergiv1.CustodyService_ListCustodyEvents_FullMethodName: {Kinds: dataReaders,
		Scopes: []sinergiv1.Scope{sinergiv1.Scope_SCOPE_DETAINEE_DATA}, Purposes: custodyReads, Subjects: []string{SubjectCustody}},

	sinergiv1.CustodyService_WatchCustodyEvents_FullMethodName: {Kinds: police,
		Scopes: []sinergiv1.Scope{sinergiv1.Scope_SCOPE_CUSTODY_EVENTS}, Purposes: watching, Subjects: []string{SubjectCustody},
		Stream: RecheckAgreements},
	// A watch on a record needs the record in the unit's jurisdiction for
	// custody events (what CheckPresence could tell it); one on a NIK, an
	// agreement for custody events anywhere.
	sinergiv1.CustodyService_AddWatch_FullMethodName: {Kinds: police, Scopes: []sinergiv1.Scope{sinergiv1.Scope_SCOPE_CUSTODY_EVENTS},
		Purposes: watching, Subjects: []string{SubjectWatch, SubjectCustody}},
	sinergiv1.CustodyService_RemoveWatch_FullMethodName: {Kinds: police, Purposes: watching, Subjects: []string{SubjectWatch}},
	sinergiv1.CustodyService_ListWatches_FullMethodName: {Kinds: police, Purposes: watching, Subjects: []string{SubjectWatch}},
}
