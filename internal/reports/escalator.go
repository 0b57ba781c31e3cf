package reports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/store"
)

// EscalatorLock is the advisory lock key held by the one escalator of a
// database ("REPORTS").
const EscalatorLock = 0x5245504f525453

// EscalationMethod names escalations in the audit trail: they are the
// server's acts, not a caller's, and each discloses a report to a new unit.
const EscalationMethod = "sinergi:report-escalation"

// Escalator escalates recipients past their acknowledgement deadline.
// Every server process runs one; the one holding the advisory lock does the
// work, on the connection that holds the lock, and the others wait to take
// over (as the audit sequencer does). Its state is the tables (deadlines,
// acknowledgement and escalation times), so it resumes after a restart
// where it stopped, and it judges deadlines by the injected clock Now.
type Escalator struct {
	Store *store.Store
	// Audit seals the records of escalations.
	Audit     *audit.Sealer
	Directory *directory.Cache
	// Now is the clock deadlines are judged by (tests inject one).
	Now func() time.Time
	Log *slog.Logger
	// Interval between passes (real time); default 100 ms, so a test that
	// moves the injected clock sees the escalation promptly.
	Interval time.Duration
	// Batch is the most recipients one pass escalates; default 200.
	Batch int
	// Escalated counts the recipients escalated, and Overdue is how many
	// were past their deadline at the last pass (nil: not counted).
	Escalated prometheus.Counter
	Overdue   prometheus.Gauge
}

func (e *Escalator) interval() time.Duration {
	if e.Interval > 0 {
		return e.Interval
	}
	return 100 * time.Millisecond
}

func (e *Escalator) batch() int {
	if e.Batch > 0 {
		return e.Batch
	}
	return 200
}

// Run escalates until ctx ends, whenever this process holds the lock.
func (e *Escalator) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := e.lead(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.Log.Warn("report escalator", "error", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (e *Escalator) lead(ctx context.Context) error {
	err := e.Store.Lead(ctx, EscalatorLock, false, e.escalate)
	if errors.Is(err, store.ErrNotLeader) {
		return nil // another process escalates; try again later
	}
	return err
}

func (e *Escalator) escalate(ctx context.Context, conn store.DB) error {
	e.Log.Info("report escalator leading")
	for {
		n, err := e.pass(ctx, conn)
		if err != nil {
			return err
		}
		if n == e.batch() {
			continue // more are due
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(e.interval()):
		}
	}
}

// Tick runs one pass now, through the pool, whoever leads: tests use it to
// escalate at a moment of the injected clock without waiting. It is safe
// beside the leader: each escalation re-reads its recipient under the
// report's row lock, so none is escalated twice. It returns how many
// recipients it escalated.
func (e *Escalator) Tick(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := e.pass(ctx, nil)
		total += n
		if err != nil || n < e.batch() {
			return total, err
		}
	}
}

// pass escalates the recipients due now, on db (the pool when nil).
func (e *Escalator) pass(ctx context.Context, db store.DB) (int, error) {
	now := e.Now()
	q := db
	if q == nil {
		q = e.Store.Pool
	}
	due, err := store.OverdueReportRecipients(ctx, q, now, e.batch())
	if err != nil {
		return 0, fmt.Errorf("overdue recipients: %w", err)
	}
	if e.Overdue != nil {
		e.Overdue.Set(float64(len(due)))
	}
	dir := e.Directory.Snapshot()
	n := 0
	for _, o := range due {
		entry := e.Audit.NewEntry(EscalationMethod, "")
		entry.Allow("acknowledgement deadline passed")
		changed, err := e.Store.UpdateReport(ctx, db, entry, restrict.All(), o.ReportID,
			func(st *store.ReportState) (*store.ReportChange, error) {
				ch := Escalate(dir, st, o.Institution, now)
				if ch != nil {
					entry.AddSubjects("report/" + st.ID)
					if ch.AddRecipient != nil {
						entry.AddAgreements(ch.AddRecipient.GetAgreementIds()...)
					}
				}
				return ch, nil
			})
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("escalate report %s past %s: %w", o.ReportID, o.Institution, err)
		}
		if changed {
			n++
			if e.Escalated != nil {
				e.Escalated.Inc()
			}
			e.Log.Info("report escalated", "report_id", o.ReportID, "from", o.Institution)
		}
	}
	return n, nil
}
