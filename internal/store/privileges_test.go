package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/store"
)

// TestRolesCannotRewriteTheTrail: whoever holds the server's credentials
// (sinergi_app) or the integrator's can write nothing to the trail, the
// log's tree or its checkpoints but what their one path allows, cannot
// take revocations back, and cannot become a role that could. Each
// statement must be refused by the database itself.
func TestRolesCannotRewriteTheTrail(t *testing.T) {
	ctx := context.Background()
	d := pgtest.Fresh(t)
	st := open(t, d)
	// One real record, so that there is something to change.
	if err := st.AppendAuditBatch(ctx, sealed(t, st, &store.AuditRecord{At: time.Now(), RequestID: "r", Method: "/m", Decision: "ALLOWED", StatusCode: "OK"})); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool.Exec(ctx, `INSERT INTO certificate_revocations (serial, reason) VALUES ('a', 'test')`); err != nil {
		t.Fatalf("the server may revoke: %v", err)
	}
	part := "audit_records_" + time.Now().UTC().Format("2006_01")
	month := time.Now().UTC().Format("2006-01") + "-01"
	old := time.Now().UTC().AddDate(-3, 0, 0).Format("2006-01") + "-01"
	common := []string{
		`INSERT INTO audit_records (id, at, request_id, method, decision, status_code, latency_us, mac) VALUES (1, now(), 'x', '/m', 'ALLOWED', 'OK', 0, '\x00')`,
		fmt.Sprintf(`INSERT INTO %s (id, at, request_id, method, decision, status_code, latency_us) VALUES (2, now(), 'x', '/m', 'ALLOWED', 'OK', 0)`, part),
		`UPDATE audit_records SET reason = 'changed'`,
		fmt.Sprintf(`UPDATE %s SET reason = 'changed'`, part),
		`DELETE FROM audit_records`,
		fmt.Sprintf(`DELETE FROM %s`, part),
		`TRUNCATE audit_records`,
		fmt.Sprintf(`TRUNCATE %s`, part),
		fmt.Sprintf(`ALTER TABLE audit_records DETACH PARTITION %s`, part),
		fmt.Sprintf(`CREATE TABLE audit_records_1999_01 PARTITION OF audit_records FOR VALUES FROM ('1999-01-01') TO ('1999-02-01')`),
		`UPDATE audit_leaves SET leaf_hash = '\x00'`,
		`DELETE FROM audit_leaves`,
		`UPDATE audit_nodes SET hash = '\x00'`,
		`DELETE FROM audit_nodes`,
		`DELETE FROM audit_log_checkpoints`,
		`DELETE FROM audit_log_latest`,
		`INSERT INTO audit_witnesses (institution_code, name, vkey) VALUES ('kemenimipas', 'x', 'y')`,
		`DELETE FROM audit_cosignatures`,
		`UPDATE audit_log_meta SET legacy_records = 0`,
		`DELETE FROM certificate_revocations`,
		`UPDATE certificate_revocations SET serial = 'ff'`,
		`TRUNCATE certificate_revocations`,
		`SET ROLE sinergi_owner`,
		`SET ROLE postgres`,
		`ALTER ROLE CURRENT_USER SUPERUSER`,
		`CREATE ROLE sinergi_evil SUPERUSER`,
	}
	app := append([]string{
		`INSERT INTO audit_queue (at, id) VALUES (now(), 1)`,
		`DELETE FROM audit_queue`,
		`INSERT INTO audit_leaves (leaf_index, record_id, record_at, leaf_hash, leaf_mac) VALUES (99, 1, now(), '\x00', '\x00')`,
		`INSERT INTO audit_nodes (level, idx, hash) VALUES (8, 99, '\x00')`,
		`INSERT INTO audit_log_checkpoints (tree_size, root_hash, at, note) VALUES (99, '\x00', now(), 'x')`,
		`INSERT INTO audit_log_latest (tree_size, root_hash, at, note) VALUES (99, '\x00', now(), 'x')`,
		fmt.Sprintf(`SELECT sinergi_audit_ensure_partitions('%s', 20)`, month),
		`SELECT sinergi_audit_clean_pending()`,
		fmt.Sprintf(`SELECT sinergi_audit_drop_month('%s')`, old),
	}, common...)
	integrator := append([]string{
		`SELECT sinergi_audit_append(ARRAY[7]::bigint[], ARRAY[now()], ARRAY['r'], ARRAY[''], ARRAY[''], ARRAY[''], ARRAY['/m'], ARRAY[''], ARRAY[''], ARRAY['ALLOWED'], ARRAY[''], ARRAY['OK'], ARRAY['{}'], ARRAY['{}'], ARRAY[0]::bigint[], ARRAY['\x00000000000000000000000000000000000000000000000000000000000000'::bytea])`,
		`SELECT sinergi_audit_reserve_ids()`,
		`INSERT INTO audit_cosignatures (witness_code, tree_size, root_hash, note) VALUES ('x', 1, '\x00', 'x')`,
	}, common...)
	for _, tc := range []struct {
		role  string
		url   string
		stmts []string
	}{{store.AppRole, d.App, app}, {store.IntegratorRole, d.Integrator, integrator}} {
		conn, err := pgx.Connect(ctx, tc.url)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range tc.stmts {
			_, err := conn.Exec(ctx, q)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || (pe.Code != "42501" && !strings.Contains(pe.Message, "append-only")) {
				t.Errorf("%s: %s\n  was not refused for want of privilege: %v", tc.role, q, err)
			}
		}
		conn.Close(ctx)
	}
	// What the owner itself cannot do either: the triggers hold (the log's
	// own tables are empty here; internal/e2e/audit tries them full).
	conn, err := pgx.Connect(ctx, d.Owner)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{`UPDATE audit_records SET reason = 'x'`, `DELETE FROM audit_records`, `TRUNCATE audit_records`,
		`TRUNCATE audit_leaves`, `TRUNCATE audit_nodes`, `TRUNCATE audit_log_checkpoints`} {
		if _, err := conn.Exec(ctx, q); err == nil {
			t.Errorf("owner: %s was accepted", q)
		}
	}
	var n int
	if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records WHERE reason = ''`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the record: %d unchanged, %v", n, err)
	}
	if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM certificate_revocations`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("revocations: %d, %v", n, err)
	}
}

// TestServerRefusesPowerfulRoles: the server will not run as a role that
// could rewrite the trail.
func TestServerRefusesPowerfulRoles(t *testing.T) {
	ctx := context.Background()
	for name, url := range map[string]string{"superuser": db.URL, "owner": db.Owner} {
		st, err := store.Open(ctx, url, store.Options{MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		err = st.CheckLeastPrivilege(ctx)
		st.Close()
		if err == nil {
			t.Errorf("the server may log in as the %s", name)
		}
	}
	st := open(t, db)
	if err := st.CheckLeastPrivilege(ctx); err != nil {
		t.Fatalf("the server's own role refused: %v", err)
	}
}
