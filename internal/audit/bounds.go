package audit

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sinergi-id/sinergi/internal/store"
)

// What one audit record may keep of each field. A caller controls some of
// them (the officer, the case reference, the method name, what it sent
// that made a call fail), so none is taken as it came: a value that is too
// long, is not valid UTF-8 or holds control characters is kept as an
// escaped prefix followed by its length and SHA-256, so that the record
// stays a few KB, stays valid text, and still identifies what was sent.
const (
	maxRequestID   = 128
	maxCode        = 128
	maxSerial      = 128
	maxOperatorID  = 128
	maxMethod      = 256
	maxPurpose     = 64
	maxCase        = 256
	maxDecision    = 16
	maxReason      = 2048
	maxStatus      = 32
	maxAgreements  = 256
	maxAgreementID = 128
	maxSubjects    = 2000
	maxSubject     = 256
)

// bound returns s as a record may keep it, at most max bytes.
func bound(s string, max int) string {
	if len(s) <= max && clean(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	suffix := fmt.Sprintf("…[%d bytes, sha256:%x]", len(s), sum)
	room := max - len(suffix)
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece string
		switch {
		case r == utf8.RuneError && size == 1:
			piece = fmt.Sprintf(`\x%02x`, s[i])
		case r < 0x20 || (r >= 0x7f && r < 0xa0) || r == '\\':
			piece = strings.Trim(strconv.QuoteRune(r), "'")
		default:
			piece = s[i : i+size]
		}
		if b.Len()+len(piece) > room {
			break
		}
		b.WriteString(piece)
		i += size
	}
	return b.String() + suffix
}

// clean reports whether s is valid UTF-8 without control characters.
func clean(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || (r >= 0x80 && r < 0xa0) {
			return false
		}
		i += size
	}
	return true
}

// boundList bounds each element (in place: records own their lists) and
// the count; what is cut is said in the returned note.
func boundList(l []string, maxLen, maxEach int, what string) ([]string, string) {
	note := ""
	if len(l) > maxLen {
		note = fmt.Sprintf("; %d more %s not kept", len(l)-maxLen, what)
		l = l[:maxLen]
	}
	for i, s := range l {
		l[i] = bound(s, maxEach)
	}
	return l, note
}

// Bound makes r what the trail may keep (see the limits above).
func Bound(r *store.AuditRecord) {
	r.RequestID = bound(r.RequestID, maxRequestID)
	r.CallerCode = bound(r.CallerCode, maxCode)
	r.CertificateSerial = bound(r.CertificateSerial, maxSerial)
	r.OperatorID = bound(r.OperatorID, maxOperatorID)
	r.Method = bound(r.Method, maxMethod)
	r.Purpose = bound(r.Purpose, maxPurpose)
	r.CaseReference = bound(r.CaseReference, maxCase)
	r.Decision = bound(r.Decision, maxDecision)
	r.StatusCode = bound(r.StatusCode, maxStatus)
	var n1, n2 string
	r.AgreementIDs, n1 = boundList(r.AgreementIDs, maxAgreements, maxAgreementID, "agreements")
	r.Subjects, n2 = boundList(r.Subjects, maxSubjects, maxSubject, "subjects")
	r.Reason = bound(r.Reason+n1+n2, maxReason)
}
