package reports

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// RuleError is a change the workflow does not allow in the report's
// present state (the caller sees FAILED_PRECONDITION with its message).
type RuleError struct{ Msg string }

func (e *RuleError) Error() string { return e.Msg }

func refuse(msg string) error { return &RuleError{Msg: msg} }

// Acknowledge is recipient caller acknowledging the report, on behalf of
// officer operator. Acknowledging twice changes nothing (nil change), so a
// retry on a bad link is harmless. The first acknowledgement moves a
// submitted report to ACKNOWLEDGED.
func Acknowledge(st *store.ReportState, caller, operator string, now time.Time) (*store.ReportChange, error) {
	rc := st.Recipient(caller)
	if rc == nil {
		return nil, refuse("only a recipient of the report acknowledges it")
	}
	if rc.GetAcknowledgeTime() != nil {
		return nil, nil
	}
	ch := &store.ReportChange{At: now, Acknowledge: caller, AckOperator: operator,
		Event: &sinergiv1.ReportEvent{Kind: sinergiv1.ReportEventKind_REPORT_EVENT_KIND_ACKNOWLEDGED,
			ActorCode: caller, OperatorId: operator, RecipientCode: caller}}
	if st.Status == sinergiv1.ReportStatus_REPORT_STATUS_SUBMITTED {
		ch.Status = sinergiv1.ReportStatus_REPORT_STATUS_ACKNOWLEDGED
	}
	return ch, nil
}

// UpdateStatus moves the report to target (IN_ACTION, or CLOSED with an
// outcome) for recipient caller, which must have acknowledged it. Status
// only moves forward: acknowledged -> in action -> closed, or acknowledged
// -> closed.
func UpdateStatus(st *store.ReportState, caller, operator string, target sinergiv1.ReportStatus, outcome sinergiv1.ReportOutcome, now time.Time) (*store.ReportChange, error) {
	rc := st.Recipient(caller)
	switch {
	case rc == nil:
		return nil, refuse("only a recipient of the report changes its status")
	case rc.GetAcknowledgeTime() == nil:
		return nil, refuse("acknowledge the report before changing its status")
	case st.Status == sinergiv1.ReportStatus_REPORT_STATUS_CLOSED:
		return nil, refuse("the report is closed")
	case target == st.Status:
		return nil, refuse("the report is " + statusWord(st.Status) + " already")
	case target == sinergiv1.ReportStatus_REPORT_STATUS_IN_ACTION && st.Status != sinergiv1.ReportStatus_REPORT_STATUS_ACKNOWLEDGED:
		return nil, refuse("only an acknowledged report goes into action")
	case target != sinergiv1.ReportStatus_REPORT_STATUS_IN_ACTION && target != sinergiv1.ReportStatus_REPORT_STATUS_CLOSED:
		return nil, refuse("status moves only to in action or closed")
	}
	ch := &store.ReportChange{At: now, Status: target,
		Event: &sinergiv1.ReportEvent{Kind: sinergiv1.ReportEventKind_REPORT_EVENT_KIND_STATUS_CHANGED, ActorCode: caller, OperatorId: operator}}
	if target == sinergiv1.ReportStatus_REPORT_STATUS_CLOSED {
		ch.Outcome = outcome
	}
	return ch, nil
}

func statusWord(s sinergiv1.ReportStatus) string {
	switch s {
	case sinergiv1.ReportStatus_REPORT_STATUS_SUBMITTED:
		return "submitted"
	case sinergiv1.ReportStatus_REPORT_STATUS_ACKNOWLEDGED:
		return "acknowledged"
	case sinergiv1.ReportStatus_REPORT_STATUS_IN_ACTION:
		return "in action"
	case sinergiv1.ReportStatus_REPORT_STATUS_CLOSED:
		return "closed"
	}
	return s.String()
}

