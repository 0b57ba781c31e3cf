package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sinergi-id/sinergi/internal/store"
)

// TestTakeQueuedAuditReadsOnlyItsMonths: the integrator's batch is read
// from the partitions of the batch's months alone. Joined to the whole
// trail, the statement's plan held every monthly partition, and with a
// few thousand records queued it hashed the whole trail for each batch,
// which grew with the trail until the log fell behind (make bench-scale).
// The test reads the plan, not a time.
func TestTakeQueuedAuditReadsOnlyItsMonths(t *testing.T) {
	ctx := context.Background()
	d, admin := freshAdmin(t)
	// Records of last month and this one; this month's are queued.
	now := time.Now().UTC()
	this := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if _, err := admin.Exec(ctx, `
		INSERT INTO audit_records (id, at, request_id, method, decision, status_code, latency_us, mac)
		SELECT g, $1::timestamptz + g * interval '1 second', 'r' || g, '/m', 'ALLOWED', 'OK', 1, '\x00'::bytea
		FROM generate_series(1, 20000) g`, this.AddDate(0, -1, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `
		INSERT INTO audit_records (id, at, request_id, method, decision, status_code, latency_us, mac)
		SELECT 100000 + g, $1::timestamptz + g * interval '1 millisecond', 'q' || g, '/m', 'ALLOWED', 'OK', 1, '\x00'::bytea
		FROM generate_series(1, 5000) g`, this); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `INSERT INTO audit_queue (at, id) SELECT at, id FROM audit_records WHERE id > 100000;
		ANALYZE audit_records; ANALYZE audit_queue`); err != nil {
		t.Fatal(err)
	}

	integrator, err := pgx.Connect(ctx, d.Integrator)
	if err != nil {
		t.Fatal(err)
	}
	defer integrator.Close(ctx)
	tx, err := integrator.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	recs, err := store.TakeQueuedAudit(ctx, tx, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5000 {
		t.Fatalf("took %d records, want the 5000 queued", len(recs))
	}
	for i := 1; i < len(recs); i++ {
		if !recs[i-1].At.Before(recs[i].At) {
			t.Fatalf("records %d and %d are out of (at, id) order", i-1, i)
		}
	}

	ats, ids := make([]time.Time, len(recs)), make([]int64, len(recs))
	for i, r := range recs {
		ats[i], ids[i] = r.At, r.ID
	}
	lines := explain(t, admin, store.TakeQueuedRecords, []any{ats, ids, ats[0], ats[len(ats)-1]}, false)
	plan := strings.Join(lines, "\n")
	thisMonth := "audit_records_" + this.Format("2006_01")
	if !strings.Contains(plan, thisMonth) {
		t.Fatalf("the plan does not read %s:\n%s", thisMonth, plan)
	}
	for _, l := range lines {
		if i := strings.Index(l, " on audit_records_"); i >= 0 && !strings.Contains(l, thisMonth) {
			t.Errorf("the batch of this month also reads another partition: %s\nplan:\n%s", strings.TrimSpace(l), plan)
		}
	}
}
