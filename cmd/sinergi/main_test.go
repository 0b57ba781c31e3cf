package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

func count(t *testing.T, env *servertest.Env, q string) int {
	t.Helper()
	var n int
	if err := env.Owner.Pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSeedRejectedWhole: one bad entry rejects the file, naming the entry
// and field, and nothing of it is written.
func TestSeedRejectedWhole(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`
institutions:
  - {code: rutan-cilacap, name: Rutan Kelas IIB Cilacap, kind: RUTAN, region_code: "33.01"}
agreements:
  - id: pks-rutan-cilacap
    number: PKS/1/2026
    kind: PKS
    parties: [{institution_code: rutan-cilacap}, {institution_code: polres-atlantis}]
    scopes: [INCIDENT_REPORTS]
    effective: "2026-01-01"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	before := count(t, env, `SELECT count(*) FROM institutions`)
	err := run(context.Background(), []string{"seed", "--database-url", db.URL, "--operator-id", devenv.DevOperator, bad})
	if err == nil || !strings.Contains(err.Error(), "agreements[0] (pks-rutan-cilacap).parties[1].institution_code") || !strings.Contains(err.Error(), "nothing written") {
		t.Fatalf("seed of a bad file: %v", err)
	}
	if after := count(t, env, `SELECT count(*) FROM institutions`); after != before {
		t.Fatalf("institutions %d -> %d: a rejected file wrote something", before, after)
	}
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte(`{"institutions": [{"code": "rutan-cilacap", "name": "Rutan Kelas IIB Cilacap", "kind": "RUTAN", "region_code": "33.01"}],
		"agreements": [{"id": "pks-rutan-cilacap", "number": "PKS/1/2026", "kind": "PKS", "effective": "2026-01-01", "scopes": ["INCIDENT_REPORTS"],
		"parties": [{"institution_code": "rutan-cilacap"}, {"institution_code": "polres-cilacap"}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"seed", "--database-url", db.URL, "--operator-id", devenv.DevOperator, good}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, env, `SELECT count(*) FROM agreement_parties WHERE agreement_id = 'pks-rutan-cilacap'`); n != 2 {
		t.Fatalf("good seed wrote %d parties", n)
	}
	// Seeding the same file again changes nothing and succeeds.
	if err := run(context.Background(), []string{"seed", "--database-url", db.URL, "--operator-id", devenv.DevOperator, good}); err != nil {
		t.Fatal(err)
	}
}

// TestAuditVerifyCommand: `sinergi audit verify` succeeds on an intact
// chain and fails on a tampered one.
func TestAuditVerifyCommand(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	c := env.As(t, "polda-lampung")
	for range 5 {
		if _, err := c.Institutions.GetInstitution(context.Background(), &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
			t.Fatal(err)
		}
	}
	env.WaitChained(t)
	args := []string{"audit", "verify", "--database-url", db.URL, "--audit-key", env.AuditKey}
	if err := run(context.Background(), args); err != nil {
		t.Fatalf("verify of an intact chain: %v", err)
	}
	env.Server.Stop()
	ctx := context.Background()
	tx, err := env.Owner.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tx.Exec(ctx, "SET LOCAL session_replication_role = replica")
	if _, err := tx.Exec(ctx, `UPDATE audit_records SET operator_id = '85051234' WHERE id = (SELECT record_id FROM audit_chain WHERE seq = 2)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), args); err == nil {
		t.Fatal("verify of a tampered chain succeeded")
	}
}

// TestTuneGC: the server's collector settings apply, except where the
// operator set GOGC or GOMEMLIMIT, which win.
func TestTuneGC(t *testing.T) {
	prevPercent := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	})
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	tuneGC(700, 96)
	if got := debug.SetGCPercent(100); got != 700 {
		t.Errorf("gc percent %d, want 700", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != 96<<20 {
		t.Errorf("memory limit %d, want %d", got, 96<<20)
	}

	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	tuneGC(700, 96)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, gc percent %d, want it left at 100", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set, memory limit %d, want it left alone", got)
	}
}
