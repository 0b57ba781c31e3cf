package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// AppendAuditTxAll writes records inside a write's own transaction with one
// statement, whatever their number (AppendAuditTx for several).
func AppendAuditTxAll(ctx context.Context, tx pgx.Tx, recs []*AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, appendSQL, appendArgs(recs)...)
	return err
}
