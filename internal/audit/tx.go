package audit

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/sinergi-id/sinergi/internal/store"
)

// WriteTxAll is WriteTx for several records of one write (a call's own and
// those of the acts it makes, such as a screening's referrals to each
// owning unit): they are written with one statement, whatever their
// number, and commit or fail with the write.
func WriteTxAll(ctx context.Context, tx pgx.Tx, entries ...*Entry) error {
	recs := make([]*store.AuditRecord, len(entries))
	for i, e := range entries {
		if e.attached() {
			return errAttached
		}
		rec := e.finish("OK")
		if e.sealer == nil {
			return &Error{Err: errors.New("audit entry has no sealer: it cannot be written in a transaction")}
		}
		if err := e.sealer.SealOn(ctx, tx, rec); err != nil {
			return &Error{Err: err}
		}
		recs[i] = rec
	}
	if err := store.AppendAuditTxAll(ctx, tx, recs); err != nil {
		return &Error{Err: err}
	}
	for _, e := range entries {
		e.mu.Lock()
		e.inTx = true
		e.mu.Unlock()
	}
	return nil
}
