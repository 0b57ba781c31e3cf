package authz

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var (
	nrp = regexp.MustCompile(`^\d{8}$`)
	nip = regexp.MustCompile(`^\d{18}$`)
)

// OperatorIDValid reports whether id is an NRP (8 digits, police: year and
// month of birth then a serial) or an NIP (18 digits, civil servants: birth
// date YYYYMMDD, appointment YYYYMM, sex 1 or 2, serial).
func OperatorIDValid(id string) bool {
	switch {
	case nrp.MatchString(id):
		m := (id[2]-'0')*10 + (id[3] - '0')
		return m >= 1 && m <= 12
	case nip.MatchString(id):
		if _, err := time.Parse("20060102", id[:8]); err != nil {
			return false
		}
		if _, err := time.Parse("200601", id[8:14]); err != nil {
			return false
		}
		return id[14] == '1' || id[14] == '2'
	}
	return false
}

// Caller is the kind of institution a purpose table row is for.
type Caller uint8

// Callers.
const (
	callerNone Caller = iota
	// PoliceUnit: Polsek, Polres, Polda, Mabes.
	PoliceUnit
	// Facility: Lapas, Rutan, LPKA, LPP.
	Facility
	// CorrectionsOffice: the ministry headquarters and its regional offices.
	CorrectionsOffice
)

var callerNames = map[Caller]string{PoliceUnit: "police units", Facility: "facilities", CorrectionsOffice: "ministry and regional offices"}

func (c Caller) String() string { return callerNames[c] }

// CallerOf is the caller group of an institution kind.
func CallerOf(k sinergiv1.InstitutionKind) Caller {
	switch {
	case slices.Contains(police, k):
		return PoliceUnit
	case slices.Contains(facilities, k):
		return Facility
	case slices.Contains(correctionsOffices, k):
		return CorrectionsOffice
	}
	return callerNone
}

// Purposes says which purposes each kind of caller may give for a method.
type Purposes map[Caller][]sinergiv1.Purpose

// The purpose table's rows, shared by the methods of a kind.
var (
	policeWork = []sinergiv1.Purpose{sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, sinergiv1.Purpose_PURPOSE_WARRANT_EXECUTION,
		sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION, sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS, sinergiv1.Purpose_PURPOSE_TRANSFER_ESCORT}
	// Reading custody data: the police for their work; a facility for
	// security, intelligence, escorts and a data subject's request about
	// its own records; the ministry and regional offices for oversight,
	// data subjects' requests, security and intelligence.
	custodyReads = Purposes{
		PoliceUnit: policeWork,
		Facility: {sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION, sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS,
			sinergiv1.Purpose_PURPOSE_TRANSFER_ESCORT, sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST},
		CorrectionsOffice: {sinergiv1.Purpose_PURPOSE_OVERSIGHT, sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST,
			sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION, sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS},
	}
	// The event stream and watch lists are the police's.
	watching   = Purposes{PoliceUnit: policeWork}
	reportWork = []sinergiv1.Purpose{sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, sinergiv1.Purpose_PURPOSE_WARRANT_EXECUTION,
		sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION, sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS}
	facilityReporting = []sinergiv1.Purpose{sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION, sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS}
	reportFiling      = Purposes{Facility: facilityReporting, PoliceUnit: reportWork}
	reportActs        = Purposes{PoliceUnit: reportWork, Facility: facilityReporting}
	// Watching reports: the parties for their work, a regional office for
	// oversight of what its facilities are sent.
	reportWatching = Purposes{PoliceUnit: reportWork, Facility: facilityReporting,
		CorrectionsOffice: {sinergiv1.Purpose_PURPOSE_OVERSIGHT, sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}}
	reportReads = Purposes{PoliceUnit: reportWork, Facility: facilityReporting,
		CorrectionsOffice: {sinergiv1.Purpose_PURPOSE_OVERSIGHT, sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION, sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS}}
	auditReads    = Purposes{PoliceUnit: {sinergiv1.Purpose_PURPOSE_OVERSIGHT}, CorrectionsOffice: {sinergiv1.Purpose_PURPOSE_OVERSIGHT}}
	subjectAccess = Purposes{
		PoliceUnit:        {sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST, sinergiv1.Purpose_PURPOSE_OVERSIGHT},
		CorrectionsOffice: {sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST, sinergiv1.Purpose_PURPOSE_OVERSIGHT},
	}
	// An audit record's inclusion proof: oversight, or a data subject's
	// request about it; for any institution, its own calls'.
	auditProofs = Purposes{
		PoliceUnit:        {sinergiv1.Purpose_PURPOSE_OVERSIGHT, sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST},
		Facility:          {sinergiv1.Purpose_PURPOSE_OVERSIGHT},
		CorrectionsOffice: {sinergiv1.Purpose_PURPOSE_OVERSIGHT, sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST},
	}
	administration = Purposes{PoliceUnit: {sinergiv1.Purpose_PURPOSE_ADMINISTRATION}, CorrectionsOffice: {sinergiv1.Purpose_PURPOSE_ADMINISTRATION}}
)

