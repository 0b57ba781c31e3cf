package authz

import (
	"regexp"
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

// NeedsCase reports whether purpose p needs a case reference.
func NeedsCase(p sinergiv1.Purpose) bool {
	return p == sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION || p == sinergiv1.Purpose_PURPOSE_WARRANT_EXECUTION
}

// CheckAccess validates an AccessContext at field (e.g. "access").
func CheckAccess(v *validate.Violations, field string, ac *sinergiv1.AccessContext) {
	if ac == nil {
		v.Add(field, "required: who asks (operator_id), why (purpose) and for which case (case_reference)")
		return
	}
	if !OperatorIDValid(ac.GetOperatorId()) {
		v.Add(field+".operator_id", "must be the officer's NRP (8 digits) or NIP (18 digits)")
	}
	if ac.GetPurpose() == sinergiv1.Purpose_PURPOSE_UNSPECIFIED || sinergiv1.Purpose_name[int32(ac.GetPurpose())] == "" {
		v.Add(field+".purpose", "required")
	}
	cr := ac.GetCaseReference()
	switch {
	case cr == "" && NeedsCase(ac.GetPurpose()):
		v.Add(field+".case_reference", "required for %s", ac.GetPurpose())
	case len(cr) > 120:
		v.Add(field+".case_reference", "at most 120 characters")
	case !printable(cr):
		v.Add(field+".case_reference", "must be printable text")
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
