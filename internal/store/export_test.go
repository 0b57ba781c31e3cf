package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// MigrateTo applies the embedded migrations up to version (for tests of a
// migration over data written before it).
func MigrateTo(ctx context.Context, databaseURL string, version int64) error {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return err
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, mustSub(migrations, "migrations"))
	if err != nil {
		return err
	}
	_, err = provider.UpTo(ctx, version)
	return err
}

// TakeQueuedRecords is the statement TakeQueuedAudit reads a batch's
// records with.
const TakeQueuedRecords = takeQueuedRecords

// ListAuditQuery is ListAudit's statement for f.
func ListAuditQuery(f AuditFilter) (string, []any) { return listAuditQuery(f) }
