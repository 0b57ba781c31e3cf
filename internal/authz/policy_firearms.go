package authz

import (
	"slices"

	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Audit subject kinds of the firearms register: a weapon (and what is
// about one: its assignments, its events), a licence (a holder licence
// names an officer), an inspection.
const (
	SubjectWeapon     = "weapon"
	SubjectLicence    = "licence"
	SubjectInspection = "inspection"
)

// firearmsScopes: every method of the register reads or writes under the
// firearms governance scope of the 2025 PKS.
var firearmsScopes = []sinergiv1.Scope{sinergiv1.Scope_SCOPE_FIREARMS_GOVERNANCE}

// Who may do what in the register.
var (
	// Licensing units: the Polda of a province and Mabes Polri (the
	// handler checks the caller is the licence's own licensing unit).
	licensers = []sinergiv1.InstitutionKind{sinergiv1.InstitutionKind_INSTITUTION_KIND_POLDA, sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES}
	// Readers: the police whose jurisdiction covers a facility, the
	// facility itself, and the corrections side's oversight of its units.
	firearmsReaders = dataReaders
	// Watchers: the two ends, the facility and the police units concerned.
	firearmsWatchers = slices.Concat(facilities, police)
)

// Purposes of the register. Keeping it is security coordination for a
// facility; licensing and inspecting it are the police's supervision
// (oversight), and reading it serves their security work and the
// investigation of a lost or stolen weapon; the ministry and a regional
// office oversee their own units.
var (
	firearmsKeeping     = Purposes{Facility: {sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}}
	firearmsSupervision = Purposes{PoliceUnit: {sinergiv1.Purpose_PURPOSE_OVERSIGHT, sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}}
	firearmsReads       = Purposes{
		PoliceUnit: {sinergiv1.Purpose_PURPOSE_OVERSIGHT, sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION,
			sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS, sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION},
		Facility:          {sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION},
		CorrectionsOffice: {sinergiv1.Purpose_PURPOSE_OVERSIGHT, sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION},
	}
	firearmsWatching = Purposes{
		PoliceUnit: {sinergiv1.Purpose_PURPOSE_OVERSIGHT, sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION},
		Facility:   {sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION},
	}
)

// firearmsPolicy covers FirearmsService (the firearms governance register).
//
//   - The register's writes are the facilities' own: a facility registers,
//     changes and reports its weapons, records its ammunition, applies for
//     licences, issues and takes back its weapons and resolves findings; the
//     facility is the caller, never a field of the request.
//   - Licences are decided by the police: Polda and Mabes may call, the
//     handler admits only the licence's licensing unit within reach.
//   - Inspections are recorded by any police unit whose reach covers the
//     facility.
//   - Reads are limited to the reach for firearms governance: a police
//     unit sees the register of the facilities in its jurisdiction under an
//     agreement in force, the ministry and a regional office their own
//     units'. Every method but the statistics names officers (NIP, NRP,
//     holder names), so it carries an AccessContext.
var firearmsPolicy = map[string]Rule{
	sinergiv1.FirearmsService_RegisterWeapon_FullMethodName: {Kinds: facilities, Scopes: firearmsScopes, Purposes: firearmsKeeping,
		Subjects: []string{SubjectWeapon, SubjectLicence}},
	sinergiv1.FirearmsService_UpdateWeaponStatus_FullMethodName: {Kinds: facilities, Scopes: firearmsScopes, Purposes: firearmsKeeping,
		Subjects: []string{SubjectWeapon, SubjectLicence}},
	sinergiv1.FirearmsService_ReportWeaponIncident_FullMethodName: {Kinds: facilities, Scopes: firearmsScopes, Purposes: firearmsKeeping,
		Subjects: []string{SubjectWeapon, SubjectLicence, SubjectReport}},
	sinergiv1.FirearmsService_RecordAmmunition_FullMethodName: {Kinds: facilities, Scopes: firearmsScopes, Purposes: firearmsKeeping},
	sinergiv1.FirearmsService_ApplyForLicence_FullMethodName: {Kinds: facilities, Scopes: firearmsScopes, Purposes: firearmsKeeping,
		Subjects: []string{SubjectLicence, SubjectWeapon}},
	sinergiv1.FirearmsService_IssueWeapon_FullMethodName: {Kinds: facilities, Scopes: firearmsScopes, Purposes: firearmsKeeping,
		Subjects: []string{SubjectWeapon}},
	sinergiv1.FirearmsService_ReturnWeapon_FullMethodName: {Kinds: facilities, Scopes: firearmsScopes, Purposes: firearmsKeeping,
		Subjects: []string{SubjectWeapon}},
	sinergiv1.FirearmsService_ResolveFinding_FullMethodName: {Kinds: facilities, Scopes: firearmsScopes, Purposes: firearmsKeeping,
		Subjects: []string{SubjectInspection}},

	sinergiv1.FirearmsService_ApproveLicence_FullMethodName: {Kinds: licensers, Scopes: firearmsScopes, Purposes: firearmsSupervision,
		Subjects: []string{SubjectLicence, SubjectWeapon}},
	sinergiv1.FirearmsService_RefuseLicence_FullMethodName: {Kinds: licensers, Scopes: firearmsScopes, Purposes: firearmsSupervision,
		Subjects: []string{SubjectLicence, SubjectWeapon}},
	sinergiv1.FirearmsService_RenewLicence_FullMethodName: {Kinds: licensers, Scopes: firearmsScopes, Purposes: firearmsSupervision,
		Subjects: []string{SubjectLicence, SubjectWeapon}},
	sinergiv1.FirearmsService_RevokeLicence_FullMethodName: {Kinds: licensers, Scopes: firearmsScopes, Purposes: firearmsSupervision,
		Subjects: []string{SubjectLicence, SubjectWeapon}},
	sinergiv1.FirearmsService_RecordInspection_FullMethodName: {Kinds: police, Scopes: firearmsScopes, Purposes: firearmsSupervision,
		Subjects: []string{SubjectInspection, SubjectWeapon}},

	sinergiv1.FirearmsService_GetWeapon_FullMethodName: {Kinds: firearmsReaders, Scopes: firearmsScopes, Purposes: firearmsReads,
		Subjects: []string{SubjectWeapon, SubjectLicence}},
	sinergiv1.FirearmsService_ListWeapons_FullMethodName: {Kinds: firearmsReaders, Scopes: firearmsScopes, Purposes: firearmsReads,
		Subjects: []string{SubjectWeapon, SubjectLicence}},
	sinergiv1.FirearmsService_GetLicence_FullMethodName: {Kinds: firearmsReaders, Scopes: firearmsScopes, Purposes: firearmsReads,
		Subjects: []string{SubjectLicence}},
	sinergiv1.FirearmsService_ListLicences_FullMethodName: {Kinds: firearmsReaders, Scopes: firearmsScopes, Purposes: firearmsReads,
		Subjects: []string{SubjectLicence}},
	sinergiv1.FirearmsService_ListAssignments_FullMethodName: {Kinds: firearmsReaders, Scopes: firearmsScopes, Purposes: firearmsReads,
		Subjects: []string{SubjectWeapon}},
	sinergiv1.FirearmsService_ListAmmunition_FullMethodName: {Kinds: firearmsReaders, Scopes: firearmsScopes, Purposes: firearmsReads},
	sinergiv1.FirearmsService_GetInspection_FullMethodName: {Kinds: firearmsReaders, Scopes: firearmsScopes, Purposes: firearmsReads,
		Subjects: []string{SubjectInspection}},
	sinergiv1.FirearmsService_ListInspections_FullMethodName: {Kinds: firearmsReaders, Scopes: firearmsScopes, Purposes: firearmsReads,
		Subjects: []string{SubjectInspection}},
	sinergiv1.FirearmsService_ListFirearmEvents_FullMethodName: {Kinds: firearmsReaders, Scopes: firearmsScopes, Purposes: firearmsReads,
		Subjects: []string{SubjectWeapon}},
	sinergiv1.FirearmsService_WatchFirearms_FullMethodName: {Kinds: firearmsWatchers, Scopes: firearmsScopes, Purposes: firearmsWatching,
		Subjects: []string{SubjectWeapon}, Stream: RecheckAgreements},
	sinergiv1.FirearmsService_FirearmsStats_FullMethodName: {Kinds: firearmsReaders, Scopes: firearmsScopes},
}

// Firearms is the one restriction firearms register queries take: the
// facilities whose register the caller may read now (its own, its units'
// for the corrections side's oversight, those an agreement in force for
// firearms governance covers within its jurisdiction for the police).
// Register rows have nothing but a facility to restrict by.
func (rs Reaches) Firearms() *restrict.Restriction {
	if r := rs.byScope[sinergiv1.Scope_SCOPE_FIREARMS_GOVERNANCE]; r != nil {
		return r.Restriction()
	}
	return restrict.New(rs.caller.GetCode())
}
