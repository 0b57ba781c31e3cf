package firearms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	"github.com/sinergi-id/sinergi/internal/store"
)

// ExpirerLock is the advisory lock key held by the one expirer of a
// database ("FIREEXP").
const ExpirerLock = 0x46495245455850

// ExpiryMethod names expiry warnings in the audit trail: they are the
// server's acts, not a caller's, and each tells a facility and its
// licensing unit of a licence.
const ExpiryMethod = "sinergi:firearms-licence-expiry"

// Expirer gives the expiry warnings of approved licences: 90, 30 and 7
// days before the expiry, and at the expiry, each once, to the licence's
// facility and licensing unit (an event of the register, which both
// watch). Every server process runs one; the one holding the advisory lock
// does the work, on the connection that holds the lock, as the report
// escalator does. Its state is the licences' own (the warning last given
// and when the next is due), so it resumes after a restart where it
// stopped, and a warning is never given twice: each is written under the
// licence's row lock, with its audit record.
type Expirer struct {
	Store *store.Store
	// Audit seals the records of the warnings.
	Audit *audit.Sealer
	// Now is the clock expiries are judged by (tests inject one).
	Now func() time.Time
	Log *slog.Logger
	// Interval between passes (real time); default 1 s.
	Interval time.Duration
	// Batch is the most licences one pass warns; default 200.
	Batch int
	// Warned counts the warnings given (nil: not counted).
	Warned prometheus.Counter
}

func (e *Expirer) interval() time.Duration {
	if e.Interval > 0 {
		return e.Interval
	}
	return time.Second
}

func (e *Expirer) batch() int {
	if e.Batch > 0 {
		return e.Batch
	}
	return 200
}

// Run warns until ctx ends, whenever this process holds the lock.
func (e *Expirer) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := e.Store.Lead(ctx, ExpirerLock, false, e.lead)
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, store.ErrNotLeader) {
			e.Log.Warn("firearms licence expirer", "error", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (e *Expirer) lead(ctx context.Context, conn store.DB) error {
	e.Log.Info("firearms licence expirer leading")
	for {
		n, err := e.pass(ctx, conn)
		if err != nil {
			return err
		}
		if n == e.batch() {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(e.interval()):
		}
	}
}

// Tick runs one pass now, through the pool, whoever leads: tests use it to
// warn at a moment of the injected clock without waiting. It is safe
// beside the leader: each warning re-reads its licence under its row lock.
// It returns how many warnings it gave.
func (e *Expirer) Tick(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := e.pass(ctx, nil)
		total += n
		if err != nil || n < e.batch() {
			return total, err
		}
	}
}

// pass gives the warnings due now, on db (the pool when nil).
func (e *Expirer) pass(ctx context.Context, db store.DB) (int, error) {
	now := e.Now()
	q := db
	if q == nil {
		q = e.Store.Pool
	}
	due, err := store.DueLicenceWarnings(ctx, q, now, e.batch())
	if err != nil {
		return 0, fmt.Errorf("licences due a warning: %w", err)
	}
	n := 0
	for _, id := range due {
		entry := e.Audit.NewEntry(ExpiryMethod, "")
		var days int32
		changed, err := e.Store.UpdateLicence(ctx, db, entry, restrict.All(), id, func(st *store.LicenceState) (*store.LicenceChange, error) {
			ch := Warn(st, now)
			if ch != nil {
				days = *ch.WarnedDays
				entry.Allow("licence expiry warning: " + strconv.Itoa(int(days)) + " days")
				entry.AddSubjects("licence/" + st.Licence.GetId())
				if w := st.Licence.GetWeaponId(); w != "" {
					entry.AddSubjects("weapon/" + w)
				}
			}
			return ch, nil
		})
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("expiry warning of licence %s: %w", id, err)
		}
		if changed {
			n++
			if e.Warned != nil {
				e.Warned.Inc()
			}
			e.Log.Info("firearms licence expiry warning", "licence_id", id, "days", days)
		}
	}
	return n, nil
}
