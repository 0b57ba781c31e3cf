package authz

import (
	"maps"
	"slices"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Rule is what the policy says of one method.
type Rule struct {
	// Kinds that may call it; empty means every authenticated institution.
	Kinds []sinergiv1.InstitutionKind
	// The agreement scopes the method's data needs (none: no agreement is
	// involved). The interceptor computes one Reach per scope; a method
	// whose records each need one of several scopes (reports: incident,
	// narcotics or threat) lists them all.
	Scopes []sinergiv1.Scope
	// Purposes, when set, says that the request carries an AccessContext
	// (who asks, why, for which case) and which purposes each kind of caller
	// may give for this method: any other is INVALID_ARGUMENT on
	// access.purpose. Methods that carry or return personal data, and every
	// administrative act, have them.
	Purposes Purposes
	// Subjects are the kinds of audit subject the method's calls name
	// ("custody", "report", ...): those its response carries (registered
	// with RegisterSubject, found by walking the response) and those its
	// handler names itself. A test walks every method to prove the two agree.
	Subjects []string
	// Public methods need a verified certificate but no institution.
	Public bool
	// Stream is what ends the method's calls while they are open; every
	// streaming method must have one (recheck.go).
	Stream Recheck
}

// Audit subject kinds.
const (
	SubjectCustody     = "custody"
	SubjectReport      = "report"
	SubjectWatch       = "watch"
	SubjectAgreement   = "agreement"
	SubjectInstitution = "institution"
)

// handlerNamedKinds are subject kinds no response message carries: the
// handlers of administrative acts name them, and screening handlers name
// the people screened or visiting (SubjectPerson).
var handlerNamedKinds = []string{SubjectAgreement, SubjectInstitution, SubjectPerson}

// Kind groups used by the table.
var (
	// administrators: each side's headquarters administers its own side.
	administrators = []sinergiv1.InstitutionKind{sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY, sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES}
	oversight      = administrators
	facilities     = []sinergiv1.InstitutionKind{sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS, sinergiv1.InstitutionKind_INSTITUTION_KIND_RUTAN,
		sinergiv1.InstitutionKind_INSTITUTION_KIND_LPKA, sinergiv1.InstitutionKind_INSTITUTION_KIND_LPP}
	police = []sinergiv1.InstitutionKind{sinergiv1.InstitutionKind_INSTITUTION_KIND_POLSEK, sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES,
		sinergiv1.InstitutionKind_INSTITUTION_KIND_POLDA, sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES}
	correctionsOffices = []sinergiv1.InstitutionKind{sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY, sinergiv1.InstitutionKind_INSTITUTION_KIND_KANWIL}
	// Readers of custody data and reports: police units, the facilities
	// themselves, and the corrections side's oversight (ministry, regional
	// offices) of its own units.
	dataReaders = slices.Concat(police, facilities, correctionsOffices)
)

// directoryPolicy covers the directory, the audit trail and the standard services.
//
// Each side administers its own institutions, and an agreement, which
// always joins the two sides, is registered by one side's administrator
// and confirmed by the other's (internal/api/agreements.go): the table lets
// both headquarters call, the handlers check the side.
var directoryPolicy = map[string]Rule{
	sinergiv1.InstitutionService_GetInstitution_FullMethodName:   {},
	sinergiv1.InstitutionService_ListInstitutions_FullMethodName: {},
	sinergiv1.InstitutionService_CreateInstitution_FullMethodName: {Kinds: administrators, Purposes: administration,
		Subjects: []string{SubjectInstitution}},
	sinergiv1.InstitutionService_SetInstitutionStatus_FullMethodName: {Kinds: administrators, Purposes: administration,
		Subjects: []string{SubjectInstitution}},

	sinergiv1.AgreementService_GetAgreement_FullMethodName:   {},
	sinergiv1.AgreementService_ListAgreements_FullMethodName: {},
	sinergiv1.AgreementService_CheckCoverage_FullMethodName:  {},
	sinergiv1.AgreementService_CreateAgreement_FullMethodName: {Kinds: administrators, Purposes: administration,
		Subjects: []string{SubjectAgreement}},
	sinergiv1.AgreementService_ConfirmAgreement_FullMethodName: {Kinds: administrators, Purposes: administration,
		Subjects: []string{SubjectAgreement}},
	sinergiv1.AgreementService_RevokeAgreement_FullMethodName: {Kinds: administrators, Purposes: administration,
		Subjects: []string{SubjectAgreement}},

	sinergiv1.AuditService_ListAuditRecords_FullMethodName: {Kinds: oversight, Purposes: auditReads},
	// A data subject's question is answered within the asker's reach: a NIK
	// or record names only the records the caller could find itself.
	sinergiv1.AuditService_ListSubjectAccess_FullMethodName: {Kinds: oversight, Purposes: subjectAccess,
		Scopes: slices.Concat([]sinergiv1.Scope{sinergiv1.Scope_SCOPE_DETAINEE_DATA}, reportScopes), Subjects: []string{SubjectCustody, SubjectVisit}},
	// The log's checkpoints and consistency proofs carry no personal data:
	// every institution may check that the log only grows. An inclusion
	// proof carries its record: oversight's, or the caller's own call's
	// (the handler answers another's as missing). Cosignatures are the
	// registered witnesses' (checked by the handler).
	sinergiv1.AuditService_GetCheckpoint_FullMethodName:       {},
	sinergiv1.AuditService_GetConsistencyProof_FullMethodName: {},
	sinergiv1.AuditService_GetInclusionProof_FullMethodName:   {Purposes: auditProofs},
	sinergiv1.AuditService_AddCosignature_FullMethodName:      {},

	// Health carries nothing of an institution's: its stream ends only with
	// the certificate it was opened with (revoked or expired).
	"/grpc.health.v1.Health/Check": {Public: true},
	"/grpc.health.v1.Health/Watch": {Public: true, Stream: RecheckCertificate},
	"/grpc.health.v1.Health/List":  {Public: true},

	// Reflection describes the API to an institution: it ends with the
	// certificate or the institution.
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      {Stream: RecheckInstitution},
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": {Stream: RecheckInstitution},
}

// Policy is the one table: every method the server serves has an entry.
var Policy = merge(directoryPolicy, custodyPolicy, reportPolicy, firearmsPolicy, screeningPolicy, presencePolicy)

func merge(tables ...map[string]Rule) map[string]Rule {
	out := map[string]Rule{}
	for _, t := range tables {
		for k := range t {
			if _, dup := out[k]; dup {
				panic("authz: two policy entries for " + k)
			}
		}
		maps.Copy(out, t)
	}
	return out
}

// Lookup returns the rule of method; ok is false when the table lacks it.
func Lookup(method string) (Rule, bool) {
	r, ok := Policy[method]
	return r, ok
}

// IsPublic reports whether method needs no institution.
func IsPublic(method string) bool { return Policy[method].Public }

// KnownSubjectKind reports whether kind is a subject kind some response
// type is registered under, or one handlers name themselves.
func KnownSubjectKind(kind string) bool {
	return slices.Contains(handlerNamedKinds, kind) || registeredKind(kind)
}
