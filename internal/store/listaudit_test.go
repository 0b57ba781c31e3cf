package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/store"
)

// TestSubjectSearchUsesTheSubjectsIndex: an auditor's search by subject
// reads the subject's records through the subjects index, also in the
// generic plan the server's cached statements come to. Written as one
// query ordered by time, that plan walked the partitions backwards in time
// and filtered every record (make bench-scale). The test reads the plan.
func TestSubjectSearchUsesTheSubjectsIndex(t *testing.T) {
	ctx := context.Background()
	d, admin := freshAdmin(t)
	now := time.Now().UTC()
	this := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	for m, base := range []time.Time{this.AddDate(0, -1, 0), this} {
		if _, err := admin.Exec(ctx, `
			INSERT INTO audit_records (id, at, request_id, method, decision, status_code, latency_us, mac, subjects)
			SELECT $2 + g, $1::timestamptz + g * interval '10 milliseconds', 'r' || g, '/m', 'ALLOWED', 'OK', 1, '\x00'::bytea,
				ARRAY['custody/' || ($2 + g)]
			FROM generate_series(1, 30000) g`, base, int64(m)*100000); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Exec(ctx, `ANALYZE audit_records`); err != nil {
		t.Fatal(err)
	}
	q, args := store.ListAuditQuery(store.AuditFilter{Subject: "custody/42", Decision: "ALLOWED", Limit: 21})
	if _, err := admin.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `PREPARE subject_search AS `+q); err != nil {
		t.Fatal(err)
	}
	placeholders := make([]string, len(args))
	for i := range args {
		placeholders[i] = "$" + string(rune('1'+i))
	}
	// EXPLAIN takes no parameters: the values are written in (simple protocol).
	rows, err := admin.Query(ctx, `EXPLAIN EXECUTE subject_search(`+strings.Join(placeholders, ", ")+`)`,
		append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if strings.Contains(plan, "Index Scan Backward") || !strings.Contains(plan, "subjects_idx") {
		t.Errorf("the generic plan of a subject search does not go through the subjects index:\n%s", plan)
	}

	// And the search finds the subject's record.
	st := open(t, d)
	recs, err := st.ListAudit(ctx, store.AuditFilter{Subject: "custody/42", Limit: 21})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != 42 {
		t.Errorf("subject search found %d records, want record 42", len(recs))
	}
}

// TestNoJIT: the service's connections run without JIT compilation.
func TestNoJIT(t *testing.T) {
	st := open(t, db)
	var jit string
	if err := st.Pool.QueryRow(context.Background(), `SHOW jit`).Scan(&jit); err != nil {
		t.Fatal(err)
	}
	if jit != "off" {
		t.Errorf("jit = %s on the service's connections, want off", jit)
	}
}

// freshAdmin is a fresh database and a connection to it as its owner,
// closed when the test ends.
func freshAdmin(t *testing.T) (*pgtest.DB, *pgx.Conn) {
	t.Helper()
	d := pgtest.Fresh(t)
	admin, err := pgx.Connect(context.Background(), d.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	return d, admin
}
