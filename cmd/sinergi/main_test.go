package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
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
	err := run(context.Background(), []string{"seed", "--database-url", db.URL, "--audit-key", env.AuditKey, "--operator-id", devenv.DevOperator, bad})
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
	if err := run(context.Background(), []string{"seed", "--database-url", db.URL, "--audit-key", env.AuditKey, "--operator-id", devenv.DevOperator, good}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, env, `SELECT count(*) FROM agreement_parties WHERE agreement_id = 'pks-rutan-cilacap'`); n != 2 {
		t.Fatalf("good seed wrote %d parties", n)
	}
	// Seeding the same file again changes nothing and succeeds.
	if err := run(context.Background(), []string{"seed", "--database-url", db.URL, "--audit-key", env.AuditKey, "--operator-id", devenv.DevOperator, good}); err != nil {
		t.Fatal(err)
	}
}

// TestSeedAddsOnly: a seed adds what is missing and never overwrites what
// was changed since (a revocation stays revoked, however often `make run`
// seeds the demo directory); one that says something else than the
// registry is refused, naming each difference; it never revokes; and each
// seed is an administrative act, audited with its officer.
func TestSeedAddsOnly(t *testing.T) {
	d := pgtest.Fresh(t)
	env := servertest.Start(t, d, servertest.Options{})
	ctx := context.Background()
	ministry := sinergiv1.NewAgreementServiceClient(env.ConnAs(t, "kemenimipas"))
	admin := &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}
	if _, err := ministry.RevokeAgreement(ctx, &sinergiv1.RevokeAgreementRequest{Access: admin, Id: "pks-2025-kemenimipas-polri-data"}); err != nil {
		t.Fatal(err)
	}
	mabes := sinergiv1.NewInstitutionServiceClient(env.ConnAs(t, "mabes-polri"))
	if _, err := mabes.SetInstitutionStatus(ctx, &sinergiv1.SetInstitutionStatusRequest{Code: "polsek-nusakambangan",
		Status: sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED,
		Access: &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}}); err != nil {
		t.Fatal(err)
	}
	const officer = "197001012000031002"
	seed := func(args ...string) error {
		return run(ctx, append([]string{"seed", "--database-url", d.URL, "--audit-key", env.AuditKey}, args...))
	}

	// `make run` seeds the demo directory at every start: it changes nothing.
	if err := seed("--operator-id", officer, "--demo"); err != nil {
		t.Fatal(err)
	}
	var revoked bool
	var status string
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT revoke_time IS NOT NULL FROM agreements WHERE id = 'pks-2025-kemenimipas-polri-data'`).Scan(&revoked); err != nil || !revoked {
		t.Fatalf("the demo seed un-revoked the data PKS (revoked %v, %v)", revoked, err)
	}
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT status FROM institutions WHERE code = 'polsek-nusakambangan'`).Scan(&status); err != nil || status != "SUSPENDED" {
		t.Fatalf("the demo seed reactivated a suspended unit (%s, %v)", status, err)
	}

	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"changed terms", `
agreements:
  - id: pks-2024-lpka-tenggarong-polres-kukar
    number: "PKS/2024/LPKA-TENGGARONG/POLRES-KUKAR (demo)"
    kind: PKS
    title: Kerja sama keamanan dan ketertiban
    parties: [{institution_code: lpka-tenggarong}, {institution_code: polres-kutai-kartanegara}]
    scopes: [INCIDENT_REPORTS, THREAT_INTELLIGENCE]
    effective: "2024-01-25"
    expires: "2026-01-25"
    signed: "2024-01-25"
    signatories: [Kepala LPKA Kelas II Tenggarong, Kapolres Kutai Kartanegara]
`, []string{"agreements[0] (pks-2024-lpka-tenggarong-polres-kukar): differs from the registered agreement: scopes: registered [INCIDENT_REPORTS], here [INCIDENT_REPORTS, THREAT_INTELLIGENCE]",
			"expires: registered 2025-01-25T00:00:00+07:00, here 2026-01-25T00:00:00+07:00", "nothing written"}},
		{"a renamed institution", `
institutions:
  - {code: polres-metro, name: Polres Metro Lampung, kind: POLRES, region_code: "18.72", parent_code: polda-lampung}
`, []string{`institutions[0] (polres-metro): differs from the registered institution: name: registered "Polres Metro", here "Polres Metro Lampung"`}},
		{"a revocation", `
agreements:
  - id: pks-2026-backdated
    number: "1"
    kind: PKS
    parties: [{institution_code: lapas-metro}, {institution_code: polres-metro}]
    scopes: [TRAINING]
    effective: "2026-01-01"
    revoked: "2026-02-01"
`, []string{"agreements[0] (pks-2026-backdated).revoked: a seed cannot revoke"}},
		{"two police units", `
agreements:
  - id: pks-2026-police-police
    number: "1"
    kind: PKS
    parties: [{institution_code: polres-metro}, {institution_code: polda-lampung}]
    scopes: [TRAINING]
    effective: "2026-01-01"
`, []string{"agreements[0] (pks-2026-police-police).parties: both parties are on the police side"}},
		{"a second ministry", `
institutions:
  - {code: kemenimipas-dua, name: Kementerian Kedua, kind: MINISTRY}
`, []string{"institutions[0] (kemenimipas-dua).kind: the corrections side already has its headquarters, kemenimipas"}},
	} {
		err := seed("--operator-id", officer, write(tc.name+".yaml", tc.body))
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to say %q", tc.name, err, w)
			}
		}
	}
	if err := seed(write("noofficer.yaml", "institutions: []\n")); err == nil || !strings.Contains(err.Error(), "--operator-id") {
		t.Errorf("seed without an officer: %v", err)
	}
	if err := seed("--operator-id", "12345", write("badofficer.yaml", "institutions: []\n")); err == nil || !strings.Contains(err.Error(), "NRP") {
		t.Errorf("seed by no officer: %v", err)
	}

	// A new entry is added, and the seed's audit record names it and the officer.
	before := count(t, env, `SELECT count(*) FROM audit_records WHERE method = 'sinergi:seed'`)
	if err := seed("--operator-id", officer, write("new.yaml", `
institutions:
  - {code: rutan-metro, name: Rutan Metro, kind: RUTAN, region_code: "18.72"}
`)); err != nil {
		t.Fatal(err)
	}
	var subjects []string
	var operator, purpose, decision string
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT subjects, operator_id, purpose, decision FROM audit_records WHERE method = 'sinergi:seed' ORDER BY at DESC, id DESC LIMIT 1`).
		Scan(&subjects, &operator, &purpose, &decision); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(subjects, []string{"institution/rutan-metro"}) || operator != officer || purpose != "ADMINISTRATION" || decision != "ALLOWED" {
		t.Errorf("the seed's audit record: %v by %s for %s (%s)", subjects, operator, purpose, decision)
	}
	if after := count(t, env, `SELECT count(*) FROM audit_records WHERE method = 'sinergi:seed'`); after != before+1 {
		t.Errorf("%d seed records after one seed, want %d: refused seeds write nothing", after, before+1)
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
	// An auditor checks one of Mabes's own calls with the API alone.
	var own int64
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT r.id FROM audit_records r JOIN audit_leaves l ON l.record_id = r.id
		WHERE r.caller_code = 'mabes-polri' ORDER BY l.leaf_index LIMIT 1`).Scan(&own); err != nil {
		t.Fatal(err)
	}
	check := []string{"audit", "check", "--addr", env.Addr(), "--ca", files.CA, "--cert", files.Cert, "--key", files.Key,
		"--log-key", env.Keys(t).VerifierKey(), "--operator-id", "85051234", "--record-id", fmt.Sprint(own)}
	if out := captureStdout(t, func() error { return run(ctx, check) }); !strings.Contains(out, fmt.Sprintf("record %d is in the log", own)) {
		t.Errorf("audit check printed %q", out)
	}
	if err := run(ctx, append(check, "--log-key", "someone+00000000+AQ==")); err == nil {
		t.Error("audit check with a wrong log key succeeded")
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
