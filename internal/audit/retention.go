package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/sinergi-id/sinergi/internal/store"
)

// MinRetention is the least the trail is kept (CJIS asks for a year).
const MinRetention = 365 * 24 * time.Hour

// Retain drops the monthly partitions entirely older than retention. Before
// each drop it signs a 'retention' checkpoint at the last link of the
// dropped months, from which Verify resumes. It returns the months dropped.
// st must connect as the schema owner: the application role cannot drop.
func Retain(ctx context.Context, st *store.Store, signer *Signer, retention time.Duration, now time.Time) ([]time.Time, error) {
	if retention < MinRetention {
		return nil, fmt.Errorf("retention %s is below the minimum of one year", retention)
	}
	months, err := st.OldAuditPartitions(ctx, now.Add(-retention))
	if err != nil {
		return nil, err
	}
	var dropped []time.Time
	for _, m := range months {
		end := m.AddDate(0, 1, 0)
		unchained, err := st.CountUnchainedSettled(ctx, end)
		if err != nil {
			return dropped, err
		}
		if unchained > 0 {
			return dropped, fmt.Errorf("month %s still has %d records not chained: not dropped", m.Format("2006-01"), unchained)
		}
		seq, hash, err := st.MaxSeqBefore(ctx, end)
		if err != nil {
			return dropped, err
		}
		if seq > 0 {
			if err := store.AppendCheckpoint(ctx, st.Pool, signer.Checkpoint(seq, hash, now, "retention")); err != nil {
				return dropped, err
			}
		}
		if err := st.DropAuditPartition(ctx, m); err != nil {
			return dropped, err
		}
		dropped = append(dropped, m)
	}
	return dropped, nil
}