// caseForm is the form of the case reference a purpose needs.
type caseForm struct {
	families []string // prefixes before the first "/", case-insensitive
	describe string
}

// caseForms: the purposes that need a case reference, and its form (see
// the domain brief, "Case references"): a family prefix, then at least two
// "/"-separated parts, at least one digit among them. A check of families,
// not of every variant in use.
var caseForms = map[sinergiv1.Purpose]caseForm{
	sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION: {[]string{"LP"},
		"the police report the investigation is numbered by, LP/<A or B>/<number>/<month>/<year>/<unit> (e.g. LP/B/123/VIII/2025/SPKT)"},
	sinergiv1.Purpose_PURPOSE_WARRANT_EXECUTION: {[]string{"Sprin", "Sp.Kap", "Sp.Han"},
		"the letter of order, Sprin/..., Sp.Kap/... (arrest) or Sp.Han/... (detention), e.g. Sp.Kap/45/IX/2026/Reskrim"},
	sinergiv1.Purpose_PURPOSE_DATA_SUBJECT_REQUEST: {[]string{"PDP"},
		"the data subject's request number, PDP/<number>/<month>/<year> (e.g. PDP/0042/XI/2026)"},
}

// matches reports whether ref has the form f asks: a family, then at least
// two "/"-separated parts, each of letters, digits, dots and hyphens in
// words separated by single spaces ("POLDA METRO JAYA"), with a digit
// somewhere. Every call with a case reference goes through it: it is
// written out rather than a regular expression, and allocates nothing.
func (f caseForm) matches(ref string) bool {
	fam, rest, ok := strings.Cut(ref, "/")
	if !ok || !slices.ContainsFunc(f.families, func(x string) bool { return strings.EqualFold(x, fam) }) {
		return false
	}
	parts, digit := 1, false
	prev := byte('/') // the character before: a part starts after "/"
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '.', c == '-':
		case c == '/' || c == ' ':
			if prev == '/' || prev == ' ' {
				return false // an empty part, or a space at a part's edge
			}
			if c == '/' {
				parts++
			}
		default:
			return false
		}
		prev = c
	}
	return parts >= 2 && prev != '/' && prev != ' ' && digit
}

// NeedsCase reports whether purpose p needs a case reference.
func NeedsCase(p sinergiv1.Purpose) bool {
	_, ok := caseForms[p]
	return ok
}

// NormalizeAccess trims the case reference: what is recorded and checked
// is what is left.
func NormalizeAccess(ac *sinergiv1.AccessContext) {
	if ac != nil {
		ac.CaseReference = strings.TrimSpace(ac.GetCaseReference())
		ac.OperatorId = strings.TrimSpace(ac.GetOperatorId())
	}
}

