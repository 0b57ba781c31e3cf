package authz

import (
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Audit subject kinds of screening.
const (
	// SubjectScreening names one screening at a gate: the facility's call
	// and the owning unit's referral of it both carry it.
	SubjectScreening = "screening"
	// SubjectScreeningEntry names an entry of a police unit's list.
	SubjectScreeningEntry = "screening-entry"
	// SubjectVisit names an entry of a facility's visit register.
	SubjectVisit = "visit"
	// SubjectPerson names a person who need not be an inmate (a visitor, an
	// officer screened) by a keyed pseudonym of their NIK, or of their name
	// and birth date (internal/screening): never by the NIK itself.
	SubjectPerson = "person"
)

// The purpose table's screening rows.
var (
	// A unit lists people for an investigation or a warrant (each with its
	// case reference), or for intelligence on narcotics networks.
	screeningListing = Purposes{PoliceUnit: {sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION,
		sinergiv1.Purpose_PURPOSE_WARRANT_EXECUTION, sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS}}
	// A facility screens and registers visits for its security.
	gateWork = Purposes{Facility: {sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}}
	// A unit is told of, and reads, the referrals of its list for its work.
	referralWork = Purposes{PoliceUnit: reportWork}
	// The visit register is personal data of people who are not inmates: a
	// police unit consults it only for an investigation or a warrant, each
	// with its case reference, never for intelligence alone; a facility
	// reads its own register, the ministry and a regional office their
	// facilities' for oversight or a data subject's request.
	visitReads = Purposes{
		PoliceUnit: {sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, sinergiv1.Purpose_PURPOSE_WARRANT_EXECUTION},
		Facility: {sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION, sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS,
			sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST},
		CorrectionsOffice: {sinergiv1.Purpose_PURPOSE_OVERSIGHT, sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST},
	}
	// The ministry designates facilities as an administrative act.
	designating = Purposes{CorrectionsOffice: {sinergiv1.Purpose_PURPOSE_ADMINISTRATION}}
)

var (
	visitorScreening = []sinergiv1.Scope{sinergiv1.Scope_SCOPE_VISITOR_SCREENING}
	theMinistry      = []sinergiv1.InstitutionKind{sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY}
)

// screeningPolicy covers ScreeningService. Its entries live here, beside
// the other tables of Policy.
//
//   - A police unit's list is its own: only it creates, reads and removes
//     its entries (no agreement is involved; another unit's entry answers
//     as a missing one).
//   - A facility screens under the agreements for visitor screening: the
//     lists that apply are those of the units such an agreement in force
//     joins with it, wherever they are (ScreeningOwners), and it learns
//     only CLEAR or REFER with the handling instruction. The owning unit
//     is told of a REFER, and reads its referrals, under the same
//     agreements (ReferralReach).
//   - The visit register is the facility's own; the corrections side's
//     oversight reads its units'; a police unit reads it within its reach
//     for visitor screening, for a case.
//   - Designations are the ministry's administrative acts; anyone may list
//     them (they name facilities, not people).
var screeningPolicy = map[string]Rule{
	sinergiv1.ScreeningService_CreateScreeningEntry_FullMethodName: {Kinds: police, Purposes: screeningListing,
		Subjects: []string{SubjectScreeningEntry}},
	sinergiv1.ScreeningService_GetScreeningEntry_FullMethodName: {Kinds: police, Purposes: screeningListing,
		Subjects: []string{SubjectScreeningEntry}},
	sinergiv1.ScreeningService_ListScreeningEntries_FullMethodName: {Kinds: police, Purposes: screeningListing,
		Subjects: []string{SubjectScreeningEntry}},
	sinergiv1.ScreeningService_RemoveScreeningEntry_FullMethodName: {Kinds: police, Purposes: screeningListing,
		Subjects: []string{SubjectScreeningEntry}},

	sinergiv1.ScreeningService_ScreenVisitor_FullMethodName: {Kinds: facilities, Scopes: visitorScreening, Purposes: gateWork,
		Subjects: []string{SubjectScreening, SubjectPerson, SubjectCustody}},
	sinergiv1.ScreeningService_ScreenOfficer_FullMethodName: {Kinds: facilities, Scopes: visitorScreening, Purposes: gateWork,
		Subjects: []string{SubjectScreening, SubjectPerson}},

	sinergiv1.ScreeningService_WatchScreeningReferrals_FullMethodName: {Kinds: police, Scopes: visitorScreening, Purposes: referralWork,
		Subjects: []string{SubjectScreening, SubjectScreeningEntry, SubjectPerson, SubjectCustody}, Stream: RecheckAgreements},
	sinergiv1.ScreeningService_ListScreeningReferrals_FullMethodName: {Kinds: police, Scopes: visitorScreening, Purposes: referralWork,
		Subjects: []string{SubjectScreening, SubjectScreeningEntry, SubjectPerson, SubjectCustody}},

	sinergiv1.ScreeningService_RegisterVisit_FullMethodName: {Kinds: facilities, Scopes: visitorScreening, Purposes: gateWork,
		Subjects: []string{SubjectVisit, SubjectPerson, SubjectCustody, SubjectScreening}},
	sinergiv1.ScreeningService_EndVisit_FullMethodName: {Kinds: facilities, Scopes: visitorScreening, Purposes: gateWork,
		Subjects: []string{SubjectVisit, SubjectPerson, SubjectCustody}},
	sinergiv1.ScreeningService_ListVisits_FullMethodName: {Kinds: dataReaders, Scopes: visitorScreening, Purposes: visitReads,
		Subjects: []string{SubjectVisit, SubjectPerson, SubjectCustody}},

	sinergiv1.ScreeningService_DesignateHighRisk_FullMethodName: {Kinds: theMinistry, Purposes: designating,
		Subjects: []string{SubjectInstitution}},
	sinergiv1.ScreeningService_LiftHighRisk_FullMethodName: {Kinds: theMinistry, Purposes: designating,
		Subjects: []string{SubjectInstitution}},
	sinergiv1.ScreeningService_ListHighRiskDesignations_FullMethodName: {},
}
