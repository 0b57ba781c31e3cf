// Package reconcile owns what happens to people missing from a full
// roster: each is an item the facility must resolve within a day
// (released, transferred, or the roster was wrong); one left unresolved is
// escalated to the regional office of the facility's province (the
// ministry where there is none), and the police units watching the person
// are told that where the person is is not settled.
package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/presence"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Window is how long a facility has to resolve an item (the roster
// merge's due time says the same).
const Window = 24 * time.Hour

// EscalatorLock is the advisory lock key of the one escalator ("RECONC").
const EscalatorLock = 0x5245434f4e43

// EscalationMethod names escalations in the audit trail.
const EscalationMethod = "sinergi:reconciliation-escalation"

// Escalator escalates items past their due time, as the other escalators
// do: one leader, the tables as state, the injected clock.
type Escalator struct {
	Store     *store.Store
	Audit     *audit.Sealer
	Directory *directory.Cache
	Now       func() time.Time
	Log       *slog.Logger
	Interval  time.Duration
}

const batch = 200

// Run escalates until ctx ends, whenever this process holds the lock.
func (e *Escalator) Run(ctx context.Context) {
	interval := e.Interval
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	e.Store.LeadPasses(ctx, EscalatorLock, interval, batch, e.pass,
		func(err error) { e.Log.Warn("reconciliation escalator", "error", err) })
}

func (e *Escalator) pass(ctx context.Context, db store.DB) (int, error) {
	now := e.Now()
	due, err := store.OverdueReconciliationItems(ctx, db, now, batch)
	if err != nil {
		return 0, fmt.Errorf("overdue reconciliation items: %w", err)
	}
	snap := e.Directory.Snapshot()
	for _, id := range due {
		entry := e.Audit.NewEntry(EscalationMethod, "")
		entry.Allow("reconciliation due time passed unresolved")
		_, err := e.Store.EscalateReconciliationItem(ctx, db, entry, id, now, func(it *sinergiv1.ReconciliationItem, nik string) (string, []store.HitNoticeRow) {
			to := presence.EscalationTarget(snap, it.GetFacilityCode())
			if to == "" {
				return "", nil
			}
			entry.AddSubjects(store.CustodySubject(it.GetRecordId()))
			n := &sinergiv1.HitNotice{Kind: sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_RECONCILIATION_ESCALATED, Time: timestamppb.New(now),
				FacilityCode: it.GetFacilityCode(), RecordId: it.GetRecordId(), DueTime: it.GetDueTime(), ReconciliationItemId: it.GetId()}
			notices := []store.HitNoticeRow{{Audience: to, Notice: n}, {Audience: it.GetFacilityCode(), Notice: n}}
			watchers, err := e.Store.WatchersOf(ctx, it.GetRecordId(), nik, now)
			if err != nil {
				// Not escalated without its watchers: the next pass tries again.
				e.Log.Warn("reconciliation watchers", "error", err)
				return "", nil
			}
			for _, w := range watchers {
				in := snap.Institution(w)
				if in == nil || !authz.NationalReach(snap, in, sinergiv1.Scope_SCOPE_CUSTODY_EVENTS, now).Includes(it.GetFacilityCode()) {
					continue
				}
				u := &sinergiv1.HitNotice{Kind: sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_RECONCILIATION_UNRESOLVED, Time: timestamppb.New(now),
					FacilityCode: it.GetFacilityCode(), RecordId: it.GetRecordId(), DueTime: it.GetDueTime(), ReconciliationItemId: it.GetId()}
				notices = append(notices, store.HitNoticeRow{Audience: w, Notice: u})
				entry.AddSubjects("institution/" + w)
			}
			return to, notices
		})
		if err != nil {
			return 0, fmt.Errorf("escalate reconciliation item %s: %w", id, err)
		}
	}
	return len(due), nil
}