// CheckAccess validates an AccessContext at field (e.g. "access") for a
// call to method by a caller of kind, under the method's purposes.
func CheckAccess(v *validate.Violations, field string, ac *sinergiv1.AccessContext, purposes Purposes, kind sinergiv1.InstitutionKind, method string) {
	if ac == nil {
		v.Add(field, "required: who asks (operator_id), why (purpose) and for which case (case_reference)")
		return
	}
	if !OperatorIDValid(ac.GetOperatorId()) {
		v.Add(field+".operator_id", "must be the officer's NRP (8 digits) or NIP (18 digits)")
	}
	p := ac.GetPurpose()
	switch allowed := purposes[CallerOf(kind)]; {
	case p == sinergiv1.Purpose_PURPOSE_UNSPECIFIED || sinergiv1.Purpose_name[int32(p)] == "":
		v.Add(field+".purpose", "required")
	case !slices.Contains(allowed, p):
		v.Add(field+".purpose", "%s is not a purpose %s may give for %s; give one of %s",
			purposeName(p), CallerOf(kind), methodName(method), purposeList(allowed))
	}
	cr := ac.GetCaseReference()
	form, needed := caseForms[p]
	switch {
	case len(cr) > 120:
		v.Add(field+".case_reference", "at most 120 characters")
	case !printable(cr):
		v.Add(field+".case_reference", "must be printable text")
	case needed && cr == "":
		v.Add(field+".case_reference", "required for %s: %s", purposeName(p), form.describe)
	case needed && !form.matches(cr):
		v.Add(field+".case_reference", "not a case reference for %s: give %s", purposeName(p), form.describe)
	}
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// purposeName is a purpose as the command line spells it: criminal-investigation.
func purposeName(p sinergiv1.Purpose) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(p.String(), "PURPOSE_")), "_", "-")
}

func purposeList(ps []sinergiv1.Purpose) string {
	if len(ps) == 0 {
		return "none (this caller may not call it)"
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = purposeName(p)
	}
	return strings.Join(names, ", ")
}

// methodName is a method's short name: GetCustodyRecord.
func methodName(full string) string {
	if i := strings.LastIndex(full, "/"); i >= 0 {
		return full[i+1:]
	}
	return full
}

// PurposeTable renders the purpose table as the README shows it: for each
// group of methods with the same purposes, what each kind of caller may
// give; a purpose that needs a case reference is followed by its form.
func PurposeTable() string {
	type row struct {
		methods []string
		cells   [3]string
	}
	var rows []row
	index := map[[3]string]int{}
	methods := slices.Sorted(maps.Keys(Policy))
	// Methods in the order of their services, then of their names.
	slices.SortStableFunc(methods, func(a, b string) int { return strings.Compare(serviceOf(a), serviceOf(b)) })
	for _, m := range methods {
		r := Policy[m]
		if r.Purposes == nil {
			continue
		}
		var cells [3]string
		for i, c := range []Caller{PoliceUnit, Facility, CorrectionsOffice} {
			ps := r.Purposes[c]
			// Only the kinds the method admits; when they are some of the
			// group, the cell says which.
			var admitted []string
			group := 0
			for _, k := range slices.Concat(police, facilities, correctionsOffices) {
				if CallerOf(k) != c {
					continue
				}
				group++
				if len(r.Kinds) == 0 || slices.Contains(r.Kinds, k) {
					admitted = append(admitted, kindName(k))
				}
			}
			if len(admitted) == 0 {
				ps = nil
			}
			var names []string
			for _, p := range ps {
				n := purposeName(p)
				if f, ok := caseForms[p]; ok {
					n += " (" + strings.Join(f.families, "/…, ") + "/…)"
				}
				names = append(names, n)
			}
			cells[i] = strings.Join(names, ", ")
			switch {
			case cells[i] == "":
				cells[i] = "—"
			case len(admitted) < group:
				cells[i] = strings.Join(admitted, ", ") + " only: " + cells[i]
			}
		}
		if i, ok := index[cells]; ok {
			rows[i].methods = append(rows[i].methods, methodName(m))
			continue
		}
		index[cells] = len(rows)
		rows = append(rows, row{methods: []string{methodName(m)}, cells: cells})
	}
	var b strings.Builder
	b.WriteString("| methods | police units | facilities | ministry and regional offices |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", strings.Join(r.methods, ", "), r.cells[0], r.cells[1], r.cells[2])
	}
	return b.String()
}

// kindName is an institution kind as people write it: Polres, Mabes.
func kindName(k sinergiv1.InstitutionKind) string {
	switch k {
	case sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY:
		return "the ministry"
	case sinergiv1.InstitutionKind_INSTITUTION_KIND_MABES:
		return "Mabes"
	}
	n := strings.ToLower(strings.TrimPrefix(k.String(), "INSTITUTION_KIND_"))
	return strings.ToUpper(n[:1]) + n[1:]
}

func serviceOf(full string) string {
	s := strings.TrimPrefix(full, "/")
	if i := strings.Index(s, "/"); i >= 0 {
		return s[:i]
	}
	return s
}
