package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// SettledHorizon returns a transaction id below which every transaction
// that could have written to this database has committed or aborted: the
// oldest transaction still running in this database (or prepared in it),
// else the next transaction id to be assigned. Transactions of other
// databases on the same server do not hold it back, as the cluster-wide
// snapshot xmin would.
//
// The order of the two reads matters. The snapshot's xmax comes first: a
// transaction that takes an id after it is at or above it, and one that had
// an id by then is still listed as running when the second read looks, or
// has finished.
func SettledHorizon(ctx context.Context, db DB) (int64, error) {
	var xmax int64
	if err := db.QueryRow(ctx, `SELECT (pg_snapshot_xmax(pg_current_snapshot())::text)::bigint`).Scan(&xmax); err != nil {
		return 0, err
	}
	rows, err := db.Query(ctx, `
		SELECT (backend_xid::text)::bigint FROM pg_stat_activity
		WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()
		UNION ALL
		SELECT (transaction::text)::bigint FROM pg_prepared_xacts WHERE database = current_database()`)
	if err != nil {
		return 0, err
	}
	running, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, err
	}
	horizon := xmax
	for _, x := range running {
		if full := widenXID(x, xmax); full < horizon {
			horizon = full
		}
	}
	return horizon, nil
}

// widenXID turns a 32-bit transaction id still running into the 64-bit one
// of the epoch in which it was assigned: below reference (the snapshot's xmax).
func widenXID(x32, reference int64) int64 {
	full := reference&^0xFFFFFFFF | x32
	if full >= reference {
		full -= 1 << 32
	}
	return full
}
