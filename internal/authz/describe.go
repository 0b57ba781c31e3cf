package authz

import (
	"slices"
	"strings"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// MethodAccess is what the policy table says of one method, in words: the
// API reference (docs/api.md) is written from it, so that the table is the
// only place the rules are written.
type MethodAccess struct {
	// Callers names the kinds of institution that may call ("every
	// institution" when the table admits all).
	Callers string
	// Purposes are, for each group of callers admitted, the purposes it may
	// give in the request's AccessContext ("police units: oversight,
	// criminal-investigation (LP/…)"); none when the request carries none.
	Purposes []string
	// Scopes are the agreement scopes the method's data needs.
	Scopes []string
	// Stream says what ends the method's streams while they are open.
	Stream string
}

// DescribeMethod is the policy of fullMethod (/sinergi.v1.X/Y); ok is
// false when the table has no entry (then the server refuses the method).
func DescribeMethod(fullMethod string) (MethodAccess, bool) {
	r, ok := Policy[fullMethod]
	if !ok {
		return MethodAccess{}, false
	}
	var d MethodAccess
	switch {
	case r.Public:
		d.Callers = "any client with a valid certificate (no institution needed)"
	case len(r.Kinds) == 0:
		d.Callers = "every institution"
	default:
		names := make([]string, len(r.Kinds))
		for i, k := range r.Kinds {
			names[i] = kindName(k)
			switch k {
			case sinergiv1.InstitutionKind_INSTITUTION_KIND_LPKA, sinergiv1.InstitutionKind_INSTITUTION_KIND_LPP:
				names[i] = strings.TrimPrefix(k.String(), "INSTITUTION_KIND_")
			}
		}
		d.Callers = strings.Join(names, ", ")
	}
	if r.Purposes != nil {
		for _, c := range []Caller{PoliceUnit, Facility, CorrectionsOffice} {
			admitted := false
			for _, k := range slices.Concat(police, facilities, correctionsOffices) {
				if CallerOf(k) == c && (len(r.Kinds) == 0 || slices.Contains(r.Kinds, k)) {
					admitted = true
				}
			}
			ps := r.Purposes[c]
			if !admitted || len(ps) == 0 {
				continue
			}
			names := make([]string, len(ps))
			for i, p := range ps {
				names[i] = purposeName(p)
				if f, ok := caseForms[p]; ok {
					names[i] += " (case reference " + strings.Join(f.families, "/…, ") + "/…)"
				}
			}
			d.Purposes = append(d.Purposes, c.String()+": "+strings.Join(names, ", "))
		}
	}
	for _, s := range r.Scopes {
		d.Scopes = append(d.Scopes, ScopeName(s))
	}
	switch r.Stream {
	case RecheckCertificate:
		d.Stream = "the caller's certificate is revoked or expires"
	case RecheckInstitution:
		d.Stream = "the caller's certificate is revoked or expires, or its institution is suspended"
	case RecheckAgreements:
		d.Stream = "the caller's certificate is revoked or expires, its institution is suspended, or an agreement that granted the stream's data ends"
	}
	return d, true
}

// ScopeName is a scope as the command line spells it: detainee-data.
func ScopeName(s sinergiv1.Scope) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.String(), "SCOPE_")), "_", "-")
}
