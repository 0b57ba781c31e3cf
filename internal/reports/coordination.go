package reports

import (
	"time"

	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// unitProgress is how far one police unit's answer to an assistance request
// has come, as its thread shows.
type unitProgress struct {
	dispatched, onScene, stoodDown, afterAction bool
}

func progressOf(thread []*sinergiv1.CoordinationEntry) map[string]*unitProgress {
	out := map[string]*unitProgress{}
	for _, c := range thread {
		p := out[c.GetAuthorCode()]
		if p == nil {
			p = &unitProgress{}
			out[c.GetAuthorCode()] = p
		}
		switch c.GetKind() {
		case sinergiv1.CoordinationKind_COORDINATION_KIND_DISPATCH:
			p.dispatched = true
		case sinergiv1.CoordinationKind_COORDINATION_KIND_ON_SCENE:
			p.onScene = true
		case sinergiv1.CoordinationKind_COORDINATION_KIND_STOOD_DOWN:
			p.stoodDown = true
		case sinergiv1.CoordinationKind_COORDINATION_KIND_AFTER_ACTION:
			p.afterAction = true
		}
	}
	return out
}

// Post appends entry e (its kind, text, dispatch and outcome set by the
// caller) to the coordination thread of the assistance request in st, for
// caller and its officer. The filing facility and the recipients post
// messages. A police recipient that has acknowledged the request answers
// it, in order, once each: DISPATCH (the request goes into action), ON_SCENE
// (optional: a recalled dispatch stands down en route), STOOD_DOWN, then
// AFTER_ACTION with an outcome, which closes the request once every unit
// that dispatched has stood down. A closed request's thread takes nothing
// more.
func Post(st *store.ReportState, caller, operator string, e *sinergiv1.CoordinationEntry, now time.Time) (*store.ReportChange, error) {
	if st.Kind != sinergiv1.ReportKind_REPORT_KIND_ASSISTANCE_REQUEST {
		return nil, refuse("only an assistance request has a coordination thread")
	}
	if st.Status == sinergiv1.ReportStatus_REPORT_STATUS_CLOSED {
		return nil, refuse("the request is closed, and its thread with it")
	}
	rc := st.Recipient(caller)
	if caller != st.Facility && rc == nil {
		return nil, refuse("only the requesting facility and the recipients post to the thread")
	}
	ch := &store.ReportChange{At: now,
		Event: &sinergiv1.ReportEvent{Kind: sinergiv1.ReportEventKind_REPORT_EVENT_KIND_COORDINATION_POSTED, ActorCode: caller, OperatorId: operator}}
	entry := &sinergiv1.CoordinationEntry{Kind: e.GetKind(), AuthorCode: caller, OperatorId: operator, Text: e.GetText()}
	ch.Coordination = entry
	if e.GetKind() == sinergiv1.CoordinationKind_COORDINATION_KIND_MESSAGE {
		return ch, nil
	}
	if rc == nil {
		return nil, refuse("the police recipients dispatch, report on scene, stood down and after action; the facility posts messages")
	}
	if rc.GetAcknowledgeTime() == nil {
		return nil, refuse("acknowledge the request before answering it")
	}
	progress := progressOf(st.Coordination)
	me := progress[caller]
	if me == nil {
		me = &unitProgress{}
	}
	switch e.GetKind() {
	case sinergiv1.CoordinationKind_COORDINATION_KIND_DISPATCH:
		if me.dispatched {
			return nil, refuse("this unit has dispatched already: post a message to change what it sent")
		}
		entry.Dispatch = e.GetDispatch()
		if st.Status == sinergiv1.ReportStatus_REPORT_STATUS_ACKNOWLEDGED {
			ch.Status = sinergiv1.ReportStatus_REPORT_STATUS_IN_ACTION
		}
	case sinergiv1.CoordinationKind_COORDINATION_KIND_ON_SCENE:
		switch {
		case !me.dispatched:
			return nil, refuse("dispatch before reporting on scene")
		case me.stoodDown:
			return nil, refuse("this unit has stood down")
		case me.onScene:
			return nil, refuse("this unit is on scene already")
		}
	case sinergiv1.CoordinationKind_COORDINATION_KIND_STOOD_DOWN:
		switch {
		case !me.dispatched:
			return nil, refuse("dispatch before standing down")
		case me.stoodDown:
			return nil, refuse("this unit has stood down already")
		}
	case sinergiv1.CoordinationKind_COORDINATION_KIND_AFTER_ACTION:
		switch {
		case !me.dispatched:
			return nil, refuse("only a unit that dispatched gives an after-action account")
		case !me.stoodDown:
			return nil, refuse("stand down before the after-action account")
		}
		for unit, p := range progress {
			if p.dispatched && !p.stoodDown {
				return nil, refuse(unit + " has not stood down yet")
			}
		}
		entry.Outcome = e.GetOutcome()
		ch.Status, ch.Outcome = sinergiv1.ReportStatus_REPORT_STATUS_CLOSED, e.GetOutcome()
	default:
		return nil, refuse("unknown kind of entry")
	}
	return ch, nil
}
