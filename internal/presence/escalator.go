package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// EscalatorLock is the advisory lock key held by the one escalator of
// confirmation requests of a database ("HITESC").
const EscalatorLock = 0x484954455343

// EscalationMethod names escalations in the audit trail: the server's
// acts, each disclosing a request, its record and its requester to a
// regional office.
const EscalationMethod = "sinergi:hit-escalation"

// Escalator escalates confirmation requests past their due time to the
// regional office of the holding facility's province (EscalationTarget),
// as internal/reports' escalator does reports: every server process runs
// one, the one holding the lock works, and its state is the table, judged
// by the injected clock.
type Escalator struct {
	Store *store.Store
	// Audit seals the records of escalations.
	Audit     *audit.Sealer
	Directory *directory.Cache
	Now       func() time.Time
	Log       *slog.Logger
	// Interval between passes (real time); default 100 ms.
	Interval time.Duration
}

const escalateBatch = 200

func (e *Escalator) interval() time.Duration {
	if e.Interval > 0 {
		return e.Interval
	}
	return 100 * time.Millisecond
}

// Run escalates until ctx ends, whenever this process holds the lock.
func (e *Escalator) Run(ctx context.Context) {
	e.Store.LeadPasses(ctx, EscalatorLock, e.interval(), escalateBatch, e.pass,
		func(err error) { e.Log.Warn("hit request escalator", "error", err) })
}

// Tick runs one pass now, through the pool, whoever leads (tests). Each
// escalation re-reads its request under its row lock, so none is
// escalated twice.
func (e *Escalator) Tick(ctx context.Context) (int, error) { return e.pass(ctx, nil) }

func (e *Escalator) pass(ctx context.Context, db store.DB) (int, error) {
	now := e.Now()
	q := db
	if q == nil {
		q = e.Store.Pool
	}
	due, err := store.OverdueHitRequests(ctx, q, now, escalateBatch)
	if err != nil {
		return 0, fmt.Errorf("overdue hit requests: %w", err)
	}
	snap := e.Directory.Snapshot()
	n := 0
	for _, id := range due {
		entry := e.Audit.NewEntry(EscalationMethod, "")
		entry.Allow("confirmation due time passed unanswered")
		_, err := e.Store.UpdateHitRequest(ctx, db, entry, id, func(r *sinergiv1.HitRequest) ([]store.HitNoticeRow, error) {
			notices := Escalate(snap, r, now)
			if notices == nil {
				return nil, store.ErrUnchanged
			}
			entry.AddSubjects("hit-request/"+r.GetId(), store.CustodySubject(r.GetRecordId()))
			n++
			return notices, nil
		})
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("escalate hit request %s: %w", id, err)
		}
	}
	return n, nil
}

// Escalate escalates r at now if it is due (pending, never escalated, due
// time past): it sets the escalation and returns the notices to the
// office and the facility; nil when r is not due.
func Escalate(snap *directory.Snapshot, r *sinergiv1.HitRequest, now time.Time) []store.HitNoticeRow {
	if r.GetState() != sinergiv1.HitRequestState_HIT_REQUEST_STATE_PENDING || r.GetEscalateTime() != nil || now.Before(r.GetDueTime().AsTime()) {
		return nil
	}
	to := EscalationTarget(snap, r.GetFacilityCode())
	if to == "" {
		return nil
	}
	r.EscalateTime, r.EscalatedToCode = timestamppb.New(now), to
	n := Notice(r, sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_ESCALATED, now)
	return []store.HitNoticeRow{{Audience: to, Notice: n}, {Audience: r.GetFacilityCode(), Notice: n}}
}

// Notice is the notice of kind about request r at now.
func Notice(r *sinergiv1.HitRequest, kind sinergiv1.HitNoticeKind, now time.Time) *sinergiv1.HitNotice {
	return &sinergiv1.HitNotice{Kind: kind, Time: timestamppb.New(now), FacilityCode: r.GetFacilityCode(), RecordId: r.GetRecordId(),
		RequesterCode: r.GetRequesterCode(), OperatorId: r.GetOperatorId(), Purpose: r.GetPurpose(), CaseReference: r.GetCaseReference(),
		HitRequestId: r.GetId(), Urgency: r.GetUrgency(), DueTime: r.GetDueTime(), State: r.GetState()}
}

// AnswerNotices are the notices of r's answer, by the institution at
// role: the requester is told (of a denial, without the facility or the
// record), and, when it was escalated, whichever of the facility and the
// office did not answer.
func AnswerNotices(r *sinergiv1.HitRequest, role Role, now time.Time) []store.HitNoticeRow {
	n := Notice(r, sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_ANSWERED, now)
	toRequester := n
	if r.GetState() != sinergiv1.HitRequestState_HIT_REQUEST_STATE_CONFIRMED {
		c := proto.Clone(n).(*sinergiv1.HitNotice)
		c.FacilityCode, c.RecordId = "", ""
		toRequester = c
	}
	out := []store.HitNoticeRow{{Audience: r.GetRequesterCode(), Notice: toRequester}}
	if r.GetEscalateTime() != nil {
		other := r.GetEscalatedToCode()
		if role == Escalated {
			other = r.GetFacilityCode()
		}
		out = append(out, store.HitNoticeRow{Audience: other, Notice: n})
	}
	return out
}
