package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/sinergi-id/sinergi/internal/store"
)

// MinRetention is the least the trail is kept (CJIS asks for a year).
// The database enforces it too: sinergi_audit_drop_month refuses a
// younger month whoever asks.
const MinRetention = 365 * 24 * time.Hour

// Retain drops the monthly partitions of records entirely older than
// retention, on db (the integrator role's connection). The log's leaves
// and tree stay, so every checkpoint and proof keeps verifying, and
// `sinergi audit verify` knows the months that were dropped. It returns
// the months dropped.
func Retain(ctx context.Context, db store.DB, retention time.Duration, now time.Time) ([]time.Time, error) {
	if retention < MinRetention {
		return nil, fmt.Errorf("retention %s is below the minimum of one year", retention)
	}
	months, err := store.OldAuditPartitions(ctx, db, now.Add(-retention))
	if err != nil {
		return nil, err
	}
	var dropped []time.Time
	for _, m := range months {
		if _, err := store.DropAuditMonth(ctx, db, m); err != nil {
			return dropped, fmt.Errorf("month %s: %w", m.Format("2006-01"), err)
		}
		dropped = append(dropped, m)
	}
	return dropped, nil
}
