// Package screening owns the rules of visitor and officer screening that
// are neither SQL nor gRPC: what a screening answers when entries match
// (the strictest instruction, the strongest match, whom to call) and what
// it never says; how a screening proves itself at the visit register (a
// sealed token that names no one) and what a visit must then follow (the
// high-risk designation, the instruction given); the pseudonyms that name
// screened people in the audit trail without their NIK; the rate limit of
// screenings per facility; and the demo lists (demo.go).
//
// Which police units' lists apply at a facility, and what a unit may read,
// is internal/authz's (ScreeningOwners, ReferralReach); the SQL is
// internal/store's (screening.go).
package screening

import (
	"slices"
	"time"

	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Windows of time the rules hold to.
const (
	// A visit (or duty) is screened from an hour after it was to begin to
	// a day before.
	VisitPast   = time.Hour
	VisitFuture = 24 * time.Hour
	// A screening registers a visit within 12 hours.
	TokenValidity = 12 * time.Hour
	// A facility's clock may run this far ahead of ours.
	ClockSkew = 5 * time.Minute
	// An entry lasts at most two years; its owner lists the person again
	// if the case is still open.
	MaxEntryLife = 2 * 365 * 24 * time.Hour
)

// ReferralMethod names, in the audit trail, the disclosure of a screening
// to the owning unit of an entry that matched: the server's act within
// the facility's call, recorded as the owning unit's (its caller code), so
// that the police side's oversight reads it and the corrections side's,
// which reads the facility's call, does not learn whose list matched.
const ReferralMethod = "sinergi:screening-referral"

// RuleError is a request the rules of screening refuse in the present
// state (the caller sees FAILED_PRECONDITION with its message).
type RuleError struct{ Msg string }

func (e *RuleError) Error() string { return e.Msg }

// strictness orders instructions: refusing is stricter than holding the
// person for a call, which is stricter than a search.
var strictness = map[sinergiv1.HandlingInstruction]int{
	sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH: 1,
	sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_CALL_OWNING_UNIT:  2,
	sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_REFUSE_ENTRY:      3,
}

// Answer is what a screening tells the facility.
type Answer struct {
	Result      sinergiv1.ScreeningResult
	Instruction sinergiv1.HandlingInstruction
	Match       sinergiv1.ScreeningMatch
	// The units to call, for CALL_OWNING_UNIT.
	Call []string
}

// Decide is the answer to the facility for the entries that matched (of
// lists that apply there, in force): CLEAR when none did; else REFER with
// the strictest instruction among them, the strongest match (a NIK over a
// name), and, when that instruction is to call the owning unit, the units
// whose entries ask for a call. It says nothing else of the entries: not
// how many, whose (but the units to call), which category or why.
func Decide(hits []store.ScreeningHit) Answer {
	if len(hits) == 0 {
		return Answer{Result: sinergiv1.ScreeningResult_SCREENING_RESULT_CLEAR}
	}
	a := Answer{Result: sinergiv1.ScreeningResult_SCREENING_RESULT_REFER, Match: sinergiv1.ScreeningMatch_SCREENING_MATCH_NAME_AND_BIRTH_DATE}
	for _, h := range hits {
		if strictness[h.Instruction] > strictness[a.Instruction] {
			a.Instruction = h.Instruction
		}
		if h.Match == sinergiv1.ScreeningMatch_SCREENING_MATCH_NIK {
			a.Match = h.Match
		}
	}
	if a.Instruction == sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_CALL_OWNING_UNIT {
		for _, h := range hits {
			if h.Instruction == a.Instruction && !slices.Contains(a.Call, h.Owner) {
				a.Call = append(a.Call, h.Owner)
			}
		}
		slices.Sort(a.Call)
	}
	return a
}

// CheckVisitTime refuses a visit (or duty) time outside the window a
// screening may be made in, naming field.
func CheckVisitTime(at, now time.Time) error {
	switch {
	case at.Before(now.Add(-VisitPast)):
		return &RuleError{Msg: "the visit began more than an hour ago: screen before the visit"}
	case at.After(now.Add(VisitFuture)):
		return &RuleError{Msg: "the visit is more than a day ahead: screen on the day"}
	}
	return nil
}

// Visit is what RegisterVisit asks of the rules.
type Visit struct {
	Facility string
	// Identity is the visitor's digest (Keys.Identity), Inmate the inmate visited.
	Identity, Inmate string
	TimeIn           time.Time
	Outcome          sinergiv1.VisitOutcome
	// Screening is the screening presented with the visit, nil for none.
	Screening *Grant
}

// CheckVisit applies the rules of the register to a visit at a facility
// designated prone to narcotics trafficking (highRisk) or not: there a
// visit needs a screening; anywhere, a screening presented must be the
// facility's, of this visitor, for this inmate, made before the visit and
// still valid, and the outcome must follow its instruction (REFUSE_ENTRY:
// refused; ADMIT_WITH_SEARCH: not admitted without a search). A visit
// without a screening elsewhere is accepted: screening is recommended.
func CheckVisit(highRisk bool, v Visit) error {
	g := v.Screening
	if g == nil {
		if highRisk {
			return &RuleError{Msg: "the facility is designated prone to narcotics trafficking: a visit is registered only with the visitor's screening (ScreenVisitor, then its token)"}
		}
		return nil
	}
	switch {
	case g.Role != sinergiv1.ScreenedRole_SCREENED_ROLE_VISITOR || g.Facility != v.Facility || g.Identity != v.Identity || g.Inmate != v.Inmate:
		return &RuleError{Msg: "the screening is not of this visitor for this inmate at this facility: screen the visitor as they are registered"}
	case v.TimeIn.Before(time.UnixMicro(g.ScreenMicros).Add(-ClockSkew)):
		return &RuleError{Msg: "the visit began before its screening: screen before the visit"}
	case !v.TimeIn.Before(time.UnixMicro(g.ExpireMicros)):
		return &RuleError{Msg: "the screening is no longer valid for a visit: screen the visitor again"}
	}
	switch g.Instruction {
	case sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_REFUSE_ENTRY:
		if v.Outcome != sinergiv1.VisitOutcome_VISIT_OUTCOME_REFUSED {
			return &RuleError{Msg: "the screening's instruction is to refuse entry: the only outcome is REFUSED"}
		}
	case sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH:
		if v.Outcome == sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED {
			return &RuleError{Msg: "the screening's instruction is a search: the outcome is ADMITTED_AFTER_SEARCH or REFUSED"}
		}
	}
	return nil
}

// CheckEnd refuses to end a visit that was refused at the gate.
func CheckEnd(outcome sinergiv1.VisitOutcome, timeIn, timeOut time.Time) error {
	switch {
	case outcome == sinergiv1.VisitOutcome_VISIT_OUTCOME_REFUSED:
		return &RuleError{Msg: "the visitor was refused entry: the visit has no end"}
	case timeOut.Before(timeIn):
		return &RuleError{Msg: "a visit ends after it began"}
	}
	return nil
}
