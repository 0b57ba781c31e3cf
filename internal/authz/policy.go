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
	// narcotics or threat) lists them all and uses ReachFor.
	Scopes []sinergiv1.Scope
	// The request carries personal data or returns it: it must carry an AccessContext.
	PersonalData bool
	// The method changes state: its audit record commits with the change.
	Write bool
	// Public methods need a verified certificate but no institution.
	Public bool
}

// Kind groups used by the table.
var (
	ministry   = []sinergiv1.InstitutionKind{sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY}
	oversight  = []sinergiv1.InstitutionKind{sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY, sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES}
	facilities = []sinergiv1.InstitutionKind{sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS, sinergiv1.InstitutionKind_INSTITUTION_KIND_RUTAN,
		sinergiv1.InstitutionKind_INSTITUTION_KIND_LPKA, sinergiv1.InstitutionKind_INSTITUTION_KIND_LPP}
	police = []sinergiv1.InstitutionKind{sinergiv1.InstitutionKind_INSTITUTION_KIND_POLSEK, sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES,
		sinergiv1.InstitutionKind_INSTITUTION_KIND_POLDA, sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES}
	// Readers of custody data and reports: police units, and the corrections
	// side's oversight (ministry, regional offices) and the facilities themselves.
	dataReaders = slices.Concat(police, facilities, []sinergiv1.InstitutionKind{
		sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY, sinergiv1.InstitutionKind_INSTITUTION_KIND_KANWIL})
)

var _ = dataReaders // used by the custody and report tables

// directoryPolicy covers the directory, the audit trail and the standard services.
var directoryPolicy = map[string]Rule{
	sinergiv1.InstitutionService_GetInstitution_FullMethodName:       {},
	sinergiv1.InstitutionService_ListInstitutions_FullMethodName:     {},
	sinergiv1.InstitutionService_CreateInstitution_FullMethodName:    {Kinds: ministry, Write: true},
	sinergiv1.InstitutionService_SetInstitutionStatus_FullMethodName: {Kinds: ministry, Write: true},

	sinergiv1.AgreementService_GetAgreement_FullMethodName:    {},
	sinergiv1.AgreementService_ListAgreements_FullMethodName:  {},
	sinergiv1.AgreementService_CheckCoverage_FullMethodName:   {},
	sinergiv1.AgreementService_CreateAgreement_FullMethodName: {Kinds: ministry, Write: true},
	sinergiv1.AgreementService_RevokeAgreement_FullMethodName: {Kinds: ministry, Write: true},

	sinergiv1.AuditService_ListAuditRecords_FullMethodName:  {Kinds: oversight, PersonalData: true},
	sinergiv1.AuditService_ListSubjectAccess_FullMethodName: {Kinds: oversight, PersonalData: true},
	// The log's checkpoints and consistency proofs carry no personal data:
	// every institution may check that the log only grows. An inclusion
	// proof carries its record: oversight's, or the caller's own call's.
	// Cosignatures are the registered witnesses' (checked by the handler).
	sinergiv1.AuditService_GetCheckpoint_FullMethodName:       {},
	sinergiv1.AuditService_GetConsistencyProof_FullMethodName: {},
	sinergiv1.AuditService_GetInclusionProof_FullMethodName:   {PersonalData: true},
	sinergiv1.AuditService_AddCosignature_FullMethodName:      {Write: true},

	"/grpc.health.v1.Health/Check": {Public: true},
	"/grpc.health.v1.Health/Watch": {Public: true},
	"/grpc.health.v1.Health/List":  {Public: true},

	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      {},
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": {},
}

// Policy is the one table: every method the server serves has an entry.
var Policy = merge(directoryPolicy, custodyPolicy, reportPolicy)

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
