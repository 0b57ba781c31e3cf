package directory

import (
	"slices"
	"strings"
	"time"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// SideOf returns the side an institution kind belongs to.
func SideOf(k sinergiv1.InstitutionKind) sinergiv1.Side {
	switch k {
	case sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY, sinergiv1.InstitutionKind_INSTITUTION_KIND_KANWIL,
		sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS, sinergiv1.InstitutionKind_INSTITUTION_KIND_RUTAN,
		sinergiv1.InstitutionKind_INSTITUTION_KIND_LPKA, sinergiv1.InstitutionKind_INSTITUTION_KIND_LPP:
		return sinergiv1.Side_SIDE_CORRECTIONS
	case sinergiv1.InstitutionKind_INSTITUTION_KIND_POLSEK, sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES,
		sinergiv1.InstitutionKind_INSTITUTION_KIND_POLDA, sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES:
		return sinergiv1.Side_SIDE_POLRI
	}
	return sinergiv1.Side_SIDE_UNSPECIFIED
}

// IsHeadquarters reports whether kind k is a side's headquarters, the one
// institution that administers its side: the ministry, Mabes Polri.
func IsHeadquarters(k sinergiv1.InstitutionKind) bool {
	return k == sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY || k == sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES
}

// IsFacility reports whether institutions of kind k hold people.
func IsFacility(k sinergiv1.InstitutionKind) bool {
	switch k {
	case sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS, sinergiv1.InstitutionKind_INSTITUTION_KIND_RUTAN,
		sinergiv1.InstitutionKind_INSTITUTION_KIND_LPKA, sinergiv1.InstitutionKind_INSTITUTION_KIND_LPP:
		return true
	}
	return false
}

// RegionWithin reports whether region code r lies inside prefix: "33.01"
// is inside "33" and "33.01", not inside "3" or "33.0". Every region is
// inside the empty prefix (national).
func RegionWithin(r, prefix string) bool {
	if prefix == "" {
		return true
	}
	return r == prefix || strings.HasPrefix(r, prefix+".")
}

// StatusAt is an agreement's standing at t. One registered by one side is
// pending until the other side's confirmation, and grants nothing before it.
func StatusAt(a *sinergiv1.Agreement, t time.Time) sinergiv1.AgreementStatus {
	switch {
	case a.GetRevokeTime() != nil && !t.Before(a.GetRevokeTime().AsTime()):
		return sinergiv1.AgreementStatus_AGREEMENT_STATUS_REVOKED
	case a.GetProposedBy() != sinergiv1.Side_SIDE_UNSPECIFIED && (a.GetConfirmTime() == nil || t.Before(a.GetConfirmTime().AsTime())):
		return sinergiv1.AgreementStatus_AGREEMENT_STATUS_PENDING
	case t.Before(a.GetEffectiveTime().AsTime()):
		return sinergiv1.AgreementStatus_AGREEMENT_STATUS_NOT_YET_IN_FORCE
	case a.GetExpireTime() != nil && !t.Before(a.GetExpireTime().AsTime()):
		return sinergiv1.AgreementStatus_AGREEMENT_STATUS_EXPIRED
	}
	return sinergiv1.AgreementStatus_AGREEMENT_STATUS_ACTIVE
}

// PartySide is the side a party is on; lookup finds an institution party.
func PartySide(p *sinergiv1.Party, lookup func(string) *sinergiv1.Institution) sinergiv1.Side {
	if code := p.GetInstitutionCode(); code != "" {
		if in := lookup(code); in != nil {
			return SideOf(in.GetKind())
		}
		return sinergiv1.Side_SIDE_UNSPECIFIED
	}
	return p.GetSide()
}

// OtherSide is the side that is not s.
func OtherSide(s sinergiv1.Side) sinergiv1.Side {
	switch s {
	case sinergiv1.Side_SIDE_CORRECTIONS:
		return sinergiv1.Side_SIDE_POLRI
	case sinergiv1.Side_SIDE_POLRI:
		return sinergiv1.Side_SIDE_CORRECTIONS
	}
	return sinergiv1.Side_SIDE_UNSPECIFIED
}

// SideName is a side as people say it: the corrections side, the police side.
func SideName(s sinergiv1.Side) string {
	switch s {
	case sinergiv1.Side_SIDE_CORRECTIONS:
		return "the corrections side"
	case sinergiv1.Side_SIDE_POLRI:
		return "the police side"
	}
	return "no side"
}

// PartyIncludes reports whether institution in is (a unit of) party p.
func PartyIncludes(p *sinergiv1.Party, in *sinergiv1.Institution) bool {
	if code := p.GetInstitutionCode(); code != "" {
		return code == in.GetCode()
	}
	if p.GetSide() != SideOf(in.GetKind()) {
		return false
	}
	if p.GetRegionPrefix() == "" {
		return true
	}
	// A national institution (no region) is not inside any region.
	return in.GetRegionCode() != "" && RegionWithin(in.GetRegionCode(), p.GetRegionPrefix())
}

// Binds reports whether agreement a is between a and b (in either order).
func Binds(ag *sinergiv1.Agreement, a, b *sinergiv1.Institution) bool {
	ps := ag.GetParties()
	if len(ps) != 2 {
		return false
	}
	return (PartyIncludes(ps[0], a) && PartyIncludes(ps[1], b)) || (PartyIncludes(ps[0], b) && PartyIncludes(ps[1], a))
}

// NamesBoth reports whether agreement ag names a and b as its two parties
// explicitly (not as units of a side).
func NamesBoth(ag *sinergiv1.Agreement, a, b *sinergiv1.Institution) bool {
	ps := ag.GetParties()
	if len(ps) != 2 || ps[0].GetInstitutionCode() == "" || ps[1].GetInstitutionCode() == "" {
		return false
	}
	x, y := ps[0].GetInstitutionCode(), ps[1].GetInstitutionCode()
	return (x == a.GetCode() && y == b.GetCode()) || (x == b.GetCode() && y == a.GetCode())
}

// Coverage is CheckCoverage's answer.
type Coverage struct {
	Covered bool
	// The agreements in force that cover the exchange.
	Agreements []*sinergiv1.Agreement
	// When not covered, the main reason.
	Gap sinergiv1.CoverageGap
	// Agreements between the two that fell short, and why.
	NearMisses []*sinergiv1.NearMiss
}

// AgreementIDs lists the ids of the covering agreements.
func (c Coverage) AgreementIDs() []string {
	ids := make([]string, len(c.Agreements))
	for i, a := range c.Agreements {
		ids[i] = a.GetId()
	}
	return ids
}

// CoverageOf says whether an agreement in agreements covers an exchange of
// scope between a and b at t. When none does, the main gap is the most
// telling one: an agreement for that very scope that expired, was revoked or
// is not yet in force says more than one that never covered the scope.
func CoverageOf(agreements []*sinergiv1.Agreement, a, b *sinergiv1.Institution, scope sinergiv1.Scope, t time.Time) Coverage {
	var c Coverage
	var scopeGap sinergiv1.CoverageGap
	for _, ag := range agreements {
		if !Binds(ag, a, b) {
			continue
		}
		st := StatusAt(ag, t)
		hasScope := slices.Contains(ag.GetScopes(), scope)
		if st == sinergiv1.AgreementStatus_AGREEMENT_STATUS_ACTIVE && hasScope {
			c.Agreements = append(c.Agreements, ag)
			continue
		}
		miss := &sinergiv1.NearMiss{AgreementId: ag.GetId()}
		switch {
		case !hasScope:
			miss.Gap = sinergiv1.CoverageGap_COVERAGE_GAP_SCOPE_NOT_COVERED
		case st == sinergiv1.AgreementStatus_AGREEMENT_STATUS_REVOKED:
			miss.Gap, miss.GapTime = sinergiv1.CoverageGap_COVERAGE_GAP_REVOKED, ag.GetRevokeTime()
		case st == sinergiv1.AgreementStatus_AGREEMENT_STATUS_PENDING:
			miss.Gap = sinergiv1.CoverageGap_COVERAGE_GAP_PENDING
		case st == sinergiv1.AgreementStatus_AGREEMENT_STATUS_EXPIRED:
			miss.Gap, miss.GapTime = sinergiv1.CoverageGap_COVERAGE_GAP_EXPIRED, ag.GetExpireTime()
		case st == sinergiv1.AgreementStatus_AGREEMENT_STATUS_NOT_YET_IN_FORCE:
			miss.Gap, miss.GapTime = sinergiv1.CoverageGap_COVERAGE_GAP_NOT_YET_IN_FORCE, ag.GetEffectiveTime()
		}
		if hasScope && scopeGap == sinergiv1.CoverageGap_COVERAGE_GAP_UNSPECIFIED {
			scopeGap = miss.Gap
		}
		c.NearMisses = append(c.NearMisses, miss)
	}
	switch {
	case len(c.Agreements) > 0:
		c.Covered = true
	case scopeGap != sinergiv1.CoverageGap_COVERAGE_GAP_UNSPECIFIED:
		c.Gap = scopeGap
	case len(c.NearMisses) > 0:
		c.Gap = sinergiv1.CoverageGap_COVERAGE_GAP_SCOPE_NOT_COVERED
	default:
		c.Gap = sinergiv1.CoverageGap_COVERAGE_GAP_NONE_EXISTS
	}
	return c
}

// InJurisdiction reports whether caller may see data held by facility on
// account of where they are: a police unit sees facilities inside its region
// (Mabes everywhere), a regional office its province, the ministry every
// facility, and a facility itself.
func InJurisdiction(caller, facility *sinergiv1.Institution) bool {
	if caller.GetCode() == facility.GetCode() {
		return true
	}
	switch caller.GetKind() {
	case sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES, sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY:
		return true
	case sinergiv1.InstitutionKind_INSTITUTION_KIND_POLSEK, sinergiv1.InstitutionKind_INSTITUTION_KIND_POLRES,
		sinergiv1.InstitutionKind_INSTITUTION_KIND_POLDA, sinergiv1.InstitutionKind_INSTITUTION_KIND_KANWIL:
		return caller.GetRegionCode() != "" && RegionWithin(facility.GetRegionCode(), caller.GetRegionCode())
	}
	return false
}
