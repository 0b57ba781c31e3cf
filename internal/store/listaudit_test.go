package store_test

import (
	"context"
	"fmt"
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
	twoMonthsOfRecords(t, admin, `''`, `ARRAY['custody/' || ($2 + g)]`)
	q, args := store.ListAuditQuery(store.AuditFilter{Subject: "custody/42", Decision: "ALLOWED", Limit: 21})
	plan := strings.Join(explain(t, admin, q, args, true), "\n")
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

// TestCallerListingUsesTheCallerIndex: an auditor's listing of one
// caller's calls reads every month through the caller index. In the
// generic plan a cached statement comes to, the plan walked the newest
// month's primary key backwards and filtered out every call of other
// callers (690 ms a page in make bench-scale, where the benchmark's own
// calls by mabes-polri filled the month). The test reads the plan the
// listing is run with (a cached statement's generic plan, unless the
// query asks to be planned with its values), over a trail where the
// caller's calls are the old few and the newest month is another's.
func TestCallerListingUsesTheCallerIndex(t *testing.T) {
	ctx := context.Background()
	d, admin := freshAdmin(t)
	this := twoMonthsOfRecords(t, admin, `CASE WHEN $2 = 0 AND g % 1000 = 0 THEN 'polres-metro' ELSE 'mabes-polri' END`, `'{}'`)
	plan := listingPlan(t, admin, store.AuditFilter{CallerCode: "polres-metro", Limit: 21})
	thisMonth := fmt.Sprintf("audit_records_%s_caller_code_at_id_idx", this.Format("2006_01"))
	if strings.Contains(plan, "pkey") || !strings.Contains(plan, thisMonth) {
		t.Errorf("the plan of a caller's listing does not read this month through the caller index (%s):\n%s", thisMonth, plan)
	}

	st := open(t, d)
	recs, err := st.ListAudit(ctx, store.AuditFilter{CallerCode: "polres-metro", Limit: 21})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 21 || recs[0].ID != 30000 || recs[20].ID != 10000 {
		t.Errorf("the listing found %d records, want 21 from record 30000 down to 10000", len(recs))
	}
}

// TestFrequentCallerListingUsesTheCallerIndex: a caller frequent in the
// month's statistics, whose calls have since been buried under newer ones
// of another caller (make bench-scale: 266 000 newer calls of the
// benchmark's own, 129 ms a page through the primary key), is listed
// through the caller index, in the listing's order, with no sort.
func TestFrequentCallerListingUsesTheCallerIndex(t *testing.T) {
	ctx := context.Background()
	d, admin := freshAdmin(t)
	this := twoMonthsOfRecords(t, admin, `CASE WHEN g % 2 = 0 THEN 'polres-metro' ELSE 'mabes-polri' END`, `'{}'`)
	if _, err := admin.Exec(ctx, `
		INSERT INTO audit_records (id, at, request_id, caller_code, method, decision, status_code, latency_us, mac, subjects)
		SELECT 200000 + g, $1::timestamptz + interval '400 seconds' + g * interval '1 millisecond', 'n' || g, 'mabes-polri',
			'/m', 'ALLOWED', 'OK', 1, '\x00'::bytea, '{}'
		FROM generate_series(1, 60000) g`, this); err != nil {
		t.Fatal(err)
	}
	thisMonth := fmt.Sprintf("audit_records_%s_caller_code_at_id_idx", this.Format("2006_01"))
	wantIndexed := func(what string, f store.AuditFilter) {
		t.Helper()
		plan := listingPlan(t, admin, f)
		sorted := strings.Contains(plan, "->  Sort") || strings.Contains(plan, "Incremental Sort")
		if strings.Contains(plan, "pkey") || sorted || !strings.Contains(plan, thisMonth) {
			t.Errorf("the plan of %s does not read this month through the caller index in order (%s):\n%s", what, thisMonth, plan)
		}
	}
	wantIndexed("a frequent caller's listing", store.AuditFilter{CallerCode: "polres-metro", Limit: 21})
	recs, err := open(t, d).ListAudit(ctx, store.AuditFilter{CallerCode: "polres-metro", Limit: 21})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 21 || recs[0].ID != 130000 || recs[20].ID != 129960 {
		t.Errorf("the listing found %d records, want 21 from record 130000 down to 129960", len(recs))
	}

	// Oversight lists within its side's callers (hundreds of codes): the
	// same plan when the caller is among them, nothing when it is not.
	side := []string{"mabes-polri", "polres-metro"}
	for i := range 500 {
		side = append(side, fmt.Sprintf("polsek-%03d", i))
	}
	wantIndexed("a frequent caller's listing within a side", store.AuditFilter{CallerCode: "polres-metro", CallerIn: side, Limit: 21})
	in, err := open(t, d).ListAudit(ctx, store.AuditFilter{CallerCode: "polres-metro", CallerIn: side, Limit: 21})
	if err != nil || len(in) != 21 || in[0].ID != 130000 {
		t.Errorf("the listing within the side found %d records (%v), want 21 from record 130000", len(in), err)
	}
	out, err := open(t, d).ListAudit(ctx, store.AuditFilter{CallerCode: "polres-metro", CallerIn: side[2:], Limit: 21})
	if err != nil || len(out) != 0 {
		t.Errorf("the listing of a caller outside the side found %d records (%v), want none", len(out), err)
	}
}

// listingPlan is the plan store.ListAudit runs f's listing with: a cached
// statement's generic plan, unless the query asks to be planned with its
// values.
func listingPlan(t *testing.T, admin *pgx.Conn, f store.AuditFilter) string {
	t.Helper()
	q, args := store.ListAuditQuery(f)
	generic := true
	if mode, ok := args[0].(pgx.QueryExecMode); ok && mode == pgx.QueryExecModeExec {
		generic, args = false, args[1:] // planned with its values
	}
	return strings.Join(explain(t, admin, q, args, generic), "\n")
}

// explain is the plan of q with args, line by line: the plan made for
// those values or, generic, the one a cached statement comes to after its
// first executions. EXPLAIN takes no parameters: the values are written in
// (simple protocol).
func explain(t *testing.T, conn *pgx.Conn, q string, args []any, generic bool) []string {
	t.Helper()
	ctx := context.Background()
	values := append([]any{pgx.QueryExecModeSimpleProtocol}, args...)
	stmt := `EXPLAIN ` + q
	if generic {
		if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
			t.Fatal(err)
		}
		defer conn.Exec(ctx, `DEALLOCATE explained; RESET plan_cache_mode`) //nolint:errcheck
		if _, err := conn.Exec(ctx, `PREPARE explained AS `+q); err != nil {
			t.Fatal(err)
		}
		placeholders := make([]string, len(args))
		for i := range args {
			placeholders[i] = fmt.Sprintf("$%d", i+1)
		}
		stmt = `EXPLAIN EXECUTE explained(` + strings.Join(placeholders, ", ") + `)`
	}
	rows, err := conn.Query(ctx, stmt, values...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// twoMonthsOfRecords writes 30 000 audit records in each of last month and
// this one (ids 1.. and 100001..), their caller and subjects the SQL
// expressions given (of g, the record's number in its month, and $2, the
// month's first id less one), analyzes them, and returns this month.
func twoMonthsOfRecords(t *testing.T, admin *pgx.Conn, caller, subjects string) time.Time {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	this := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	for m, base := range []time.Time{this.AddDate(0, -1, 0), this} {
		if _, err := admin.Exec(ctx, `
			INSERT INTO audit_records (id, at, request_id, caller_code, method, decision, status_code, latency_us, mac, subjects)
			SELECT $2 + g, $1::timestamptz + g * interval '10 milliseconds', 'r' || g, `+caller+`,
				'/m', 'ALLOWED', 'OK', 1, '\x00'::bytea, `+subjects+`
			FROM generate_series(1, 30000) g`, base, int64(m)*100000); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Exec(ctx, `ANALYZE audit_records`); err != nil {
		t.Fatal(err)
	}
	return this
}
