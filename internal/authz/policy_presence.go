package authz

import (
	"time"

	"github.com/sinergi-id/sinergi/internal/directory"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// SubjectHitRequest names a confirmation request for the record behind a
// remote hit (internal/presence).
const SubjectHitRequest = "hit-request"

// The purpose table's rows of national hit / no-hit.
var (
	// The record behind a remote hit is asked for, and read, only for an
	// investigation or a warrant, each with its case reference (Prüm's
	// justified second step).
	hitJustified = []sinergiv1.Purpose{sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, sinergiv1.Purpose_PURPOSE_WARRANT_EXECUTION}
	hitAsking    = Purposes{PoliceUnit: hitJustified}
	// A request is read by its requester for its case, by the holding
	// facility for its security, by a regional office for oversight.
	hitReads = Purposes{PoliceUnit: hitJustified, Facility: {sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION},
		CorrectionsOffice: {sinergiv1.Purpose_PURPOSE_OVERSIGHT}}
	// The holder, or the office it was escalated to, answers.
	hitAnswering = Purposes{Facility: {sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION},
		CorrectionsOffice: {sinergiv1.Purpose_PURPOSE_OVERSIGHT}}
	// The notices stream: a facility and a regional office for security or
	// oversight, a police unit for its work.
	hitNoticeReads = Purposes{PoliceUnit: policeWork,
		Facility:          {sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION, sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS},
		CorrectionsOffice: {sinergiv1.Purpose_PURPOSE_OVERSIGHT, sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}}
	answerers = append(append([]sinergiv1.InstitutionKind{}, facilities...), correctionsOffices...)
)

// presencePolicy covers the second step of national hit / no-hit and its
// notices (CheckPresence itself is custodyPolicy's). Its entries live here,
// beside the other tables of Policy.
//
//   - A police unit asks for the record behind a hit with the hit
//     reference it was given, for an investigation or a warrant; the
//     request is the holding facility's to answer, and, once escalated,
//     its regional office's. The handler checks the reference (sealed,
//     the unit's own, not expired) and that an agreement in force still
//     covers the two for detainee data nationally (NationalReach).
//   - A request is seen by its requester, the holding facility and the
//     office it was escalated to, no one else (NOT_FOUND); the record it
//     releases, by the requester once confirmed, as the agreements for
//     detainee data between the two show it.
//   - The notices are the audience's own: no agreement feeds the stream, so
//     its recheck is the institution's standing.
var presencePolicy = map[string]Rule{
	sinergiv1.CustodyService_RequestHitRecord_FullMethodName: {Kinds: police, Scopes: []sinergiv1.Scope{sinergiv1.Scope_SCOPE_DETAINEE_DATA},
		Purposes: hitAsking, Subjects: []string{SubjectHitRequest, SubjectCustody}},
	sinergiv1.CustodyService_GetHitRequest_FullMethodName: {Kinds: dataReaders, Purposes: hitReads,
		Subjects: []string{SubjectHitRequest, SubjectCustody}},
	sinergiv1.CustodyService_AnswerHitRequest_FullMethodName: {Kinds: answerers, Purposes: hitAnswering,
		Subjects: []string{SubjectHitRequest, SubjectCustody}},
	sinergiv1.CustodyService_WatchHitNotices_FullMethodName: {Kinds: dataReaders, Purposes: hitNoticeReads,
		Subjects: []string{SubjectHitRequest, SubjectCustody}, Stream: RecheckInstitution},
}

// NationalReach is what a police unit's presence checks and hit requests
// reach across the country: every facility an agreement in force covers
// the two for scope, wherever the facility is (a side-wide agreement
// reaches every facility). What it shows of a facility outside the unit's
// own reach is decided by internal/presence: the province, a hit
// reference, and the record only once the facility confirms.
func NationalReach(dir *directory.Snapshot, caller *sinergiv1.Institution, scope sinergiv1.Scope, t time.Time) *Reach {
	return ComputeReach(dir, caller, scope, t, ReachOptions{IgnoreJurisdiction: true})
}