// AddAddendum appends a note by caller (the author: the filing facility,
// or the police unit that warned it; or a recipient); only recipients
// report outcomes.
func AddAddendum(st *store.ReportState, caller, operator, text string, outcomes []sinergiv1.ReportOutcome, now time.Time) (*store.ReportChange, error) {
	author := st.Author
	if author == "" {
		author = st.Facility
	}
	isFiler := caller == author
	if !isFiler && st.Recipient(caller) == nil {
		return nil, refuse("only the report's author and its recipients add to a report")
	}
	if isFiler && len(outcomes) > 0 {
		return nil, refuse("outcomes are reported by the recipients, not by the report's author")
	}
	return &store.ReportChange{At: now,
		Addendum: &sinergiv1.ReportAddendum{AuthorCode: caller, OperatorId: operator, Text: text, Outcomes: outcomes},
		Event:    &sinergiv1.ReportEvent{Kind: sinergiv1.ReportEventKind_REPORT_EVENT_KIND_ADDENDUM_ADDED, ActorCode: caller, OperatorId: operator},
	}, nil
}

// Escalate is the escalation of recipient unit if it is past its deadline
// at now, unacknowledged and not yet escalated (nil otherwise, or when the
// report is closed). The report goes to the nearest unit above it (Polsek
// -> Polres -> Polda -> Mabes) that an agreement in force covers, with the
// facility, for the report's scope: a unit above that none covers could not
// read the report, so it is passed over for the next. A unit above that is a
// recipient already stops the climb: it is told (the escalation is an event
// every recipient sees) and keeps its own deadline. When no unit above can
// receive it, the escalation is still recorded, with no new recipient, and
// the unit is not escalated again.
func Escalate(dir *directory.Snapshot, st *store.ReportState, unit string, now time.Time) *store.ReportChange {
	rc := st.Recipient(unit)
	if rc == nil || rc.GetAcknowledgeTime() != nil || rc.GetEscalateTime() != nil || rc.GetAcknowledgeDeadline() == nil ||
		rc.GetAcknowledgeDeadline().AsTime().After(now) || st.Status == sinergiv1.ReportStatus_REPORT_STATUS_CLOSED {
		return nil
	}
	ch := &store.ReportChange{At: now, EscalatedPast: unit,
		Event: &sinergiv1.ReportEvent{Kind: sinergiv1.ReportEventKind_REPORT_EVENT_KIND_ESCALATED, EscalatedFromCode: unit}}
	if IsWarning(st.Author, st.Facility) {
		// A facility that leaves a police warning unacknowledged: its
		// regional office, an observer of every event already, is the one
		// the escalation names. Nobody new reads the warning.
		if len(st.Observers) > 0 {
			ch.Event.RecipientCode = st.Observers[0]
		}
		return ch
	}
	facility := dir.Institution(st.Facility)
	scope := ScopeOf(st.Kind)
	seen := map[string]bool{unit: true}
	for code := parentOf(dir, unit); code != "" && !seen[code]; code = parentOf(dir, code) {
		seen[code] = true
		if st.Recipient(code) != nil {
			ch.Event.RecipientCode = code
			break
		}
		up := dir.Institution(code)
		if facility == nil || up == nil || up.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE {
			continue
		}
		if cov := dir.Coverage(up, facility, scope, now); cov.Covered {
			ch.Event.RecipientCode = code
			ch.AddRecipient = &sinergiv1.ReportRecipient{
				InstitutionCode:     code,
				AgreementIds:        cov.AgreementIDs(),
				Reason:              sinergiv1.ReportRecipientReason_REPORT_RECIPIENT_REASON_ESCALATION,
				EscalatedFromCode:   unit,
				AddTime:             timestamppb.New(now),
				AcknowledgeDeadline: deadline(st.Severity, now),
			}
			break
		}
	}
	return ch
}

func parentOf(dir *directory.Snapshot, code string) string {
	if in := dir.Institution(code); in != nil {
		return in.GetParentCode()
	}
	return ""
}
