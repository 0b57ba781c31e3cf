package main

import (
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

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
	err := run(context.Background(), []string{"seed", "--database-url", db.URL, bad})
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
	if err := run(context.Background(), []string{"seed", "--database-url", db.URL, good}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, env, `SELECT count(*) FROM agreement_parties WHERE agreement_id = 'pks-rutan-cilacap'`); n != 2 {
		t.Fatalf("good seed wrote %d parties", n)
	}
	// Seeding the same file again changes nothing and succeeds.
	if err := run(context.Background(), []string{"seed", "--database-url", db.URL, good}); err != nil {
		t.Fatal(err)
	}
}

// TestAuditVerifyCommand: `sinergi witness` cosigns the log of a running
// server, `sinergi audit verify` succeeds on the intact log and, with the
// witness's state, names the first position of a changed one.
func TestAuditVerifyCommand(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	c := env.As(t, "polda-lampung")
	for range 5 {
		if _, err := c.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
			t.Fatal(err)
		}
	}
	env.WaitIntegrated(t)
	dir := t.TempDir()
	state, wkey := filepath.Join(dir, "mabes.json"), filepath.Join(dir, "mabes.key")
	name := "sinergi.go.id/witness/mabes-polri"
	out := captureStdout(t, func() error {
		return run(ctx, []string{"witness", "key", "--witness-key", wkey, "--name", name})
	})
	vkey := strings.TrimSpace(out)
	if err := run(ctx, []string{"witness", "register", "--database-url", db.Owner, "--institution", "mabes-polri", "--vkey", vkey}); err != nil {
		t.Fatal(err)
	}
	files := env.Files("mabes-polri")
	witness := []string{"witness", "run", "--once", "--addr", env.Addr(), "--ca", files.CA, "--cert", files.Cert, "--key", files.Key,
		"--state", state, "--witness-key", wkey, "--name", name, "--log-key", env.Keys(t).VerifierKey()}
	if err := run(ctx, witness); err != nil {
		t.Fatalf("witness round: %v", err)
	}
	args := []string{"audit", "verify", "--database-url", db.Integrator, "--audit-key", env.AuditKey, "--witness-state", state}
	if err := run(ctx, args); err != nil {
		t.Fatalf("verify of an intact log: %v", err)
	}
	env.Server.Stop()
	tx, err := env.Owner.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tx.Exec(ctx, "SET LOCAL session_replication_role = replica")
	if _, err := tx.Exec(ctx, `UPDATE audit_records SET operator_id = '85051234' WHERE id = (SELECT record_id FROM audit_leaves WHERE leaf_index = 2)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	out = captureStdout(t, func() error {
		if err := run(ctx, args); err == nil {
			t.Error("verify of a tampered log succeeded")
		}
		return nil
	})
	if !strings.Contains(out, "BROKEN at position 2") {
		t.Errorf("verify output %q does not name position 2", out)
	}
}

// captureStdout runs fn and returns what it printed.
func captureStdout(t *testing.T, fn func() error) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	ferr := fn()
	os.Stdout = saved
	w.Close()
	out := <-done
	if ferr != nil {
		t.Fatalf("%v (printed %q)", ferr, out)
	}
	return out
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
